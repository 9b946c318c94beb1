import { ApplicationFailure, Context } from '@temporalio/activity';
import { DATABASE_REJECTED } from '../domain/failures';

/** Stop this long before the server's start-to-close deadline, so a commit cannot land after it. */
const DEADLINE_MARGIN_MS = 2_000;
const HEARTBEAT_EVERY_MS = 2_000;

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (a script or a unit test)
  }
}

/**
 * Runs a PSP call inside the current activity attempt's bounds: the call gets a signal that aborts when the
 * attempt is cancelled or its deadline is near, and the PSP adapters send and commit nothing once it has
 * aborted. An attempt Temporal gave up on therefore cannot act afterwards, so what a release path finds at
 * the PSP after the attempt ended is all there will be.
 */
export async function withinAttempt<T>(call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  const context = currentContext();
  if (!context) return call(undefined);
  // The attempt's own deadline, or the activity's as a whole (schedule-to-close) if that comes first: the
  // server gives the last attempt its full start-to-close, and the SDK does not stop it at the other.
  const { startToCloseTimeoutMs, currentAttemptScheduledTimestampMs, scheduleToCloseTimeoutMs, scheduledTimestampMs } = context.info;
  const deadlines = [currentAttemptScheduledTimestampMs + startToCloseTimeoutMs];
  if (scheduleToCloseTimeoutMs > 0) deadlines.push(scheduledTimestampMs + scheduleToCloseTimeoutMs);
  const remaining = Math.min(...deadlines) - DEADLINE_MARGIN_MS - Date.now();
  const bound = new AbortController();
  const onCancel = () => bound.abort(context.cancellationSignal.reason ?? new Error('the activity attempt was cancelled'));
  if (context.cancellationSignal.aborted) onCancel();
  context.cancellationSignal.addEventListener('abort', onCancel);
  const deadline = setTimeout(() => bound.abort(new Error('the activity attempt reached its deadline')), Math.max(0, remaining));
  try {
    return await call(bound.signal);
  } finally {
    clearTimeout(deadline);
    context.cancellationSignal.removeEventListener('abort', onCancel);
  }
}

/**
 * PostgreSQL error classes that repeat identically however often the statement is retried: 22 (data
 * exception: a NUL byte, a value out of range) and 23 (integrity constraint violation). Everything else
 * (connections, serialization failures, timeouts) may pass on a retry. A write that two attempts may make at
 * once must therefore not raise a class-23 error on losing the race: inserts that take an existing row as done
 * name no conflict target (test/concurrentInserts.test.ts holds every one to that).
 */
export function isDeterministicDatabaseError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(code);
}

/**
 * What every Settle activity does around its work: it heartbeats while it runs (so a cancellation reaches
 * it, and an attempt on a worker that died is retried after the heartbeat timeout rather than its whole
 * start-to-close), and a database refusal that cannot change on a retry fails it for good, named, instead of
 * being retried forever: the workflow then decides, and the failure shows in its history and the Web UI.
 */
export function asActivities<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [
      name,
      async (...args: never[]) => {
        const context = currentContext();
        // A local activity has no heartbeat: it lives inside its workflow task, which its worker keeps alive.
        const heartbeat = context && !context.info.isLocal && setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
        try {
          return await activity(...args);
        } catch (error) {
          if (!isDeterministicDatabaseError(error)) throw error;
          throw ApplicationFailure.create({
            type: DATABASE_REJECTED,
            message: `${name}: the database refused the write (${error.code}): ${error.message}`,
            nonRetryable: true,
            cause: error,
          });
        } finally {
          if (heartbeat) clearInterval(heartbeat);
        }
      },
    ]),
  ) as T;
}
