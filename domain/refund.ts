import type { Currency } from './money';
import type { RefundStatus } from './status';

export const REFUND_ID_PREFIX = 're_';

export type RefundReason = 'requested_by_customer' | 'sibling_failed' | 'checkout_canceled';

/** What a refund workflow or a compensation works on. */
export interface RefundInput {
  refundId: string;
  paymentOrderId: string;
  checkoutId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
  pspReference: string;
}

export interface RefundView {
  refundId: string;
  paymentOrderId: string;
  checkoutId: string;
  amount: number;
  currency: Currency;
  reason: RefundReason;
  status: RefundStatus;
  pspReference: string | null;
  failureCode: string | null;
  failureMessage: string | null;
}

/**
 * A compensation's first refund of a payment order has an id that is a function of the order's, so that the
 * first attempt is made at most once whatever retries. Later rounds (after a refusal) get ids of their own.
 */
export function compensationRefundId(paymentOrderId: string): string {
  return `${REFUND_ID_PREFIX}comp_${paymentOrderId}`;
}

const REFUND_ID = /^re_([0-9a-f]{32}|comp_po_[0-9a-f]{32})$/;

export function isRefundId(value: string): boolean {
  return REFUND_ID.test(value);
}

export function refundWorkflowId(refundId: string): string {
  return `refund-${refundId}`;
}
