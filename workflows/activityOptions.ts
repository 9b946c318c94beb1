import { ActivityFailure, ApplicationFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DATABASE_REJECTED } from '../domain/failures';

/**
 * Final answers: the PSP refused, the status rules forbid the write, or the database refused what it was
 * given. Retrying cannot change them.
 */
const FINAL = ['PspDeclinedError', 'PspInvalidRequestError', 'IllegalTransitionError', DATABASE_REJECTED];

/**
 * Whether an activity failed on one of those final answers: in practice the database refusing a write for
 * good, or a status rule forbidding it (the steps that undo money take the PSP's refusals as answers). Where
 * a checkout or its compensation undoes money, such a step ends that undo with the books as they are: their
 * record then says what is still held, and the compensation tries again, instead of the workflow failing.
 */
export function isRefusedForGood(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && FINAL.includes(error.cause.type ?? '');
}

/**
 * Every activity heartbeats while it runs (activities/attempt.ts): a cancellation reaches the attempt, and
 * an attempt on a worker that died is retried after this long instead of after its whole start-to-close.
 */
const HEARTBEAT_TIMEOUT = '10s';

/**
 * Authorize and capture retry with exponential backoff until a deadline: a PSP that stays down must end
 * in a decision (release the hold, fail the order), not in a checkout that waits forever. What the lost
 * attempts did is then asked of the PSP itself (releaseUnconfirmedAuthorization, resolveUnconfirmedCapture).
 */
export const beforeDeadline = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: FINAL },
  // A release that arrives while an authorization is in flight waits for that attempt to end (it stops at
  // the cancellation), so that the release then sees everything the attempt did.
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
});

/**
 * Everything else retries until it succeeds: database writes (once money moved, the books must follow),
 * and the PSP calls that undo (void, refund), which are idempotent and must finish for the books to be right.
 */
const UNTIL_DONE_RETRY = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: FINAL };

export const untilDone = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: UNTIL_DONE_RETRY,
});

/**
 * Short database writes that no client acts upon (see checkoutWorkflow), run by the worker that runs the
 * workflow task, inside it: one history event each instead of six (an activity's three and the workflow
 * task that hears its result), and no trip through the task queue. Retried until they succeed, like untilDone.
 * Never for PSP calls: those stay activities, visible and retried by the server on any worker.
 */
export const localDatabase = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: UNTIL_DONE_RETRY,
});
