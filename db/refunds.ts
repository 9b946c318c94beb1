import type { Failure } from '../domain/failures';
import { amountFromDb, type Currency } from '../domain/money';
import type { RefundInput, RefundReason, RefundView } from '../domain/refund';
import type { RefundStatus } from '../domain/status';
import type { Queryable } from './pool';
import { recordCreated, transition } from './transition';

export type RefundReservation =
  | { kind: 'reserved'; refund: RefundInput }
  | { kind: 'exists'; refund: RefundInput; status: RefundStatus }
  | { kind: 'not_refundable'; status: string }
  | { kind: 'exceeds_remaining'; remaining: number };

/**
 * Accepts a refund of a captured payment order and holds its amount (status PENDING) so that refunds running
 * side by side never add up to more than was captured. `amount: 'remaining'` refunds whatever is left (a
 * compensation). The same refund id reserved again answers the refund already there.
 * Run inside a transaction: the order row is locked while the remaining amount is worked out.
 */
export async function reserveRefund(
  tx: Queryable,
  request: { refundId: string; paymentOrderId: string; amount: number | 'remaining'; reason: RefundReason },
): Promise<RefundReservation> {
  const { rows } = await tx.query<{
    checkout_id: string;
    seller_id: string;
    amount: string;
    currency: Currency;
    status: string;
    psp_reference: string | null;
  }>('SELECT checkout_id, seller_id, amount, currency, status, psp_reference FROM payment_orders WHERE id = $1 FOR UPDATE', [
    request.paymentOrderId,
  ]);
  const order = rows[0];
  if (!order) throw new Error(`payment order ${request.paymentOrderId} does not exist`);
  const existing = await tx.query<{ amount: string; status: RefundStatus }>('SELECT amount, status FROM refunds WHERE id = $1', [
    request.refundId,
  ]);
  const input = (amount: number): RefundInput => ({
    refundId: request.refundId,
    paymentOrderId: request.paymentOrderId,
    checkoutId: order.checkout_id,
    sellerId: order.seller_id,
    amount,
    currency: order.currency,
    pspReference: order.psp_reference!,
  });
  if (existing.rows[0]) return { kind: 'exists', refund: input(amountFromDb(existing.rows[0].amount)), status: existing.rows[0].status };
  if (order.status !== 'SUCCEEDED' && order.status !== 'PARTIALLY_REFUNDED') return { kind: 'not_refundable', status: order.status };

  const held = await tx.query<{ total: string }>(
    `SELECT coalesce(sum(amount), 0) AS total FROM refunds WHERE payment_order_id = $1 AND status <> 'FAILED'`,
    [request.paymentOrderId],
  );
  const remaining = amountFromDb(order.amount) - amountFromDb(held.rows[0]!.total);
  const amount = request.amount === 'remaining' ? remaining : request.amount;
  if (amount <= 0 || amount > remaining) return { kind: 'exceeds_remaining', remaining };

  await tx.query(
    `INSERT INTO refunds (id, payment_order_id, checkout_id, amount, currency, reason, status) VALUES ($1, $2, $3, $4, $5, $6, 'PENDING')`,
    [request.refundId, request.paymentOrderId, order.checkout_id, amount, order.currency, request.reason],
  );
  await recordCreated(tx, 'refund', request.refundId);
  return { kind: 'reserved', refund: input(amount) };
}

export function transitionRefund(
  db: Queryable,
  refundId: string,
  to: RefundStatus,
  change: { pspReference?: string; failure?: Failure } = {},
): Promise<boolean> {
  return transition(db, {
    entity: 'refund',
    id: refundId,
    to,
    set: {
      ...(change.pspReference ? { psp_reference: change.pspReference } : {}),
      ...(change.failure ? { failure_code: change.failure.code, failure_message: change.failure.message } : {}),
    },
  });
}

export interface RefundRow {
  id: string;
  payment_order_id: string;
  checkout_id: string;
  amount: string;
  currency: Currency;
  reason: RefundReason;
  status: RefundStatus;
  psp_reference: string | null;
  failure_code: string | null;
  failure_message: string | null;
}

export const REFUND_COLUMNS = 'id, payment_order_id, checkout_id, amount, currency, reason, status, psp_reference, failure_code, failure_message';

export function refundViews(rows: RefundRow[]): RefundView[] {
  return rows.map((row) => ({
    refundId: row.id,
    paymentOrderId: row.payment_order_id,
    checkoutId: row.checkout_id,
    amount: amountFromDb(row.amount),
    currency: row.currency,
    reason: row.reason,
    status: row.status,
    pspReference: row.psp_reference,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
  }));
}

export async function findRefundView(db: Queryable, refundId: string): Promise<RefundView | undefined> {
  const { rows } = await db.query<RefundRow>(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE id = $1`, [refundId]);
  return refundViews(rows)[0];
}

/** The refunds of a payment order that are accepted and not yet answered by the PSP, with their reasons. */
export async function refundsInFlight(db: Queryable, paymentOrderId: string): Promise<Array<{ refund: RefundInput; reason: RefundReason }>> {
  const { rows } = await db.query(
    `SELECT r.id, r.amount, r.reason, o.checkout_id, o.seller_id, o.currency, o.psp_reference
       FROM refunds r JOIN payment_orders o ON o.id = r.payment_order_id
      WHERE r.payment_order_id = $1 AND r.status = 'PENDING' ORDER BY r.created_at`,
    [paymentOrderId],
  );
  return rows.map((row) => ({
    refund: {
      refundId: row.id,
      paymentOrderId,
      checkoutId: row.checkout_id,
      sellerId: row.seller_id,
      amount: amountFromDb(row.amount),
      currency: row.currency,
      pspReference: row.psp_reference,
    },
    reason: row.reason,
  }));
}
