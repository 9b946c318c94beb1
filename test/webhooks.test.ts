import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ServiceError, type WorkflowSignalInput } from '@temporalio/client';
import Stripe from 'stripe';
import { parseSettlementLine, SETTLEMENT_HEADER } from '../domain/settlement';
import { writeSettlementFile } from '../psp/settlementFile';
import { paymentOrderWorkflowId } from '../domain/ids';
import { expectBooksAgree } from './support/agreement';
import { eventually, startSettle, TEST_WEBHOOK_SECRET, uniqueId, type TestSettle } from './support/settle';
import {
  authenticate as authenticateAtStandIn,
  checkoutAwaitingAuthentication as awaitingAuthentication,
  deliverStripeEvent,
  intentEvent,
  signalsReceived as stripeSignalsReceived,
  standIn,
} from './support/stripeWebhooks';

let settle: TestSettle;
let stripe: Stripe;
/** Runs while the API signals pspEvent to a payment order, before the signal goes; a throw fails the signal. */
let duringPspEventSignal: ((input: WorkflowSignalInput) => Promise<void>) | undefined;
beforeAll(async () => {
  settle = await startSettle({
    psp: 'stripe',
    workflowClientInterceptors: [
      {
        async signal(input, next) {
          if (input.signalName === 'pspEvent') await duringPspEventSignal?.(input);
          return next(input);
        },
      },
    ],
  });
  stripe = settle.psp.stripe!;
});
afterAll(() => settle?.stop());

const deliver = (event: object, sign?: { secret?: string; header?: string | null }) => deliverStripeEvent(settle, event, sign);
const signalsReceived = (paymentOrderId: string, name: string) => stripeSignalsReceived(settle, paymentOrderId, name);
const checkoutAwaitingAuthentication = () => awaitingAuthentication(settle);
const authenticate = (intent: Stripe.PaymentIntent) => authenticateAtStandIn(settle, intent);

const eventIds = (events: Array<{ eventId?: unknown }>) => events.map((event) => Number(String(event.eventId)));

/**
 * How a payment order's authorization went, from its workflow history: when pspEvent signals arrived, when
 * each authorization attempt was scheduled, and when recheck timers fired.
 */
async function authorizationHistory(paymentOrderId: string) {
  const history = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId)).fetchHistory();
  const events = history.events ?? [];
  const authorizations = eventIds(events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizePaymentOrder'));
  const completing = authorizations[authorizations.length - 1]!;
  return {
    signals: eventIds(events.filter((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'pspEvent')),
    authorizations,
    /** The attempt that completed the authorization: the last one. */
    completing,
    /** Recheck timers that fired before that attempt was scheduled. */
    timersFiredBefore: eventIds(events.filter((event) => event.timerFiredEventAttributes)).filter((id) => id < completing),
  };
}

describe("Stripe's settlement file", () => {
  it("lists the day's captures and refunds as settlement rows, traced to their payment orders", async () => {
    const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: uniqueId('seller'), amount: 4100 }] }));
    const order = result.orders[0]!;
    const refund = await settle.post(`/v1/payment-orders/${order.orderId}/refunds`, { amount: 600 }, { 'Idempotency-Key': uniqueId('key') });
    await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();

    const file = path.join(os.tmpdir(), `${uniqueId('stripe-settlement')}.csv`);
    await writeSettlementFile(settle.psp.psp, new Date().toISOString().slice(0, 10), file);
    const [header, ...rows] = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(header).toBe(SETTLEMENT_HEADER);
    // In the PSP's listing order (newest first, by the second): compared here by category.
    const ours = rows
      .map((line, i) => parseSettlementLine(line, i + 2))
      .filter((row) => row.paymentOrderId === order.orderId)
      .sort((a, b) => a.reportingCategory.localeCompare(b.reportingCategory));
    expect(ours.map((row) => [row.reportingCategory, row.gross, row.fee, row.net, row.currency, row.paymentIntentId])).toEqual([
      ['charge', 4100, 0, 4100, 'USD', order.pspReference],
      ['refund', -600, 0, -600, 'USD', order.pspReference],
    ]);
  });
});

