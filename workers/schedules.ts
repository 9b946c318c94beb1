import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';

export const RECONCILIATION_SCHEDULE_ID = 'settle-nightly-reconciliation';

/**
 * The nightly reconciliation: a Temporal Schedule (visible under Schedules in the Web UI) that runs
 * reconciliationWorkflow every day at the given UTC time for the day before. Created when a worker starts;
 * a schedule already there is updated to the configured time, so starting again changes nothing else.
 */
export async function ensureReconciliationSchedule(client: Client, taskQueue: string, time: { hour: number; minute: number }): Promise<void> {
  const spec = { calendars: [{ hour: time.hour, minute: time.minute, comment: 'nightly reconciliation (UTC)' }] };
  try {
    await client.schedule.create({
      scheduleId: RECONCILIATION_SCHEDULE_ID,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: 'reconciliationWorkflow',
        args: [{}],
        taskQueue,
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID).update((previous) => ({ ...previous, spec }));
  }
}
