import type { PaymentOrderView } from '../domain/checkout';
import { canTransitionPaymentOrder, type PaymentOrderStatus } from '../domain/status';
import { paymentOrderView, type PaymentOrderRow } from './checkouts';
import type { Queryable } from './pool';
import { transition } from './transition';

export interface PaymentOrderChange {
  pspReference?: string;
  failureCode?: string;
  failureMessage?: string;
}

export function transitionPaymentOrder(
  db: Queryable,
  paymentOrderId: string,
  to: PaymentOrderStatus,
  change: PaymentOrderChange = {},
): Promise<boolean> {
  const set: Record<string, string> = {};
  if (change.pspReference !== undefined) set.psp_reference = change.pspReference;
  if (change.failureCode !== undefined) set.failure_code = change.failureCode;
  if (change.failureMessage !== undefined) set.failure_message = change.failureMessage;
  return transition(db, {
    table: 'payment_orders',
    entity: 'payment order',
    id: paymentOrderId,
    to,
    allowed: canTransitionPaymentOrder,
    set,
  });
}

export async function findPaymentOrderView(
  db: Queryable,
  paymentOrderId: string,
): Promise<(PaymentOrderView & { checkoutId: string }) | undefined> {
  const { rows } = await db.query<PaymentOrderRow>(
    `SELECT id, checkout_id, seller_id, amount, currency, status, psp_reference FROM payment_orders WHERE id = $1`,
    [paymentOrderId],
  );
  const row = rows[0];
  return row && { ...paymentOrderView(row), checkoutId: row.checkout_id };
}
