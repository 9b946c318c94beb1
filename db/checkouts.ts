import type { CheckoutInput, CheckoutView, PaymentOrderView } from '../domain/checkout';
import { failureReason, type Failure } from '../domain/failures';
import { amountFromDb, sumMoney, type Currency } from '../domain/money';
import type { CheckoutStatus, PaymentOrderStatus } from '../domain/status';
import type { Queryable } from './pool';
import { recordCreated, transition } from './transition';

/** Records a checkout and its payment orders; recording the same checkout again changes nothing. */
export async function insertCheckout(db: Queryable, input: CheckoutInput, status: CheckoutStatus): Promise<void> {
  const total = sumMoney(input.currency, input.orders.map((order) => order.amount));
  const inserted = await db.query(
    `INSERT INTO checkouts (id, customer_id, currency, total_amount, capture_mode, allow_partial, authorization_window_ms, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [input.checkoutId, input.customerId, input.currency, total.amount, input.capture, input.allowPartial, input.authorizationWindowMs, status],
  );
  if (inserted.rowCount === 0) return;
  await db.query(
    `INSERT INTO payment_orders (id, checkout_id, position, seller_id, amount, currency, payment_method, status)
     SELECT o.id, $1, o.position, o.seller_id, o.amount, $2, o.payment_method, 'PENDING'
       FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[])
            WITH ORDINALITY AS o(id, seller_id, amount, payment_method, position)`,
    [
      input.checkoutId,
      input.currency,
      input.orders.map((order) => order.paymentOrderId),
      input.orders.map((order) => order.sellerId),
      input.orders.map((order) => order.amount),
      input.orders.map((order) => order.paymentMethod),
    ],
  );
  await recordCreated(db, 'checkout', input.checkoutId);
}

export function transitionCheckout(db: Queryable, checkoutId: string, to: CheckoutStatus, failure?: Failure): Promise<boolean> {
  return transition(db, {
    entity: 'checkout',
    id: checkoutId,
    to,
    set: failure ? { failure_code: failure.code, failure_reason: failure.message } : {},
  });
}

interface CheckoutRow {
  id: string;
  customer_id: string;
  currency: Currency;
  total_amount: string;
  capture_mode: CheckoutView['capture'];
  allow_partial: boolean;
  status: CheckoutStatus;
  failure_code: string | null;
  failure_reason: string | null;
}

export interface PaymentOrderRow {
  id: string;
  checkout_id: string;
  seller_id: string;
  amount: string;
  currency: Currency;
  status: PaymentOrderStatus;
  psp_reference: string | null;
  fee_amount: string;
  refunded_amount: string;
  failure_code: string | null;
  failure_message: string | null;
  failure_reason: string | null;
}

export const PAYMENT_ORDER_COLUMNS = `id, checkout_id, seller_id, amount, currency, status, psp_reference, fee_amount, refunded_amount,
  failure_code, failure_message, failure_reason`;

export function paymentOrderView(row: PaymentOrderRow): PaymentOrderView {
  return {
    orderId: row.id,
    sellerId: row.seller_id,
    amount: amountFromDb(row.amount),
    currency: row.currency,
    status: row.status,
    pspReference: row.psp_reference,
    feeAmount: amountFromDb(row.fee_amount),
    refundedAmount: amountFromDb(row.refunded_amount),
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    failureReason: row.failure_reason,
  };
}

export async function findCheckoutView(db: Queryable, checkoutId: string): Promise<CheckoutView | undefined> {
  const { rows } = await db.query<CheckoutRow>(
    `SELECT id, customer_id, currency, total_amount, capture_mode, allow_partial, status, failure_code, failure_reason
       FROM checkouts WHERE id = $1`,
    [checkoutId],
  );
  const checkout = rows[0];
  if (!checkout) return undefined;
  const orders = await db.query<PaymentOrderRow>(
    `SELECT ${PAYMENT_ORDER_COLUMNS} FROM payment_orders WHERE checkout_id = $1 ORDER BY position`,
    [checkoutId],
  );
  return {
    checkoutId: checkout.id,
    status: checkout.status,
    customerId: checkout.customer_id,
    currency: checkout.currency,
    totalAmount: amountFromDb(checkout.total_amount),
    capture: checkout.capture_mode,
    allowPartial: checkout.allow_partial,
    failureCode: checkout.failure_code,
    failureReason: checkout.failure_reason ?? (checkout.failure_code ? failureReason(checkout.failure_code) : null),
    orders: orders.rows.map(paymentOrderView),
  };
}
