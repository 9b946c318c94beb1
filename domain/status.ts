/**
 * Statuses and the only transitions allowed between them. Activities check a transition here before they
 * write it.
 */

export const CHECKOUT_STATUSES = [
  'PENDING', // accepted by the API, workflow not yet running
  'PROCESSING', // payment orders are authorizing
  'REQUIRES_CAPTURE', // manual capture: every order authorized, waiting for the capture call
  'CAPTURING', // every order authorized, captures under way
  'SUCCEEDED',
  'PARTIALLY_SUCCEEDED',
  'FAILED',
  'CANCELED',
] as const;
export type CheckoutStatus = (typeof CHECKOUT_STATUSES)[number];

export const PAYMENT_ORDER_STATUSES = [
  'PENDING', // not yet authorized
  'AUTHORIZED', // the PSP holds the funds; nothing has moved
  'SUCCEEDED', // captured, seller's wallet credited, ledger posted
  'FAILED', // declined or failed before any money moved
  'VOIDED', // authorization released; nothing moved
  'CANCELED', // canceled before it was ever authorized
  'PARTIALLY_REFUNDED',
  'REFUNDED',
] as const;
export type PaymentOrderStatus = (typeof PAYMENT_ORDER_STATUSES)[number];

const checkoutTransitions: Record<CheckoutStatus, readonly CheckoutStatus[]> = {
  PENDING: ['PROCESSING', 'CANCELED'],
  PROCESSING: ['REQUIRES_CAPTURE', 'CAPTURING', 'FAILED', 'CANCELED'],
  REQUIRES_CAPTURE: ['CAPTURING', 'FAILED', 'CANCELED'],
  CAPTURING: ['SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED', 'CANCELED'],
  SUCCEEDED: [],
  PARTIALLY_SUCCEEDED: [],
  FAILED: [],
  CANCELED: [],
};

const paymentOrderTransitions: Record<PaymentOrderStatus, readonly PaymentOrderStatus[]> = {
  PENDING: ['AUTHORIZED', 'FAILED', 'CANCELED'],
  AUTHORIZED: ['SUCCEEDED', 'VOIDED', 'FAILED'],
  SUCCEEDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  FAILED: [],
  VOIDED: [],
  CANCELED: [],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  REFUNDED: [],
};

export function isTerminalCheckoutStatus(status: CheckoutStatus): boolean {
  return checkoutTransitions[status].length === 0;
}

export function canTransitionCheckout(from: CheckoutStatus, to: CheckoutStatus): boolean {
  return checkoutTransitions[from].includes(to);
}

export function canTransitionPaymentOrder(from: PaymentOrderStatus, to: PaymentOrderStatus): boolean {
  return paymentOrderTransitions[from].includes(to);
}


/** A write that would break the status rules above; retrying it cannot help. */
export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(entity: string, id: string, from: string, to: string) {
    super(`${entity} ${id} cannot go from ${from} to ${to}`);
  }
}
