/**
 * Records the workflow histories that test/replay.test.ts replays, exported with the real CLI. Run it to
 * add histories of new paths, or after a change guarded by patched() (first moving the histories of the code
 * before it to a folder of their own, v1/, v2/, ...: they must still replay while such workflows may run),
 * never to make a failing replay pass:
 *
 *   npx jest --roots test --testMatch '<rootDir>/test/histories/record.ts'
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import Stripe from 'stripe';
import { checkoutWorkflowId, compensationWorkflowId, paymentOrderWorkflowId } from '../../domain/ids';
import { webhookDeliveryWorkflowId, webhookEndpointWorkflowId } from '../../domain/webhookEndpoint';
import { retryCompensationSignal } from '../../workflows/definitions';
import { eventually, startSettle, TEST_WEBHOOK_SECRET, uniqueId, type TestSettle } from '../support/settle';

let settle: TestSettle;
let shortWindow: TestSettle;
let stripe: TestSettle;
beforeAll(async () => {
  [settle, shortWindow, stripe] = await Promise.all([
    startSettle(),
    startSettle({ authorizationWindowMs: 500 }),
    startSettle({ psp: 'stripe' }),
  ]);
});
afterAll(() => Promise.all([settle?.stop(), shortWindow?.stop(), stripe?.stop()]));

/** Exports a history as an operator would, with the real CLI: `temporal workflow show --output json`. */
async function save(name: string, workflowId: string): Promise<void> {
  const { stdout } = await promisify(execFile)(process.env.SETTLE_TEST_TEMPORAL_CLI!, [
    'workflow', 'show', '--address', process.env.SETTLE_TEST_TEMPORAL_ADDRESS!, '--workflow-id', workflowId, '--output', 'json',
  ], { maxBuffer: 64 * 1024 * 1024 });
  await writeFile(path.join(__dirname, `${name}.json`), stdout);
}

const orders = () => [
  { sellerId: uniqueId('seller'), amount: 1500 },
  { sellerId: uniqueId('seller'), amount: 2500 },
];

it('records a checkout on each path', async () => {
  const succeeded = await settle.createCheckout({ orders: orders() });
  const result = await settle.checkoutResult(succeeded);
  await save('checkout-succeeded', checkoutWorkflowId(succeeded));
  await save('payment-order-succeeded', paymentOrderWorkflowId(result.orders[0]!.orderId));

  const declined = await settle.createCheckout({ orders: [orders()[0]!, { ...orders()[1]!, paymentMethod: 'pm_card_chargeCustomerFail' }] });
  await settle.checkoutResult(declined);
  await save('checkout-declined', checkoutWorkflowId(declined));

  const canceled = await settle.createCheckout({ capture: 'manual', orders: orders() });
  await eventually('authorization', async () => (await settle.checkout(canceled)).status === 'REQUIRES_CAPTURE');
  await settle.post(`/v1/checkouts/${canceled}/cancel`, { reason: 'recorded' });
  await settle.checkoutResult(canceled);
  await save('checkout-canceled', checkoutWorkflowId(canceled));

  const refund = await settle.post(`/v1/payment-orders/${result.orders[1]!.orderId}/refunds`, { amount: 100 }, { 'Idempotency-Key': uniqueId('key') });
  await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
  await save('refund-succeeded', `refund-${refund.body.refundId}`);

  const captured = await settle.createCheckout({ capture: 'manual', orders: orders() });
  await eventually('authorization', async () => (await settle.checkout(captured)).status === 'REQUIRES_CAPTURE');
  await settle.post(`/v1/checkouts/${captured}/capture`, {});
  await settle.checkoutResult(captured);
  await save('checkout-manual-capture', checkoutWorkflowId(captured));

  const expired = await shortWindow.createCheckout({ capture: 'manual', orders: orders() });
  await shortWindow.checkoutResult(expired);
  await save('checkout-expired', checkoutWorkflowId(expired));
});

it('records compensations: refunds after a declined capture, its void, and a refused refund retried', async () => {
  const failsAtCapture = await settle.psp.paymentMethod('visa');
  settle.psp.inject({ operation: 'capture', paymentMethod: failsAtCapture }, { kind: 'decline', code: 'expired_card' });
  const compensated = await settle.createCheckout({ orders: [orders()[0]!, { ...orders()[1]!, paymentMethod: failsAtCapture }] });
  const result = await settle.checkoutResult(compensated);
  await save('checkout-compensated', checkoutWorkflowId(compensated));
  await save('payment-order-capture-declined', paymentOrderWorkflowId(result.orders[1]!.orderId));

  const refundRefused = await settle.psp.paymentMethod('visa');
  settle.psp.inject({ operation: 'refund', paymentMethod: refundRefused }, { kind: 'decline', code: 'charge_disputed', times: 1 });
  const held = await settle.createCheckout({ orders: [{ ...orders()[0]!, paymentMethod: refundRefused }, { ...orders()[1]!, paymentMethod: failsAtCapture }] });
  await settle.checkoutResult(held);
  await settle.temporal.workflow.getHandle(compensationWorkflowId(held)).signal(retryCompensationSignal);
  await settle.temporal.workflow.getHandle(compensationWorkflowId(held)).result();
  await save('checkout-refund-refused', checkoutWorkflowId(held));
  await save('compensation-retried', compensationWorkflowId(held));
});

