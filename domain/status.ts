/**
 * Statuses and the only transitions allowed between them. Activities check a transition here before they
 * write it, and the database refuses any other (status_transitions, kept equal to these tables by a test).
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
  // PENDING -> VOIDED: an authorization whose answer was lost, found at the PSP afterwards and released.
  PENDING: ['AUTHORIZED', 'FAILED', 'CANCELED', 'VOIDED'],
  AUTHORIZED: ['SUCCEEDED', 'VOIDED', 'FAILED'],
  SUCCEEDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  FAILED: [],
  VOIDED: [],
  CANCELED: [],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  REFUNDED: [],
};

export const REFUND_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

const refundTransitions: Record<RefundStatus, readonly RefundStatus[]> = {
  PENDING: ['SUCCEEDED', 'FAILED'],
  SUCCEEDED: [],
  FAILED: [],
};

export function canTransitionRefund(from: RefundStatus, to: RefundStatus): boolean {
  return refundTransitions[from].includes(to);
}

export type StatusEntity = 'checkout' | 'payment_order' | 'refund';

/** Every allowed (from, to) pair of an entity, as the database's status_transitions table holds them. */
export function allowedTransitions(entity: StatusEntity): Array<[string, string]> {
  const table: Record<string, readonly string[]> =
    entity === 'checkout' ? checkoutTransitions : entity === 'payment_order' ? paymentOrderTransitions : refundTransitions;
  return Object.entries(table).flatMap(([from, tos]) => tos.map((to): [string, string] => [from, to]));
}

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
