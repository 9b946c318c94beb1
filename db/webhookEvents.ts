import type { Queryable } from './pool';

/** Records a PSP webhook event by its id; answers false when it was already recorded (a redelivery). */
export async function recordWebhookEvent(
  db: Queryable,
  event: { id: string; type: string; paymentIntentId: string | null; paymentOrderId: string | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO stripe_webhook_events (id, type, payment_intent_id, payment_order_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING`,
    [event.id, event.type, event.paymentIntentId, event.paymentOrderId],
  );
  return rowCount === 1;
}

/** Whether a PSP webhook event is recorded already. */
export async function webhookEventRecorded(db: Queryable, eventId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM stripe_webhook_events WHERE id = $1', [eventId]);
  return rowCount === 1;
}