it('records a release while the authorization is in flight', async () => {
  const slow = await settle.psp.paymentMethod('visa');
  settle.psp.inject({ operation: 'authorize', paymentMethod: slow }, { kind: 'slow', ms: 3_000 });
  const checkoutId = await settle.createCheckout({ paymentMethod: slow, orders: orders() });
  await eventually('authorizing', async () => (await settle.checkout(checkoutId)).status === 'PROCESSING');
  await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'recorded' });
  const result = await settle.checkoutResult(checkoutId);
  await save('payment-order-released-while-authorizing', paymentOrderWorkflowId(result.orders[0]!.orderId));
});

it('records the webhook loop: a payment waiting on the buyer, completed on a webhook', async () => {
  const client = stripe.psp.stripe!;
  const checkoutId = await stripe.createCheckout({
    paymentMethod: await stripe.psp.paymentMethod('requires_authentication'),
    orders: [orders()[0]!],
  });
  const orderId = await eventually('the order', async () => (await stripe.checkout(checkoutId)).orders[0]?.orderId);
  const intent = await eventually('the buyer to be asked', async () => {
    const { rows } = await stripe.pool.query('SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1', [orderId]);
    const found = rows[0] && (await client.paymentIntents.retrieve(rows[0].payment_intent_id));
    return found?.status === 'requires_action' ? found : undefined;
  });
  await fetch(`http://127.0.0.1:${process.env.SETTLE_TEST_STRIPE_PORT}/v1/payment_intents/${intent.id}/_authenticate`, {
    method: 'POST',
    headers: { Authorization: 'Bearer sk_test_settle', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_secret: intent.client_secret!, success: 'true' }),
  });
  const event = {
    id: uniqueId('evt'),
    object: 'event',
    type: 'payment_intent.amount_capturable_updated',
    created: Math.floor(Date.now() / 1000),
    data: { object: await client.paymentIntents.retrieve(intent.id) },
  };
  const payload = JSON.stringify(event);
  await fetch(`${stripe.baseUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: TEST_WEBHOOK_SECRET }) },
    body: payload,
  });
  await stripe.checkoutResult(checkoutId);
  await save('payment-order-webhook', paymentOrderWorkflowId(orderId));
});

it('records a reconciliation run', async () => {
  const started = await settle.post('/v1/reconciliations', { date: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10) });
  await settle.temporal.workflow.getHandle(started.body.reconciliationId).result();
  await save('reconciliation', started.body.reconciliationId);
});

it('records outgoing webhooks: a delivery retried after a 500 and a timeout, and an endpoint polling until disabled', async () => {
  const fast = await startSettle({
    webhooks: { allowPrivateNetworks: true, delivery: { firstRetryMs: 300, longestRetryMs: 1_000, retryForMs: 10_000, attemptTimeoutMs: 1_000 } },
  });
  let requests = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      if (requests === 1) res.writeHead(500).end();
      else if (requests > 2) res.writeHead(204).end();
      // the second gets no answer: its attempt times out
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
    const endpointId: string = (await fast.post('/v1/webhook-endpoints', { url, events: ['checkout.succeeded'] })).body.id;
    const checkoutId = await fast.createCheckout({ orders: orders() });
    await fast.checkoutResult(checkoutId);
    const delivery = fast.temporal.workflow.getHandle(webhookDeliveryWorkflowId(endpointId, checkoutId));
    await eventually('the delivery workflow', () => delivery.describe().then(() => true, () => false));
    await delivery.result();
    await fast.post(`/v1/webhook-endpoints/${endpointId}/disable`, {});
    const endpoint = fast.temporal.workflow.getHandle(webhookEndpointWorkflowId(endpointId));
    await eventually('the endpoint workflow to end', async () => (await endpoint.describe()).status.name !== 'RUNNING');
    await save('webhook-delivery-retried', webhookDeliveryWorkflowId(endpointId, checkoutId));
    await save('webhook-endpoint-disabled', webhookEndpointWorkflowId(endpointId));
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await fast.stop();
  }
});
