import type { Client } from '@temporalio/client';

/** Whether an activity of this type has been scheduled in a workflow's history (false while it has not started). */
export async function activityScheduled(temporal: Client, workflowId: string, activityType: string): Promise<boolean> {
  const history = await temporal.workflow
    .getHandle(workflowId)
    .fetchHistory()
    .catch(() => undefined);
  return (history?.events ?? []).some((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
}
