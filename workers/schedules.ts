import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';

export const RECONCILIATION_SCHEDULE_ID = 'settle-nightly-reconciliation';

/**
 * The nightly reconciliation: a Temporal Schedule (visible under Schedules in the Web UI) that runs
 * reconciliationWorkflow every day at the given UTC time for the day before. Created when a worker starts;
 * a schedule already there is brought to the configured time and task queue, and keeps its history.
 */
export async function ensureReconciliationSchedule(client: Client, taskQueue: string, time: { hour: number; minute: number }): Promise<void> {
  const spec = { calendars: [{ hour: time.hour, minute: time.minute, comment: 'nightly reconciliation (UTC)' }] };
  const action = { type: 'startWorkflow' as const, workflowType: 'reconciliationWorkflow', args: [{}], taskQueue };
  try {
    await client.schedule.create({
      scheduleId: RECONCILIATION_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
  }
}
