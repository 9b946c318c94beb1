import type { CheckoutAttention, PaymentOrderInput } from './checkout';
import type { Failure } from './failures';
import type { RefundReason } from './refund';
import { formatMoney, type Currency } from './money';
import { isTerminalCheckoutStatus, type CheckoutStatus, type PaymentOrderStatus } from './status';

export interface HeldOrder {
  orderId: string;
  status: PaymentOrderStatus;
  amount: number;
  refundedAmount: number;
  currency: Currency;
  /** Why the PSP still holds it: the refused void's or refund's answer. */
  refusal: string | null;
  /** The PSP captured it, but the database refused to book the capture: the order still reads AUTHORIZED. */
  captureNotBooked?: boolean;
}

/**
 * The type of the failure of an activity that found a capture at the PSP (a release that came too late) and
 * whose booking the database refused for good: the order's workflow records it as `capture_not_booked`.
 */
export const CAPTURE_NOT_BOOKED_ERROR = 'CaptureNotBookedError';

const CAPTURED: readonly PaymentOrderStatus[] = ['SUCCEEDED', 'PARTIALLY_REFUNDED'];

/**
 * What an order holds that its checkout's outcome says it should not: a hold left on any finished checkout,
 * or a capture not refunded on one that failed or was canceled.
 */
export function heldBy(checkoutStatus: CheckoutStatus, order: Pick<HeldOrder, 'status' | 'amount' | 'refundedAmount'>): number {
  if (!isTerminalCheckoutStatus(checkoutStatus)) return 0;
  if (order.status === 'AUTHORIZED') return order.amount;
  if ((checkoutStatus === 'FAILED' || checkoutStatus === 'CANCELED') && CAPTURED.includes(order.status)) {
    return order.amount - order.refundedAmount;
  }
  return 0;
}

/** The record a finished checkout carries while the PSP holds money its outcome gave back; null when none. */
export function attentionFor(checkoutStatus: CheckoutStatus, orders: readonly HeldOrder[]): CheckoutAttention | null {
  const holding = orders.map((order) => ({ order, held: heldBy(checkoutStatus, order) })).filter(({ held }) => held > 0);
  if (holding.length === 0) return null;
  const refunds = holding.filter(({ order }) => order.status !== 'AUTHORIZED').length;
  const unbooked = holding.some(({ order }) => order.status === 'AUTHORIZED' && order.captureNotBooked);
  const code = unbooked
    ? 'capture_not_booked'
    : refunds === holding.length
      ? 'refund_refused'
      : refunds === 0
        ? 'release_refused'
        : 'compensation_refused';
  const what = (order: HeldOrder) =>
    order.status !== 'AUTHORIZED' ? 'capture not refunded' : order.captureNotBooked ? 'captured by the PSP, not booked' : 'hold not released';
  const parts = holding.map(
    ({ order, held }) =>
      `${formatMoney({ amount: held, currency: order.currency })} on payment order ${order.orderId} ` +
      `(${what(order)}: ${order.refusal ?? 'the PSP refused'})`,
  );
  return {
    code,
    message: `The PSP still holds ${parts.join('; ')}. Settle retries; retry now with POST /v1/checkouts/<id>/retry-compensation.`,
    heldAmount: holding.reduce((sum, { held }) => sum + held, 0),
  };
}

/** What the workflow that retries a finished checkout's refused compensations works from. */
export interface CompensationInput {
  checkoutId: string;
  orders: PaymentOrderInput[];
  /** Why the money goes back (the checkout failed, or was canceled), and its failure for released holds. */
  reason: RefundReason;
  failure: Failure;
  /** Whether captured orders are to be refunded (a FAILED or CANCELED checkout) or only holds released. */
  refundCaptured: boolean;
}

/** The compensation a finished checkout calls for, from its outcome. */
export function compensationFor(
  checkout: { checkoutId: string; status: CheckoutStatus; failure: Failure | null },
  orders: PaymentOrderInput[],
): CompensationInput {
  return {
    checkoutId: checkout.checkoutId,
    orders,
    reason: checkout.status === 'CANCELED' ? 'checkout_canceled' : 'sibling_failed',
    failure: checkout.failure ?? { code: 'release_refused', message: 'a hold was left after the checkout ended' },
    refundCaptured: checkout.status === 'FAILED' || checkout.status === 'CANCELED',
  };
}
