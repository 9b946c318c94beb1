import { ServiceError, type WorkflowSignalInput } from '@temporalio/client';
import Stripe from 'stripe';
import { paymentOrderWorkflowId } from '../domain/ids';
import { recordHeldFailure } from '../db/paymentOrders';
import { pspIdempotencyKey } from '../psp/types';
import { expectBooksAgree } from './support/agreement';
import { expectMendedAndRefunded, refuseCaptureBooking, waitingForCapture } from './support/refusedBooking';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { authenticate, checkoutAwaitingAuthentication, deliverStripeEvent, intentEvent, signalsReceived as stripeSignalsReceived } from './support/stripeWebhooks';
import { Receiver } from './support/webhookReceiver';
import { retryCompensationRound } from './support/compensationRounds';

/**
 * Stripe's webhooks wake a payment order without a transaction held across the signal (signal, then record),
 * and an order's `payment_order.release_refused` / `payment_order.capture_not_booked` events are written once,
 * when the order enters that state: redeliveries, lost answers, refused writes and repeated refusals.
 */

let settle: TestSettle;

/** The order's own events (of one type, if given), in the feed's order: the order's status and failure code in each. */
async function orderEvents(orderId: string, type?: string): Promise<Array<[string, string, string | null]>> {
  const { rows } = await settle.pool.query<{ type: string; data: { status: string; failure_code: string | null } }>(
    `SELECT type, data FROM events WHERE payment_order_id = $1 AND type LIKE 'payment_order.%' AND ($2::text IS NULL OR type = $2) ORDER BY txid, id`,
    [orderId, type ?? null],
  );
  return rows.map((row) => [row.type, row.data.status, row.data.failure_code]);
}

describe('adversary12: Stripe webhooks that signal, then record', () => {
  /** Runs while the API signals pspEvent, before the signal goes (a throw fails it); `after`, once it went. */
  let beforeSignal: ((input: WorkflowSignalInput) => Promise<void>) | undefined;
  let afterSignal: ((input: WorkflowSignalInput) => Promise<void>) | undefined;
  let stripe: Stripe;
  beforeAll(async () => {
    settle = await startSettle({
      psp: 'stripe',
      workflowClientInterceptors: [
        {
          async signal(input, next) {
            if (input.signalName !== 'pspEvent') return next(input);
            await beforeSignal?.(input);
            await next(input);
            await afterSignal?.(input);
          },
        },
      ],
    });
    stripe = settle.psp.stripe!;
  });
  afterAll(() => settle?.stop());
  afterEach(() => {
    beforeSignal = undefined;
    afterSignal = undefined;
  });

  const deliver = (event: object) => deliverStripeEvent(settle, event);
  const signalsReceived = (orderId: string) => stripeSignalsReceived(settle, orderId);

  async function recorded(eventId: string): Promise<number> {
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM stripe_webhook_events WHERE id = $1', [eventId]);
    return rows[0].n;
  }

  /** The checkout ends SUCCEEDED, its order charged once at the PSP, and the books agree with the PSP. */
  async function expectChargedOnce(checkoutId: string, orderId: string, amount: number): Promise<void> {
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: amount })]);
    await expectBooksAgree(settle.pool, settle.psp, result);
  }

  /** A checkout whose one order waits for 3-D Secure, and the buyer's authentication done at the stand-in. */
  async function authenticatedCheckout(amount: number) {
    const { checkoutId, orderId, intent } = await checkoutAwaitingAuthentication(settle, amount);
    return { checkoutId, orderId, authenticated: await authenticate(settle, intent) };
  }

  it('two concurrent deliveries of one event, the first held in its signal: both 200, one taken, one duplicate; the order wakes and is charged once', async () => {
    const { checkoutId, orderId, authenticated } = await authenticatedCheckout(2410);
    const event = intentEvent('payment_intent.amount_capturable_updated', authenticated);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    beforeSignal = async () => {
      if (held++ === 0) await released;
    };
    const first = deliver(event);
    await eventually('the first delivery to be in its signal', async () => held === 1);
    // Stripe's redelivery of the same event, while the first has neither signalled nor recorded it.
    const second = await deliver(event);
    release();
    const answers = [await first, second];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.map((answer) => answer.body.duplicate).sort()).toEqual([false, true]);
    expect(await recorded(event.id)).toBe(1);
    // A later redelivery is a duplicate and signals nothing.
    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await expectChargedOnce(checkoutId, orderId, 2410);
    expect(await signalsReceived(orderId)).toBe(2);
  });

  it('a signal Temporal took whose answer was lost: 503, nothing recorded; the redelivery signals again and is taken; charged once', async () => {
    const { checkoutId, orderId, authenticated } = await authenticatedCheckout(2420);
    const event = intentEvent('payment_intent.amount_capturable_updated', authenticated);
    let lost = 0;
    afterSignal = async () => {
      if (lost++ === 0) throw new ServiceError('the answer to the signal was lost (injected)');
    };
    expect(await deliver(event)).toMatchObject({ status: 503, body: { error: { code: 'temporal_unavailable' } } });
    expect(await recorded(event.id)).toBe(0);
    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await expectChargedOnce(checkoutId, orderId, 2420);
    expect(await signalsReceived(orderId)).toBe(2);
  });

  it('a record the database refuses after the signal went: 503, not recorded; the redelivery is taken and the order charged once', async () => {
    const { checkoutId, orderId, authenticated } = await authenticatedCheckout(2430);
    const event = intentEvent('payment_intent.amount_capturable_updated', authenticated);
    const fn = `down_${uniqueId('x').slice(2)}`;
    await settle.pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF NEW.id = '${event.id}' THEN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END IF;
      RETURN NEW; END $$`);
    await settle.pool.query(`CREATE TRIGGER ${fn} BEFORE INSERT ON stripe_webhook_events FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
    try {
      expect(await deliver(event)).toMatchObject({ status: 503 });
      expect(await recorded(event.id)).toBe(0);
    } finally {
      await settle.pool.query(`DROP TRIGGER ${fn} ON stripe_webhook_events`);
      await settle.pool.query(`DROP FUNCTION ${fn}()`);
    }
    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await expectChargedOnce(checkoutId, orderId, 2430);
    expect(await signalsReceived(orderId)).toBeGreaterThanOrEqual(1);
  });

  it('events for an order whose workflow has finished: 200 and recorded once, out of order and redelivered; nothing changes', async () => {
    const { checkoutId, orderId, authenticated } = await authenticatedCheckout(2440);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).result();
    const before = await signalsReceived(orderId);
    const succeeded = intentEvent('payment_intent.succeeded', await stripe.paymentIntents.retrieve(authenticated.id));
    const capturable = intentEvent('payment_intent.amount_capturable_updated', authenticated);
    expect(await deliver(succeeded)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await deliver(capturable)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect(await Promise.all([deliver(succeeded), deliver(capturable)])).toEqual([
      { status: 200, body: { received: true, duplicate: true } },
      { status: 200, body: { received: true, duplicate: true } },
    ]);
    expect([await recorded(succeeded.id), await recorded(capturable.id)]).toEqual([1, 1]);
    expect(await signalsReceived(orderId)).toBe(before);
    expect(await settle.checkout(checkoutId)).toEqual(result);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });
});

