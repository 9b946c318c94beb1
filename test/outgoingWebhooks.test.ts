import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { webhookEndpointWorkflowId } from '../domain/webhookEndpoint';
import { webhookSignature } from '../domain/webhookSignature';
import { isPrivateAddress } from '../domain/webhookUrl';
import { eventFeedEnd, insertWebhookEndpoint } from '../db/webhookEndpoints';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { Receiver } from './support/webhookReceiver';

/** Fast retries, so that a day of them fits in seconds. */
const policy = { firstRetryMs: 300, longestRetryMs: 1_000, retryForMs: 4_000, attemptTimeoutMs: 1_000 };

let settle: TestSettle;
/** A Settle as production runs it: no private networks. */
let strict: TestSettle;
const receiver = new Receiver();
const stripe = new Stripe('sk_test_settle');

beforeAll(async () => {
  await receiver.start();
  // Databases of their own: an endpoint is sent every event of its database, and the shared one takes other
  // suites' events all the while, which would queue ahead of this file's and fill its delivery logs.
  [settle, strict] = await Promise.all([
    startSettle({ isolatedDatabase: true, webhooks: { allowPrivateNetworks: true, delivery: policy } }),
    startSettle({ isolatedDatabase: true, webhooks: { allowPrivateNetworks: false, delivery: policy } }),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([settle?.stop(), strict?.stop()]);
  await receiver.stop();
});

async function createEndpoint(on: TestSettle, path: string, events: string[]): Promise<{ id: string; secret: string }> {
  const created = await on.post('/v1/webhook-endpoints', { url: receiver.url + path, events, description: 'test receiver' });
  expect(created.status).toBe(201);
  return created.body;
}

/** A checkout of two orders, run to its end. */
async function checkoutRun(on: TestSettle): Promise<string> {
  const checkoutId = await on.createCheckout({
    orders: [
      { sellerId: uniqueId('seller'), amount: 1200 },
      { sellerId: uniqueId('seller'), amount: 3400 },
    ],
  });
  await on.checkoutResult(checkoutId);
  return checkoutId;
}

/** The checkout's events as the feed orders them (commit order). */
async function feedOf(on: TestSettle, checkoutId: string): Promise<Array<{ id: string; type: string }>> {
  const { rows } = await on.pool.query(`SELECT id::text AS id, type FROM events WHERE checkout_id = $1 ORDER BY txid, id`, [checkoutId]);
  return rows;
}

async function deliveriesOf(on: TestSettle, endpointId: string): Promise<any[]> {
  const answer = await on.get(`/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`);
  expect(answer.status).toBe(200);
  return answer.body.data;
}

describe('outgoing webhooks', () => {
  it("delivers a checkout's events in commit order, signed so that Stripe's library verifies them, and only the types asked for", async () => {
    const all = await createEndpoint(settle, '/all', ['*']);
    const succeededOnly = await createEndpoint(settle, '/succeeded', ['checkout.succeeded']);
    expect(all.secret).toMatch(/^whsec_/);

    const checkoutId = await checkoutRun(settle);
    const feed = await eventually('every event delivered', async () => {
      const events = await feedOf(settle, checkoutId);
      return receiver.delivered('/all', checkoutId).length === events.length && events;
    });
    expect(feed.map((event) => event.type)).toEqual(expect.arrayContaining(['checkout.created', 'payment_order.authorized', 'checkout.succeeded']));

    const delivered = receiver.delivered('/all', checkoutId);
    expect(delivered.map((request) => request.event.id)).toEqual(feed.map((event) => event.id));
    for (const request of delivered) {
      const header = request.headers['settle-signature'] as string;
      // Stripe's own verification: the same scheme, under Settle's header name.
      const verified = stripe.webhooks.constructEvent(request.raw, header, all.secret);
      expect(verified.id).toBe(request.event.id);
      expect(() => stripe.webhooks.constructEvent(request.raw, header, succeededOnly.secret)).toThrow(/signature/i);
      expect(request.headers['settle-event-id']).toBe(request.event.id);
      expect(request.event).toMatchObject({ object: 'event', checkoutId, created: expect.any(Number), data: expect.any(Object) });
    }

    const succeeded = await eventually('checkout.succeeded delivered to the filtered endpoint', async () => {
      const got = receiver.delivered('/succeeded', checkoutId);
      return got.length > 0 && got;
    });
    expect(succeeded.map((request) => request.event.type)).toEqual(['checkout.succeeded']);
    // Everything else of the checkout was delivered to the other endpoint before this read; none of it came here.
    expect(receiver.requests('/succeeded', checkoutId).map((request) => request.event.type)).toEqual(['checkout.succeeded']);

    const log = await deliveriesOf(settle, all.id);
    const mine = log.filter((delivery) => delivery.checkoutId === checkoutId);
    expect(mine).toHaveLength(feed.length);
    for (const delivery of mine) {
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, lastHttpStatus: 204, lastError: null, nextAttemptAt: null });
      expect(delivery.deliveredAt).toEqual(expect.any(String));
    }
  });

  it('a receiver that answers 500, then times out, then recovers gets the event; the attempts are in the delivery log', async () => {
    const endpoint = await createEndpoint(settle, '/flaky', ['checkout.succeeded']);
    receiver.behave('/flaky', (_request, seenBefore) => (seenBefore === 0 ? 'fail' : seenBefore === 1 ? 'hang' : 'ok'));
    const checkoutId = await checkoutRun(settle);

    await eventually('the event delivered on the third attempt', async () => receiver.delivered('/flaky', checkoutId).length === 1);
    expect(receiver.requests('/flaky', checkoutId).map((request) => request.answer)).toEqual(['fail', 'hang', 'ok']);
    const ids = new Set(receiver.requests('/flaky', checkoutId).map((request) => request.headers['settle-event-id']));
    expect(ids.size).toBe(1);

    const delivery = await eventually('the delivery recorded', async () =>
      (await deliveriesOf(settle, endpoint.id)).find((entry) => entry.checkoutId === checkoutId && entry.status === 'delivered'),
    );
    expect(delivery).toMatchObject({ eventType: 'checkout.succeeded', attempts: 3, lastHttpStatus: 204, lastError: null, failedAt: null });
  });

  it("gives up on an event after its retries, records it failed, and then sends the checkout's next one", async () => {
    const endpoint = await createEndpoint(settle, '/refuses-created', ['checkout.created', 'checkout.succeeded']);
    receiver.behave('/refuses-created', (request) => (request.event.type === 'checkout.created' ? 'fail' : 'ok'));
    const checkoutId = await checkoutRun(settle);

    await eventually('checkout.succeeded delivered', async () => receiver.delivered('/refuses-created', checkoutId).length === 1, 30_000);
    const log = (await deliveriesOf(settle, endpoint.id)).filter((entry) => entry.checkoutId === checkoutId);
    const created = log.find((entry) => entry.eventType === 'checkout.created');
    const succeeded = log.find((entry) => entry.eventType === 'checkout.succeeded');
    expect(created).toMatchObject({ status: 'failed', lastHttpStatus: 500, lastError: 'HTTP 500', nextAttemptAt: null });
    expect(created.attempts).toBeGreaterThan(2);
    expect(succeeded).toMatchObject({ status: 'delivered', attempts: 1 });
    // In order: the next event went out only once the first was given up.
    const requests = receiver.requests('/refuses-created', checkoutId);
    expect(requests[requests.length - 1]!.event.type).toBe('checkout.succeeded');
    expect(requests.slice(0, -1).every((request) => request.event.type === 'checkout.created')).toBe(true);
  });

  it('a disabled endpoint receives nothing more', async () => {
    const endpoint = await createEndpoint(settle, '/disabled', ['*']);
    await createEndpoint(settle, '/control', ['*']);
    const before = await checkoutRun(settle);
    await eventually('the first checkout delivered', async () => receiver.delivered('/disabled', before).length === (await feedOf(settle, before)).length);

    const disabled = await settle.post(`/v1/webhook-endpoints/${endpoint.id}/disable`, {});
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ id: endpoint.id, status: 'disabled', disabledAt: expect.any(String) });
    expect((await settle.post(`/v1/webhook-endpoints/${endpoint.id}/disable`, {})).body.status).toBe('disabled');
    expect((await settle.get(`/v1/webhook-endpoints/${endpoint.id}`)).body.status).toBe('disabled');

    const after = await checkoutRun(settle);
    await eventually('the control endpoint got the second checkout', async () => receiver.delivered('/control', after).length === (await feedOf(settle, after)).length);
    await eventually('the endpoint workflow ended', async () => {
      const { status } = await settle.temporal.workflow.getHandle(webhookEndpointWorkflowId(endpoint.id)).describe();
      return status.name !== 'RUNNING';
    });
    expect(receiver.requests('/disabled', after)).toEqual([]);
    // A poll under way when the endpoint was disabled may still have recorded one; it was never sent.
    const logged = (await deliveriesOf(settle, endpoint.id)).filter((entry) => entry.checkoutId === after);
    expect(logged.filter((entry) => entry.status !== 'canceled' || entry.attempts !== 0)).toEqual([]);
  });

  it('lists endpoints as Stripe does, never shows a secret again, and answers 404 for an unknown one', async () => {
    const first = await createEndpoint(settle, '/listed-1', ['refund.succeeded']);
    const second = await createEndpoint(settle, '/listed-2', ['refund.succeeded']);
    const page = await settle.get('/v1/webhook-endpoints?limit=1');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ object: 'list', has_more: true, url: '/v1/webhook-endpoints' });
    expect(page.body.data.map((endpoint: { id: string }) => endpoint.id)).toEqual([second.id]);
    const next = await settle.get(`/v1/webhook-endpoints?limit=1&starting_after=${second.id}`);
    expect(next.body.data.map((endpoint: { id: string }) => endpoint.id)).toEqual([first.id]);

    const read = await settle.get(`/v1/webhook-endpoints/${first.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: first.id, url: `${receiver.url}/listed-1`, events: ['refund.succeeded'], status: 'enabled', description: 'test receiver' });
    expect(read.body.secret).toBeUndefined();
    expect(JSON.stringify(page.body)).not.toContain('whsec_');

    expect((await settle.get('/v1/webhook-endpoints/we_00000000000000000000000000000000')).status).toBe(404);
    expect((await settle.get('/v1/webhook-endpoints/nope/deliveries')).status).toBe(404);
    expect((await settle.post('/v1/webhook-endpoints/nope/disable', {})).status).toBe(404);
    expect((await settle.get('/v1/webhook-endpoints?starting_after=we_00000000000000000000000000000000')).body.error.code).toBe('invalid_cursor');
    expect((await settle.get(`/v1/webhook-endpoints/${first.id}/deliveries?starting_after=whd_x`)).body.error.code).toBe('invalid_cursor');
  });
});

describe('webhook URL rules', () => {
  it.each([
    ['an ftp:// URL', 'ftp://example.com/hooks', 'invalid_request'],
    ['not a URL', 'example.com/hooks', 'invalid_request'],
    ['a URL with a password', 'https://user:secret@example.com/hooks', 'invalid_request'],
    ['loopback', 'http://127.0.0.1:9/hooks', 'url_not_allowed'],
    ['IPv6 loopback', 'http://[::1]:9/hooks', 'url_not_allowed'],
    ['loopback mapped into IPv6', 'http://[::ffff:127.0.0.1]:9/hooks', 'url_not_allowed'],
    ['a private network', 'http://10.1.2.3/hooks', 'url_not_allowed'],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data', 'url_not_allowed'],
    ['unspecified', 'http://0.0.0.0/hooks', 'url_not_allowed'],
    ['a name that resolves to loopback', 'http://localhost:9/hooks', 'url_not_allowed'],
  ])('refuses %s without the development setting (400)', async (_what, url, code) => {
    const answer = await strict.post('/v1/webhook-endpoints', { url, events: ['*'] });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.details).toEqual([expect.objectContaining({ field: 'url' })]);
    const { rows } = await strict.pool.query(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE url = ANY($1)`, [
      [url, URL.canParse(url) ? new URL(url).toString() : url],
    ]);
    expect(rows[0].n).toBe(0);
  });

  it.each([
    ['no url', { events: ['*'] }, 'url'],
    ['no events', { url: 'https://example.com/hooks' }, 'events'],
    ['an empty list of events', { url: 'https://example.com/hooks', events: [] }, 'events'],
    ['an unknown event type', { url: 'https://example.com/hooks', events: ['checkout.exploded'] }, 'events[0]'],
    ['an event type twice', { url: 'https://example.com/hooks', events: ['checkout.succeeded', 'checkout.succeeded'] }, 'events'],
    ['an unknown field', { url: 'https://example.com/hooks', events: ['*'], secret: 'mine' }, 'secret'],
    ['a description that is not text', { url: 'https://example.com/hooks', events: ['*'], description: 42 }, 'description'],
  ])('refuses a body with %s (400, naming the field)', async (_what, body, field) => {
    const answer = await strict.post('/v1/webhook-endpoints', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    expect(answer.body.error.details.map((detail: { field: string }) => detail.field)).toContain(field);
  });

  it('refuses a body that is not JSON (415)', async () => {
    const answer = await strict.post('/v1/webhook-endpoints', 'url=https://example.com', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(answer.status).toBe(415);
  });

  it('checks the address actually connected at delivery: an endpoint whose name now resolves to loopback gets nothing', async () => {
    // As if its name had resolved to a public address when it was created, and to loopback since (DNS rebinding).
    const port = new URL(receiver.url).port;
    const endpoints = await Promise.all(
      [`http://localhost:${port}/rebound`, `http://127.0.0.1:${port}/literal`].map(async (url) => {
        const id = `we_${randomBytes(16).toString('hex')}`;
        await insertWebhookEndpoint(strict.pool, { id, url, events: ['checkout.created'], description: null, secret: 'whsec_test' });
        await strict.temporal.workflow.start('webhookEndpointWorkflow', {
          workflowId: webhookEndpointWorkflowId(id),
          taskQueue: strict.taskQueue,
          args: [{ endpointId: id, cursor: await eventFeedEnd(strict.pool), policy }],
        });
        return id;
      }),
    );
    const checkoutId = await checkoutRun(strict);
    for (const endpointId of endpoints) {
      const delivery = await eventually(
        'the delivery given up',
        async () => (await deliveriesOf(strict, endpointId)).find((entry) => entry.checkoutId === checkoutId && entry.status === 'failed'),
        30_000,
      );
      expect(delivery.lastHttpStatus).toBeNull();
      expect(delivery.lastError).toMatch(/non-public address/);
    }
    expect(receiver.requests('/rebound')).toEqual([]);
    expect(receiver.requests('/literal')).toEqual([]);
  });
});

describe('webhook address and signature rules', () => {
  it.each(['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '::ffff:7f00:1', '64:ff9b::a00:1', 'not-an-address'])(
    '%s is not public',
    (address) => expect(isPrivateAddress(address)).toBe(true),
  );

  it.each(['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:8.8.8.8'])('%s is public', (address) =>
    expect(isPrivateAddress(address)).toBe(false),
  );

  it("signs as Stripe does: Stripe's verifyHeader accepts the signature and refuses another body", () => {
    const body = JSON.stringify({ id: '1', type: 'checkout.succeeded' });
    const timestamp = Math.floor(Date.now() / 1000);
    const header = webhookSignature('whsec_abc', timestamp, body);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(stripe.webhooks.signature!.verifyHeader(body, header, 'whsec_abc')).toBe(true);
    expect(() => stripe.webhooks.signature!.verifyHeader(`${body} `, header, 'whsec_abc')).toThrow();
  });
});
