import type { Queryable } from './pool';

/** The Stripe PaymentIntent recorded for a payment order, if one was. */
export async function recordedPaymentIntent(db: Queryable, paymentOrderId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ payment_intent_id: string }>(
    'SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1',
    [paymentOrderId],
  );
  return rows[0]?.payment_intent_id;
}

/**
 * Records the intent made for a payment order unless one is recorded already, and answers the one recorded:
 * the first attempt's. Attempts that run at once may hold the same intent (Stripe answers a repeated create
 * with it) or each one of their own.
 *
 * The insert names no conflict target: a row is unique by order and by intent, and a conflict target
 * covers one index only, so two attempts inserting the same intent at once would see the other index refuse
 * it. The row is then read in a statement of its own, which sees whichever insert committed.
 */
export async function recordPaymentIntent(db: Queryable, paymentOrderId: string, paymentIntentId: string): Promise<string> {
  await db.query('INSERT INTO stripe_payment_intents (payment_order_id, payment_intent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    paymentOrderId,
    paymentIntentId,
  ]);
  const recorded = await recordedPaymentIntent(db, paymentOrderId);
  if (!recorded) throw new Error(`PaymentIntent ${paymentIntentId} is recorded for another payment order than ${paymentOrderId}`);
  return recorded;
}