describe('adversary12: payment_order.release_refused and payment_order.capture_not_booked, once on entering', () => {
  const receiver = new Receiver();
  beforeAll(async () => {
    // A database of its own: this holds, on purpose, a PSP capture the books do not have.
    settle = await startSettle({
      psp: 'simulated',
      isolatedDatabase: true,
      webhooks: { allowPrivateNetworks: true, delivery: { firstRetryMs: 300, longestRetryMs: 1_000, retryForMs: 4_000, attemptTimeoutMs: 1_000 } },
    });
    await receiver.start();
  }, 300_000);
  afterAll(async () => {
    await settle?.stop();
    await receiver.stop();
  });

  it('release refused round after round, then a late capture the books refuse round after round, then mended: each event once, delivered once', async () => {
    const created = await settle.post('/v1/webhook-endpoints', {
      url: `${receiver.url}/held`,
      events: ['payment_order.release_refused', 'payment_order.capture_not_booked'],
    });
    expect(created.status).toBe(201);

    const card = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'void', paymentMethod: card }, { kind: 'decline', code: 'payment_intent_unexpected_state' });
    const amount = 3150;
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const { orderId, pspReference } = (await settle.checkout(checkoutId)).orders[0]!;
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect({ status: result.status, order: result.orders[0]!.status, failure: result.orders[0]!.failureCode, attention: result.attention?.code }).toEqual({
      status: 'CANCELED',
      order: 'AUTHORIZED',
      failure: 'release_refused',
      attention: 'release_refused',
    });
    expect(await orderEvents(orderId, 'payment_order.release_refused')).toEqual([['payment_order.release_refused', 'AUTHORIZED', 'release_refused']]);

    // Refused again, twice: the order is still in the state it entered; no new event.
    expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
    expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
    expect(await orderEvents(orderId, 'payment_order.release_refused')).toHaveLength(1);

    // The PSP captures it after all (late, or from its dashboard) and the books refuse the capture.
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      await settle.psp.psp.capture({ pspReference: pspReference!, amount, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      expect((await settle.checkout(checkoutId)).attention?.code).toBe('capture_not_booked');
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      expect(await orderEvents(orderId)).toEqual([
        ['payment_order.authorized', 'AUTHORIZED', null],
        ['payment_order.release_refused', 'AUTHORIZED', 'release_refused'],
        ['payment_order.capture_not_booked', 'AUTHORIZED', 'capture_not_booked'],
      ]);
      await expectMendedAndRefunded(settle, checkoutId, orderId, amount, mend);
    } finally {
      await mend();
    }
    expect((await orderEvents(orderId)).map(([type]) => type)).toEqual([
      'payment_order.authorized',
      'payment_order.release_refused',
      'payment_order.capture_not_booked',
      'payment_order.succeeded',
      'payment_order.refunded',
    ]);

    // The endpoint that asked for the two is sent each once, in the feed's order.
    const { rows } = await settle.pool.query<{ id: string }>(
      `SELECT id::text AS id FROM events WHERE payment_order_id = $1 AND type IN ('payment_order.release_refused', 'payment_order.capture_not_booked') ORDER BY txid, id`,
      [orderId],
    );
    await eventually('both events to be delivered', async () => receiver.received.filter((request) => request.event.paymentOrderId === orderId).length >= 2);
    const deliveries = await settle.get(`/v1/webhook-endpoints/${created.body.id}/deliveries?limit=100`);
    expect(deliveries.body.data.map((delivery: any) => [delivery.eventType, delivery.status]).sort()).toEqual([
      ['payment_order.capture_not_booked', 'delivered'],
      ['payment_order.release_refused', 'delivered'],
    ]);
    expect([...new Set(receiver.received.filter((request) => request.event.paymentOrderId === orderId).map((request) => request.event.id))]).toEqual(rows.map((row) => row.id));
  }, 240_000);

  it("the checkout's own capture, taken by the PSP and refused by the books: one capture_not_booked, however often the compensation finds it", async () => {
    const amount = 2760;
    const { checkoutId, orderId } = await waitingForCapture(settle, amount);
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, order: result.orders[0]!.status, failure: result.orders[0]!.failureCode, attention: result.attention?.code }).toEqual({
        status: 'FAILED',
        order: 'AUTHORIZED',
        failure: 'capture_not_booked',
        attention: 'capture_not_booked',
      });
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: amount })]);
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      expect(await orderEvents(orderId)).toEqual([
        ['payment_order.authorized', 'AUTHORIZED', null],
        ['payment_order.capture_not_booked', 'AUTHORIZED', 'capture_not_booked'],
      ]);
      await mend();
      expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
      await eventually('the compensation to book and refund the capture', async () => (await settle.checkout(checkoutId)).attention === null, 60_000);
    } finally {
      await mend();
    }
    const mended = await settle.checkout(checkoutId);
    expect({ status: mended.status, order: mended.orders[0]!.status, refunded: mended.orders[0]!.refundedAmount }).toEqual({
      status: 'FAILED',
      order: 'REFUNDED',
      refunded: amount,
    });
    expect((await orderEvents(orderId)).map(([type]) => type)).toEqual([
      'payment_order.authorized',
      'payment_order.capture_not_booked',
      'payment_order.succeeded',
      'payment_order.refunded',
    ]);
    await expectBooksAgree(settle.pool, settle.psp, mended);
  }, 180_000);

  it('the books record on an authorized order: each change of failure is an event, each repeat is not', async () => {
    const { checkoutId, orderId } = await waitingForCapture(settle, 1730);
    const record = (code: 'release_refused' | 'capture_not_booked', message: string) => recordHeldFailure(settle.pool, orderId, { code, message });
    await record('release_refused', 'refused (first)');
    await record('release_refused', 'refused (second)');
    await record('capture_not_booked', 'captured, not booked');
    await record('capture_not_booked', 'captured, not booked (again)');
    await record('release_refused', 'refused (third)');
    expect((await orderEvents(orderId)).filter(([type]) => type !== 'payment_order.authorized')).toEqual([
      ['payment_order.release_refused', 'AUTHORIZED', 'release_refused'],
      ['payment_order.capture_not_booked', 'AUTHORIZED', 'capture_not_booked'],
      ['payment_order.release_refused', 'AUTHORIZED', 'release_refused'],
    ]);
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).orders[0]!.status).toBe('VOIDED');
  });

  it('two transactions recording the same refusal at once write one event', async () => {
    const { checkoutId, orderId } = await waitingForCapture(settle, 1740);
    const [first, second] = [await settle.pool.connect(), await settle.pool.connect()];
    try {
      await first.query('BEGIN');
      await second.query('BEGIN');
      await recordHeldFailure(first, orderId, { code: 'release_refused', message: 'refused (first)' });
      const { rows } = await second.query('SELECT pg_backend_pid() AS pid');
      const waiting = recordHeldFailure(second, orderId, { code: 'release_refused', message: 'refused (second)' });
      await eventually('the second to wait on the first', async () => {
        const { rows: lock } = await settle.pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [rows[0].pid]);
        return lock[0]?.wait_event_type === 'Lock';
      });
      await first.query('COMMIT');
      await waiting;
      await second.query('COMMIT');
    } finally {
      first.release();
      second.release();
    }
    expect(await orderEvents(orderId, 'payment_order.release_refused')).toHaveLength(1);
    const { rows } = await settle.pool.query('SELECT failure_code, failure_message FROM payment_orders WHERE id = $1', [orderId]);
    expect(rows[0]).toEqual({ failure_code: 'release_refused', failure_message: 'refused (second)' });
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).orders[0]!.status).toBe('VOIDED');
  });
});
