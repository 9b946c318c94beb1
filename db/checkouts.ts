import type { CheckoutInput, CheckoutView, PaymentOrderView } from '../domain/checkout';
import { amountFromDb, sumMoney, type Currency } from '../domain/money';
import { canTransitionCheckout, type CheckoutStatus, type PaymentOrderStatus } from '../domain/status';
import type { Queryable } from './pool';
import { transition } from './transition';

/** Records a checkout and its payment orders; recording the same checkout again changes nothing. */
export async function insertCheckout(db: Queryable, input: CheckoutInput, status: CheckoutStatus): Promise<void> {
  const total = sumMoney(input.currency, input.orders.map((order) => order.amount));
  await db.query(
    `INSERT INTO checkouts (id, customer_id, currency, total_amount, capture_mode, status)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
    [input.checkoutId, input.customerId, input.currency, total.amount, input.capture, status],
  );
  await db.query(
    `INSERT INTO payment_orders (id, checkout_id, position, seller_id, amount, currency, payment_method, status)
     SELECT o.id, $1, o.position, o.seller_id, o.amount, $2, o.payment_method, 'PENDING'
       FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[])
            WITH ORDINALITY AS o(id, seller_id, amount, payment_method, position)
     ON CONFLICT (id) DO NOTHING`,
    [
      input.checkoutId,
      input.currency,
      input.orders.map((order) => order.paymentOrderId),
      input.orders.map((order) => order.sellerId),
      input.orders.map((order) => order.amount),
      input.orders.map((order) => order.paymentMethod),
    ],
  );
}

export function transitionCheckout(
  db: Queryable,
  checkoutId: string,
  to: CheckoutStatus,
  failureReason: string | null = null,
): Promise<boolean> {
  return transition(db, {
    table: 'checkouts',
    entity: 'checkout',
    id: checkoutId,
    to,
    allowed: canTransitionCheckout,
    set: failureReason === null ? {} : { failure_reason: failureReason },
  });
}

interface CheckoutRow {
  id: string;
  customer_id: string;
  currency: Currency;
  total_amount: string;
  status: CheckoutStatus;
}

export interface PaymentOrderRow {
  id: string;
  checkout_id: string;
  seller_id: string;
  amount: string;
  currency: Currency;
  status: PaymentOrderStatus;
  psp_reference: string | null;
}

export function paymentOrderView(row: PaymentOrderRow): PaymentOrderView {
  return {
    orderId: row.id,
    sellerId: row.seller_id,
    amount: amountFromDb(row.amount),
    currency: row.currency,
    status: row.status,
    pspReference: row.psp_reference,
  };
}

export async function findCheckoutView(db: Queryable, checkoutId: string): Promise<CheckoutView | undefined> {
  const { rows } = await db.query<CheckoutRow>(
    'SELECT id, customer_id, currency, total_amount, status FROM checkouts WHERE id = $1',
    [checkoutId],
  );
  const checkout = rows[0];
  if (!checkout) return undefined;
  const orders = await db.query<PaymentOrderRow>(
    `SELECT id, checkout_id, seller_id, amount, currency, status, psp_reference
       FROM payment_orders WHERE checkout_id = $1 ORDER BY position`,
    [checkoutId],
  );
  return {
    checkoutId: checkout.id,
    status: checkout.status,
    customerId: checkout.customer_id,
    currency: checkout.currency,
    totalAmount: amountFromDb(checkout.total_amount),
    orders: orders.rows.map(paymentOrderView),
  };
}
