import type { Currency } from './money';
import type { CheckoutRequest } from './checkoutRequest';
import type { CheckoutStatus, PaymentOrderStatus } from './status';

/** What the checkout workflow is started with: the validated request plus the ids the API chose. */
export interface CheckoutInput {
  checkoutId: string;
  customerId: string;
  currency: Currency;
  capture: CheckoutRequest['capture'];
  orders: PaymentOrderInput[];
}

export interface PaymentOrderInput {
  paymentOrderId: string;
  checkoutId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
  paymentMethod: string;
}

export interface PaymentOrderView {
  orderId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
  status: PaymentOrderStatus;
  pspReference: string | null;
}

export interface CheckoutView {
  checkoutId: string;
  status: CheckoutStatus;
  customerId: string;
  currency: Currency;
  totalAmount: number;
  orders: PaymentOrderView[];
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
  };
}
