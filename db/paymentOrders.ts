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

export function transitionPaymentOrder(
  db: Queryable,
  paymentOrderId: string,
  to: PaymentOrderStatus,
  change: PaymentOrderChange = {},
): Promise<boolean> {
  const set: Record<string, string | number> = {};
  if (change.fee !== undefined) set.fee_amount = change.fee;
  if (change.pspReference) set.psp_reference = change.pspReference;
  if (change.failure) {
    set.failure_code = change.failure.code;
    set.failure_message = change.failure.message;
    set.failure_reason = failureReason(change.failure.code);
  }
  return transition(db, {
    entity: 'payment_order',
    id: paymentOrderId,
    to,
    set,
    add: change.refunded ? { refunded_amount: change.refunded } : {},
  });
}

/** Marks every order of a checkout that never reached the PSP as canceled. */
export async function cancelPendingPaymentOrders(db: Queryable, paymentOrderIds: string[], failure: Failure): Promise<void> {
  for (const id of paymentOrderIds) await transitionPaymentOrder(db, id, 'CANCELED', { failure });
}

export async function findPaymentOrderView(
  db: Queryable,
  paymentOrderId: string,
): Promise<(PaymentOrderView & { checkoutId: string }) | undefined> {
  const { rows } = await db.query<PaymentOrderRow>(`SELECT ${PAYMENT_ORDER_COLUMNS} FROM payment_orders WHERE id = $1`, [
    paymentOrderId,
  ]);
  const row = rows[0];
  return row && { ...paymentOrderView(row), checkoutId: row.checkout_id };
}
