import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/**
 * Calls to the PSP retry with exponential backoff, but only until a deadline: a PSP that stays down must
 * end in a decision (void, fail), not in a checkout that waits forever. The names listed are final
 * failures (the error class name is the failure type).
 */
export const psp = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: ['PspInvalidRequestError', 'IllegalTransitionError'],
  },
});

/**
 * Bookkeeping (database writes) retries until it succeeds: once money has moved, the books must follow.
 * Only a write the status rules forbid is final.
 */
export const books = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '200ms',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    nonRetryableErrorTypes: ['IllegalTransitionError'],
  },
});
