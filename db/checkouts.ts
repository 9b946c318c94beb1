import { attentionFor } from '../domain/attention';
import type { CheckoutAttention, CheckoutInput, CheckoutView, PaymentOrderInput, PaymentOrderView } from '../domain/checkout';
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

export interface CheckoutRow {
  id: string;
  customer_id: string;
  currency: Currency;
  total_amount: string;
  capture_mode: CheckoutView['capture'];
  allow_partial: boolean;
  status: CheckoutStatus;
  failure_code: string | null;
  failure_reason: string | null;
  held_amount: string;
  attention_code: string | null;
  attention_message: string | null;
}

export const CHECKOUT_COLUMNS = `id, customer_id, currency, total_amount, capture_mode, allow_partial, status, failure_code, failure_reason,
  held_amount, attention_code, attention_message`;

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
  const { rows } = await db.query<CheckoutRow>(`SELECT ${CHECKOUT_COLUMNS} FROM checkouts WHERE id = $1`, [checkoutId]);
  return (await checkoutViews(db, rows))[0];
}

/** The views of checkout rows, in their order, with their payment orders read in one query for the lot. */
export async function checkoutViews(db: Queryable, checkouts: CheckoutRow[]): Promise<CheckoutView[]> {
  if (checkouts.length === 0) return [];
  const orders = await db.query<PaymentOrderRow>(
    `SELECT ${PAYMENT_ORDER_COLUMNS} FROM payment_orders WHERE checkout_id = ANY($1::text[]) ORDER BY checkout_id, position`,
    [checkouts.map((checkout) => checkout.id)],
  );
  const ordersOf = new Map<string, PaymentOrderView[]>();
  for (const row of orders.rows) {
    const list = ordersOf.get(row.checkout_id) ?? [];
    list.push(paymentOrderView(row));
    ordersOf.set(row.checkout_id, list);
  }
  return checkouts.map((checkout) => ({
    checkoutId: checkout.id,
    status: checkout.status,
    customerId: checkout.customer_id,
    currency: checkout.currency,
    totalAmount: amountFromDb(checkout.total_amount),
    capture: checkout.capture_mode,
    allowPartial: checkout.allow_partial,
    failureCode: checkout.failure_code,
    failureReason: checkout.failure_reason ?? (checkout.failure_code ? failureReason(checkout.failure_code) : null),
    attention: checkout.attention_code
      ? { code: checkout.attention_code, message: checkout.attention_message ?? '', heldAmount: amountFromDb(checkout.held_amount) }
      : null,
    orders: ordersOf.get(checkout.id) ?? [],
  }));
}

/**
 * Works out from the orders what a checkout still holds that its outcome gave back (see domain/attention.ts)
 * and records it, with an event when it changes: `checkout.attention_required` (alert on it) or
 * `checkout.attention_resolved`. Run in the transaction that changed the orders or the checkout's status.
 */
export async function recordAttention(tx: Queryable, checkoutId: string): Promise<CheckoutAttention | null> {
  const { rows } = await tx.query<{
    status: CheckoutStatus;
    held_amount: string;
    attention_code: string | null;
    attention_message: string | null;
  }>('SELECT status, held_amount, attention_code, attention_message FROM checkouts WHERE id = $1 FOR UPDATE', [checkoutId]);
  const checkout = rows[0];
  if (!checkout) throw new Error(`checkout ${checkoutId} does not exist`);
  const orders = await tx.query<{
    id: string;
    status: PaymentOrderStatus;
    amount: string;
    refunded_amount: string;
    currency: Currency;
    refusal: string | null;
    failure_code: string | null;
  }>(
    `SELECT o.id, o.status, o.amount, o.refunded_amount, o.currency, o.failure_code,
            CASE WHEN o.status = 'AUTHORIZED' THEN o.failure_message
                 ELSE (SELECT r.failure_message FROM refunds r WHERE r.payment_order_id = o.id AND r.status = 'FAILED'
                        ORDER BY r.updated_at DESC LIMIT 1) END AS refusal
       FROM payment_orders o WHERE o.checkout_id = $1 ORDER BY o.position`,
    [checkoutId],
  );
  const attention = attentionFor(
    checkout.status,
    orders.rows.map((row) => ({
      orderId: row.id,
      status: row.status,
      amount: amountFromDb(row.amount),
      refundedAmount: amountFromDb(row.refunded_amount),
      currency: row.currency,
      refusal: row.refusal,
      captureNotBooked: row.failure_code === 'capture_not_booked',
    })),
  );
  const unchanged =
    (attention?.code ?? null) === checkout.attention_code &&
    (attention?.heldAmount ?? 0) === amountFromDb(checkout.held_amount) &&
    (attention?.message ?? null) === checkout.attention_message;
  if (unchanged) return attention;
  await tx.query(
    `WITH changed AS (
       UPDATE checkouts SET held_amount = $2, attention_code = $3, attention_message = $4, updated_at = now() WHERE id = $1 RETURNING *
     )
     INSERT INTO events (type, checkout_id, data) SELECT $5, id, to_jsonb(changed) FROM changed`,
    [
      checkoutId,
      attention?.heldAmount ?? 0,
      attention?.code ?? null,
      attention?.message ?? null,
      attention ? 'checkout.attention_required' : 'checkout.attention_resolved',
    ],
  );
  return attention;
}

/** A finished checkout's orders as its workflow was given them, for a compensation started again by the API. */
export async function findPaymentOrderInputs(db: Queryable, checkoutId: string): Promise<PaymentOrderInput[]> {
  const { rows } = await db.query(
    'SELECT id, checkout_id, seller_id, amount, currency, payment_method FROM payment_orders WHERE checkout_id = $1 ORDER BY position',
    [checkoutId],
  );
  return rows.map((row) => ({
    paymentOrderId: row.id,
    checkoutId: row.checkout_id,
    sellerId: row.seller_id,
    amount: amountFromDb(row.amount),
    currency: row.currency,
    paymentMethod: row.payment_method,
  }));
}
