/**
 * Ids are functions of the domain: anyone holding a checkout or payment order id, the Temporal CLI included,
 * can name its workflow without asking Settle.
 */

export const CHECKOUT_ID_PREFIX = 'chk_';
export const PAYMENT_ORDER_ID_PREFIX = 'po_';

const ID_BODY = /^[0-9a-f]{32}$/;

export function isCheckoutId(value: string): boolean {
  return value.startsWith(CHECKOUT_ID_PREFIX) && ID_BODY.test(value.slice(CHECKOUT_ID_PREFIX.length));
}

export function isPaymentOrderId(value: string): boolean {
  return value.startsWith(PAYMENT_ORDER_ID_PREFIX) && ID_BODY.test(value.slice(PAYMENT_ORDER_ID_PREFIX.length));
}

export function checkoutWorkflowId(checkoutId: string): string {
  return `checkout-${checkoutId}`;
}

export function paymentOrderWorkflowId(paymentOrderId: string): string {
  return `payment-order-${paymentOrderId}`;
}

/** Sellers and customers are named by the platform; the id is embedded in ledger account names, so no ':' . */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** The workflow that retries a finished checkout's refused compensations (see workflows/compensation.ts). */
export function compensationWorkflowId(checkoutId: string): string {
  return `compensation-${checkoutId}`;
}
