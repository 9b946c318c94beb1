import type { PaymentOrderView } from '../domain/checkout';
import { failureReason, type Failure } from '../domain/failures';
import type { PaymentOrderStatus } from '../domain/status';
import { PAYMENT_ORDER_COLUMNS, paymentOrderView, type PaymentOrderRow } from './checkouts';
import type { Queryable } from './pool';
import { transition } from './transition';

export interface PaymentOrderChange {
  pspReference?: string | null;
  /** Why the order failed, was voided or refunded: recorded with a human reason. */
  failure?: Failure;
  refunded?: number;
  /** A capture's PSP fee. */
  fee?: number;
}

export async function transitionPaymentOrder(
  db: Queryable,
  paymentOrderId: string,
  to: PaymentOrderStatus,
  change: PaymentOrderChange = {},
): Promise<boolean> {
  const set: Record<string, string | number | null> = {};
  if (change.fee !== undefined) set.fee_amount = change.fee;
  if (change.pspReference) set.psp_reference = change.pspReference;
  if (change.failure) {
    set.failure_code = change.failure.code;
    set.failure_message = change.failure.message;
    set.failure_reason = failureReason(change.failure.code);
  }
  if (to === 'SUCCEEDED' && !change.failure && (await bookingOnceRefused(db, paymentOrderId))) {
    // The capture the books refused is booked now: the order succeeded, and that refusal is no longer why
    // anything is wrong with it. Cleared in the booking's own UPDATE, so its event carries the order as it is.
    set.failure_code = null;
    set.failure_message = null;
    set.failure_reason = null;
  }
  return transition(db, {
    entity: 'payment_order',
    id: paymentOrderId,
    to,
    set,
    add: change.refunded ? { refunded_amount: change.refunded } : {},
  });
}

/**
 * Whether the order is AUTHORIZED with `capture_not_booked`: a capture the PSP made that the books refused.
 * Its row is locked, so within the booking's transaction the answer holds for the booking's UPDATE.
 */
async function bookingOnceRefused(db: Queryable, paymentOrderId: string): Promise<boolean> {
  const { rows } = await db.query<{ refused: boolean }>(
    `SELECT status = 'AUTHORIZED' AND failure_code = 'capture_not_booked' AS refused FROM payment_orders WHERE id = $1 FOR UPDATE`,
    [paymentOrderId],
  );
  return rows[0]?.refused === true;
}

/** Marks every order of a checkout that never reached the PSP as canceled. */
export async function cancelPendingPaymentOrders(db: Queryable, paymentOrderIds: string[], failure: Failure): Promise<void> {
  for (const id of paymentOrderIds) await transitionPaymentOrder(db, id, 'CANCELED', { failure });
}

/** A payment order on its own, as the API answers it: its checkout named. */
export type PaymentOrderResource = PaymentOrderView & { checkoutId: string };

export function paymentOrderResources(rows: PaymentOrderRow[]): PaymentOrderResource[] {
  return rows.map((row) => ({ ...paymentOrderView(row), checkoutId: row.checkout_id }));
}

export async function findPaymentOrderView(db: Queryable, paymentOrderId: string): Promise<PaymentOrderResource | undefined> {
  const { rows } = await db.query<PaymentOrderRow>(`SELECT ${PAYMENT_ORDER_COLUMNS} FROM payment_orders WHERE id = $1`, [
    paymentOrderId,
  ]);
  return paymentOrderResources(rows)[0];
}

/**
 * Records on an order the books still have AUTHORIZED why the PSP has its money all the same: it refused
 * to release the hold (`release_refused`), or it captured and the database refused the booking
 * (`capture_not_booked`). The status stays what the books last took; the order's checkout reads the failure
 * into its attention (captured, not held, for `capture_not_booked`). Entering either state is also an event,
 * `payment_order.<code>`, that a person can alert on; a repeat of the same record (an activity's retry, a
 * later round refused again) is not a new event.
 */
export async function recordHeldFailure(db: Queryable, paymentOrderId: string, failure: Failure & { code: HeldFailureCode }): Promise<void> {
  await db.query(
    `WITH before AS (
       SELECT id, failure_code FROM payment_orders WHERE id = $1 AND status = 'AUTHORIZED' FOR UPDATE
     ), changed AS (
       UPDATE payment_orders o SET failure_code = $2, failure_message = $3, failure_reason = $4, updated_at = now()
         FROM before WHERE o.id = before.id
       RETURNING o.*, before.failure_code IS DISTINCT FROM $2 AS entered
     )
     INSERT INTO events (type, checkout_id, payment_order_id, data)
     SELECT 'payment_order.' || $2, checkout_id, id, to_jsonb(changed) - 'entered' FROM changed WHERE entered`,
    [paymentOrderId, failure.code, failure.message, failureReason(failure.code)],
  );
}

/** Why the PSP has the money of an order the books have AUTHORIZED, as a hold it keeps or a capture: each is an event of its own. */
export type HeldFailureCode = 'release_refused' | 'capture_not_booked';