describe('Stripe webhooks', () => {
  it('are received from the stand-in itself, verified and recorded', async () => {
    const registered = await fetch(`${standIn()}/_config/webhooks/${uniqueId('settle')}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ url: `${settle.baseUrl}/webhooks/stripe`, secret: TEST_WEBHOOK_SECRET, 'events[]': 'payment_intent.succeeded' }),
    });
    expect(registered.status).toBe(200);
    const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: uniqueId('seller'), amount: 1300 }] }));
    expect(result.status).toBe('SUCCEEDED');
    const orderId = result.orders[0]!.orderId;
    const recorded = await eventually('the stand-in to deliver payment_intent.succeeded', async () => {
      const { rows } = await settle.pool.query('SELECT type, payment_intent_id FROM stripe_webhook_events WHERE payment_order_id = $1', [orderId]);
      return rows[0];
    });
    expect(recorded).toEqual({ type: 'payment_intent.succeeded', payment_intent_id: result.orders[0]!.pspReference });
  });

  it('wake a payment order waiting on the buyer, in any order, and a redelivery changes nothing', async () => {
    const { checkoutId, orderId, intent } = await checkoutAwaitingAuthentication();
    expect((await settle.checkout(checkoutId)).orders[0]!.status).toBe('PENDING');
    const authenticated = await authenticate(intent);
    expect(authenticated.status).toBe('requires_capture');

    // Out of order: a later event first, then the one Stripe would have sent before it, then a redelivery.
    const later = intentEvent('payment_intent.succeeded', authenticated);
    const earlier = intentEvent('payment_intent.amount_capturable_updated', authenticated);
    expect(await deliver(later)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await deliver(earlier)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await deliver(earlier)).toEqual({ status: 200, body: { received: true, duplicate: true } });

    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.orders[0]).toMatchObject({ status: 'SUCCEEDED', pspReference: intent.id });
    expect(await signalsReceived(orderId, 'pspEvent')).toBe(2);
    // The webhook, not the recheck timer, woke it: the attempt that authorized was scheduled after the first
    // pspEvent signal, and no recheck timer had fired by then.
    const authorization = await authorizationHistory(orderId);
    expect(authorization.completing).toBeGreaterThan(authorization.signals[0]!);
    expect(authorization.timersFiredBefore).toEqual([]);
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM stripe_webhook_events WHERE id = $1', [earlier.id]);
    expect(rows[0].n).toBe(1);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('that arrive while an authorization attempt is still in flight wake the order all the same', async () => {
    // The first attempt's answer (pending: the buyer must authenticate) is held until the webhook is in.
    const amount = 2300;
    const psp = settle.psp.psp;
    const authorize = psp.authorize;
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    psp.authorize = async (request) => {
      const result = await authorize.call(psp, request);
      if (request.amount === amount) await answered;
      return result;
    };
    let checkoutId: string, orderId: string;
    try {
      checkoutId = await settle.createCheckout({
        paymentMethod: await settle.psp.paymentMethod('requires_authentication'),
        orders: [{ sellerId: uniqueId('seller'), amount }],
      });
      orderId = (await settle.checkout(checkoutId)).orders[0]!.orderId;
      const intent = await eventually('the PaymentIntent to wait for the buyer', async () => {
        const { rows } = await settle.pool.query('SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1', [orderId]);
        if (!rows[0]) return undefined;
        const found = await stripe.paymentIntents.retrieve(rows[0].payment_intent_id);
        return found.status === 'requires_action' ? found : undefined;
      });
      const authenticated = await authenticate(intent);
      expect(await deliver(intentEvent('payment_intent.amount_capturable_updated', authenticated))).toEqual({ status: 200, body: { received: true, duplicate: false } });
      await eventually('the signal to reach the payment order', async () => (await signalsReceived(orderId, 'pspEvent')) === 1);
      expect((await authorizationHistory(orderId)).authorizations).toHaveLength(1);
    } finally {
      psp.authorize = authorize;
      answer();
    }

    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    const authorization = await authorizationHistory(orderId);
    expect(authorization.authorizations).toHaveLength(2);
    expect(authorization.timersFiredBefore).toEqual([]);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('are not needed: with none, the payment order asks Stripe itself', async () => {
    const { checkoutId, orderId, intent } = await checkoutAwaitingAuthentication();
    await authenticate(intent);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await signalsReceived(orderId, 'pspEvent')).toBe(0);
    // The recheck timer woke it.
    expect((await authorizationHistory(orderId)).timersFiredBefore.length).toBeGreaterThan(0);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('hold no transaction with their write open while they wake the payment order (the event feed would wait on it)', async () => {
    const { checkoutId, intent } = await checkoutAwaitingAuthentication();
    const authenticated = await authenticate(intent);
    // The outbox feed serves only events older than every running transaction, cluster-wide. While the signal
    // is in flight, no transaction may hold the route's write (its lock on stripe_webhook_events): one that did
    // would stay open until the signal returned.
    let writeHeld: unknown;
    duringPspEventSignal = async () => {
      writeHeld = await eventually(
        'no open transaction to hold a write to stripe_webhook_events',
        async () => {
          const { rows } = await settle.pool.query(
            `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE c.relname = 'stripe_webhook_events' AND l.mode = 'RowExclusiveLock' AND l.granted
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()`,
          );
          return rows[0].n === 0 ? 'none' : undefined;
        },
        5_000,
      ).catch(() => 'one held it for 5 s');
    };
    try {
      expect(await deliver(intentEvent('payment_intent.amount_capturable_updated', authenticated))).toEqual({ status: 200, body: { received: true, duplicate: false } });
    } finally {
      duringPspEventSignal = undefined;
    }
    expect(writeHeld).toBe('none');
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
  });

  it('whose signal fails get 503 and are not recorded, so that the redelivery wakes the order', async () => {
    const { checkoutId, orderId, intent } = await checkoutAwaitingAuthentication();
    const event = intentEvent('payment_intent.amount_capturable_updated', await authenticate(intent));
    duringPspEventSignal = async () => {
      throw new ServiceError('the workflow service is down (injected)');
    };
    try {
      expect(await deliver(event)).toMatchObject({ status: 503, body: { error: { code: 'temporal_unavailable' } } });
    } finally {
      duringPspEventSignal = undefined;
    }
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM stripe_webhook_events WHERE id = $1', [event.id]);
    expect(rows[0].n).toBe(0);
    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await signalsReceived(orderId, 'pspEvent')).toBe(1);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('that are forged, unsigned or tampered with get 400 and change nothing', async () => {
    const { checkoutId, orderId, intent } = await checkoutAwaitingAuthentication();
    const event = intentEvent('payment_intent.amount_capturable_updated', intent);
    const forged = await deliver(event, { secret: 'whsec_someone_else' });
    expect(forged).toMatchObject({ status: 400, body: { error: { code: 'signature_invalid' } } });
    expect(await deliver(event, { header: null })).toMatchObject({ status: 400, body: { error: { code: 'signature_missing' } } });
    const tampered = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(event), secret: TEST_WEBHOOK_SECRET });
    expect(await deliver({ ...event, type: 'payment_intent.canceled' }, { header: tampered })).toMatchObject({
      status: 400,
      body: { error: { code: 'signature_invalid' } },
    });
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM stripe_webhook_events WHERE id = $1', [event.id]);
    expect(rows[0].n).toBe(0);
    expect(await signalsReceived(orderId, 'pspEvent')).toBe(0);

    // The checkout is still waiting on the buyer; cancelling it releases the unconfirmed intent.
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.orders[0]!.status).toBe('CANCELED');
    expect((await stripe.paymentIntents.retrieve(intent.id)).status).toBe('canceled');
  });
});
