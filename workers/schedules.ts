import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';

export const RECONCILIATION_SCHEDULE_ID = 'settle-nightly-reconciliation';

/**
 * Each run reconciles its own day (the day before its scheduled time), under its own id, and reads the ledger
 * only: runs never get in each other's way. So every night starts its run, whatever the night before is still
 * doing (a skipped night would go unreconciled, silently), and nights missed while the cluster was down are
 * caught up for a week.
 */
export const RECONCILIATION_POLICIES = { overlap: 'ALLOW_ALL', catchupWindow: '7 days' } as const satisfies ScheduleOptions['policies'];

/** A run still going after this has stopped making progress: it ends, timed out, for all to see. */
export const RECONCILIATION_EXECUTION_TIMEOUT = '12 hours';

/**
 * The nightly reconciliation: a Temporal Schedule (visible under Schedules in the Web UI) that runs
 * reconciliationWorkflow every day at the given UTC time for the day before. Created when a worker starts;
 * a schedule already there is brought to the configured time, task queue and policies, and keeps its history.
 */
export async function ensureReconciliationSchedule(client: Client, taskQueue: string, time: { hour: number; minute: number }): Promise<void> {
  const spec = { calendars: [{ hour: time.hour, minute: time.minute, comment: 'nightly reconciliation (UTC)' }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reconciliationWorkflow',
    args: [{}],
    taskQueue,
    workflowExecutionTimeout: RECONCILIATION_EXECUTION_TIMEOUT,
  };
  try {
    await client.schedule.create({ scheduleId: RECONCILIATION_SCHEDULE_ID, spec, action, policies: RECONCILIATION_POLICIES });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule
      .getHandle(RECONCILIATION_SCHEDULE_ID)
      .update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, ...RECONCILIATION_POLICIES } }));
  }
}
