import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { patched, sleep, startChild, uuid4 } from '@temporalio/workflow';
import type { Failure } from '../domain/failures';
import { REFUND_ID_PREFIX, refundWorkflowId, type RefundInput, type RefundReason } from '../domain/refund';
import type { RefundStatus } from '../domain/status';
import { isRefusedForGood, untilDone } from './activityOptions';

/** While another refund of the order is in flight, a compensation looks again after these waits. */
const FIRST_LOOK_MS = 2_000;
const LONGEST_LOOK_MS = 10 * 60_000; // a refund that stays unanswered for days must not fill the history
/** patched() id: a compensation refund whose write the books refuse for good answers 'refused'. */
const REFUND_REFUSED_BY_BOOKS = 'compensation-refund-refused-for-good';
/** patched() id: a refund a compensation runs again is waited for; failing again, it ends the round. */
const RESTARTED_REFUND_AWAITED = 'compensation-restarted-refund-awaited';

/**
 * Gives money back for a captured payment order: refund at the PSP, then in one database transaction debit
 * the seller's wallet and post the ledger reversal. A refund the PSP refuses releases its reserved amount.
 */
export async function runRefund(refund: RefundInput, reason: RefundReason): Promise<{ status: RefundStatus; failure?: Failure }> {
  const atPsp = await untilDone.refundAtPsp(refund);
  if (atPsp.outcome === 'failed') {
    await untilDone.failRefund(refund.refundId, atPsp.failure);
    return { status: 'FAILED', failure: atPsp.failure };
  }
  await untilDone.recordRefund(refund, atPsp.pspReference!, reason);
  return { status: 'SUCCEEDED' };
}

/** A new refund id, named by the workflow so that a retried reservation finds the same refund. */
function nextRefundId(): string {
  return REFUND_ID_PREFIX + uuid4().replace(/-/g, '');
}

/**
 * A compensation: refunds whatever is left of a captured order, round after round, until nothing is left.
 * Refunds still in flight (a customer's partial refund, say) are waited for: if one is refused, what it held
 * is refunded too. Answers 'refused' when the PSP refuses, leaving the rest to the checkout's record and the
 * compensation's retries. `refundId` names the first round; by default the order's fixed compensation id.
 * A step the books refuse for good (a refund the PSP made that they will not record, say) answers 'refused'
 * too: the record, read from the books, still counts the money as not given back, and the compensation's
 * next round takes up the refund left PENDING, under the same idempotency key at the PSP.
 */
export async function refundPaymentOrder(
  paymentOrderId: string,
  reason: RefundReason,
  refundId?: string,
): Promise<'refunded' | 'refused'> {
  try {
    return await refundRounds(paymentOrderId, reason, refundId);
  } catch (error) {
    if (isRefusedForGood(error) && patched(REFUND_REFUSED_BY_BOOKS)) return 'refused';
    throw error;
  }
}

async function refundRounds(
  paymentOrderId: string,
  reason: RefundReason,
  refundId?: string,
): Promise<'refunded' | 'refused'> {
  let id = refundId;
  for (let wait = FIRST_LOOK_MS; ; ) {
    const next = await untilDone.reserveCompensationRefund(paymentOrderId, reason, id);
    id = nextRefundId();
    if (next.refund) {
      if ((await runRefund(next.refund, reason)).status === 'FAILED') return 'refused';
      continue;
    }
    if (next.idTaken) continue;
    if (next.refundsInFlight.length === 0) return 'refunded';
    // A refund accepted by the API whose workflow is not running (its start failed and was never retried,
    // or it was terminated) would be waited on for ever: run it again. The PSP call repeats under the
    // same idempotency key, so a refund already made is not made twice. One still running is left be.
    /** Whether each refund run again here failed again (never rejects: the old path below does not wait for it). */
    const restarted: Array<Promise<boolean>> = [];
    for (const inFlight of next.refundsInFlight) {
      const child = await startChild(refundWorkflow, {
        workflowId: refundWorkflowId(inFlight.refund.refundId),
        args: [inFlight.refund, inFlight.reason],
        parentClosePolicy: 'ABANDON',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      }).catch((error: unknown) => {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        return undefined;
      });
      if (child) restarted.push(child.result().then(() => false, () => true));
    }
    // A refund run again is waited for. Should it fail again (the books refusing its record for good), this
    // answers 'refused' rather than starting it again and again: the compensation's next round does.
    if (restarted.length > 0 && patched(RESTARTED_REFUND_AWAITED)) {
      if ((await Promise.all(restarted)).some((failedAgain) => failedAgain)) return 'refused';
      continue;
    }
    await sleep(wait);
    wait = Math.min(wait * 2, LONGEST_LOOK_MS);
  }
}

/** A refund the API accepted (and reserved): one workflow per refund, `refund-<refundId>`. */
export async function refundWorkflow(refund: RefundInput, reason: RefundReason): Promise<{ status: RefundStatus; failure?: Failure }> {
  return runRefund(refund, reason);
}
