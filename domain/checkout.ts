import type { Currency } from './money';
import type { CheckoutRequest } from './checkoutRequest';
import type { CheckoutStatus, PaymentOrderStatus } from './status';

/** What the checkout workflow is started with: the validated request plus the ids the API chose. */
export interface CheckoutInput {
  checkoutId: string;
  customerId: string;
  currency: Currency;
  capture: CheckoutRequest['capture'];
  /** Capture the orders that authorized even if others were declined (PARTIALLY_SUCCEEDED). */
  allowPartial: boolean;
  /** Manual capture: how long the checkout waits for the capture call before it voids everything. */
  authorizationWindowMs: number;
  orders: PaymentOrderInput[];
}

export interface PaymentOrderInput {
  paymentOrderId: string;
  checkoutId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
  paymentMethod: string;
  /** Set by the checkout that starts it: the order takes a capture only from that checkout (it names itself). */
  captureFromCheckoutOnly?: boolean;
}

export interface PaymentOrderView {
  orderId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
  status: PaymentOrderStatus;
  pspReference: string | null;
  /** The PSP's fee on the capture (the seller is owed the gross amount; the platform bears the fee). */
  feeAmount: number;
  refundedAmount: number;
  failureCode: string | null;
  failureMessage: string | null;
  failureReason: string | null;
}

export interface CheckoutView {
  checkoutId: string;
  status: CheckoutStatus;
  customerId: string;
  currency: Currency;
  totalAmount: number;
  capture: CheckoutRequest['capture'];
  allowPartial: boolean;
  failureCode: string | null;
  failureReason: string | null;
  /** Money the PSP still holds that the outcome says it should not, and why; null when there is none. */
  attention: CheckoutAttention | null;
  orders: PaymentOrderView[];
}

export interface CheckoutAttention {
  /** refund_refused, release_refused, or compensation_refused when both. */
  code: string;
  message: string;
  /** Minor units still captured (and not refunded) or still authorized, summed over the orders that hold them. */
  heldAmount: number;
}

/** How a payment order looks before anything has happened to it. */
export function pendingPaymentOrderView(order: PaymentOrderInput): PaymentOrderView {
  return {
    orderId: order.paymentOrderId,
    sellerId: order.sellerId,
    amount: order.amount,
    currency: order.currency,
    status: 'PENDING',
    pspReference: null,
    feeAmount: 0,
    refundedAmount: 0,
    failureCode: null,
    failureMessage: null,
    failureReason: null,
  };
}
