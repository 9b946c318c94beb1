import Stripe from 'stripe';
import { paymentOrderWorkflowId } from '../../domain/ids';
import { eventually, TEST_WEBHOOK_SECRET, uniqueId, type TestSettle } from './settle';

/**
 * Stripe's side of a webhook test (PSP=stripe, the localstripe stand-in): events as Stripe sends them,
 * a checkout whose buyer must authenticate (3-D Secure), and the buyer doing so.
 */

/** The stand-in's own address, for its test-only routes. */
export const standIn = () => `http://127.0.0.1:${process.env.SETTLE_TEST_STRIPE_PORT}`;

/** Posts an event to Settle's webhook endpoint, signed as Stripe signs (or as the test says). */
export async function deliverStripeEvent(settle: TestSettle, event: object, sign: { secret?: string; header?: string | null } = {}) {
  const payload = JSON.stringify(event);
  const header =
    sign.header !== undefined ? sign.header : Stripe.webhooks.generateTestHeaderString({ payload, secret: sign.secret ?? TEST_WEBHOOK_SECRET });
  const response = await fetch(`${settle.baseUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(header === null ? {} : { 'Stripe-Signature': header }) },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** A PaymentIntent event as Stripe would send it, with an id of its own. */
export function intentEvent(type: string, intent: Stripe.PaymentIntent) {
  return { id: uniqueId('evt'), object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object: intent } };
}

/** How many signals of this name a payment order's workflow has received. */
export async function signalsReceived(settle: TestSettle, paymentOrderId: string, name = 'pspEvent'): Promise<number> {
  const history = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId)).fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes?.signalName === name).length;
}

/** A checkout of one order whose PaymentIntent waits for the buyer to authenticate. */
export async function checkoutAwaitingAuthentication(settle: TestSettle, amount = 2200) {
  const stripe = settle.psp.stripe!;
  const checkoutId = await settle.createCheckout({
    paymentMethod: await settle.psp.paymentMethod('requires_authentication'),
    orders: [{ sellerId: uniqueId('seller'), amount }],
  });
  const orderId = await eventually('the payment order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
  const intent = await eventually('the PaymentIntent to wait for the buyer', async () => {
    const { rows } = await settle.pool.query('SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1', [orderId]);
    if (!rows[0]) return undefined;
    const found = await stripe.paymentIntents.retrieve(rows[0].payment_intent_id);
    return found.status === 'requires_action' ? found : undefined;
  });
  return { checkoutId, orderId, intent };
}

/** The buyer completes 3-D Secure at the stand-in; the PaymentIntent as it then is. */
export async function authenticate(settle: TestSettle, intent: Stripe.PaymentIntent): Promise<Stripe.PaymentIntent> {
  const response = await fetch(`${standIn()}/v1/payment_intents/${intent.id}/_authenticate`, {
    method: 'POST',
    headers: { Authorization: 'Bearer sk_test_settle', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_secret: intent.client_secret!, success: 'true' }),
  });
  if (response.status !== 200) throw new Error(`the stand-in refused the authentication: ${response.status} ${await response.text()}`);
  return settle.psp.stripe!.paymentIntents.retrieve(intent.id);
}
