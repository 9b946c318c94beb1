import type { Failure } from '../domain/failures';
import type { RefundInput, RefundReason } from '../domain/refund';
import type { RefundStatus } from '../domain/status';
import { untilDone } from './activityOptions';

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

/** A compensation: refunds whatever is left of a captured order. */
export async function refundPaymentOrder(paymentOrderId: string, reason: RefundReason): Promise<void> {
  const refund = await untilDone.reserveCompensationRefund(paymentOrderId, reason);
  if (refund) await runRefund(refund, reason);
}

/** A refund the API accepted (and reserved): one workflow per refund, `refund-<refundId>`. */
export async function refundWorkflow(refund: RefundInput, reason: RefundReason): Promise<{ status: RefundStatus; failure?: Failure }> {
  return runRefund(refund, reason);
}
