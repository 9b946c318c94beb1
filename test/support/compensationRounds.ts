import { compensationWorkflowId } from '../../domain/ids';
import { eventually, type TestSettle } from './settle';

/** How many rounds of a checkout's compensation have ended: each ends with a completed refreshAttention. */
export async function compensationRoundsEnded(settle: TestSettle, checkoutId: string): Promise<number> {
  const history = await settle.temporal.workflow
    .getHandle(compensationWorkflowId(checkoutId))
    .fetchHistory()
    .catch(() => undefined);
  const events = history?.events ?? [];
  const scheduled = new Set(
    events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'refreshAttention').map((event) => String(event.eventId)),
  );
  return events.filter((event) => scheduled.has(String(event.activityTaskCompletedEventAttributes?.scheduledEventId))).length;
}

/**
 * Asks the checkout's compensation to retry now (the API's retry-compensation, 202) and waits for that round
 * to end, or the workflow to close; answers whether it did within the time.
 */
export async function retryCompensationRound(settle: TestSettle, checkoutId: string, withinMs = 60_000): Promise<boolean> {
  const compensation = settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId));
  const before = await compensationRoundsEnded(settle, checkoutId);
  expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
  return eventually(
    'the compensation round to end',
    async () => (await compensation.describe()).status.name !== 'RUNNING' || (await compensationRoundsEnded(settle, checkoutId)) > before,
    withinMs,
  ).then(
    () => true,
    () => false,
  );
}
