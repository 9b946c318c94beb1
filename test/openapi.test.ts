import Stripe from 'stripe';
import { DocumentChecker } from './support/openapi';
import { startSettle, TEST_WEBHOOK_SECRET, uniqueId, type TestResponse, type TestSettle } from './support/settle';

/**
 * GET /openapi.json against the API that serves it: it names every route, its schemas compile, and every
 * answer Settle gives to a sweep of real requests (successes and refusals, on every route) is one it
 * declares, with the body its schema describes.
 */
let settle: TestSettle;
let checker: DocumentChecker;
let document: any;

beforeAll(async () => {
  settle = await startSettle();
  const answer = await settle.get('/openapi.json');
  expect(answer.status).toBe(200);
  document = answer.body;
  checker = new DocumentChecker(document);
});
afterAll(() => settle?.stop());

const operations = () => checker.operations();

function conforms(method: string, url: string, answer: TestResponse): TestResponse {
  checker.check(method, url, answer);
  return answer;
}

async function get(url: string): Promise<TestResponse> {
  return conforms('GET', url, await settle.get(url));
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<TestResponse> {
  return conforms('POST', url, await settle.post(url, body, headers));
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a bearer API key, and every operation names its error answers', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const { path, method, operation } of operations()) {
      expect(typeof operation.operationId).toBe('string');
      const statuses = Object.keys(operation.responses);
      expect(statuses).toEqual(expect.arrayContaining(['400', '500']));
      if (operation.security?.length === 0) continue; // public: health and the Stripe webhook
      expect([path, method, statuses]).toEqual([path, method, expect.arrayContaining(['401', '503'])]);
    }
  });

  it('describes every route the API serves, with schemas that compile', () => {
    const served = operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    for (const route of [
      'POST /v1/checkouts',
      'GET /v1/checkouts/{id}',
      'POST /v1/checkouts/{id}/cancel',
      'POST /v1/checkouts/{id}/capture',
      'POST /v1/checkouts/{id}/retry-compensation',
      'GET /v1/payment-orders/{id}',
      'POST /v1/payment-orders/{id}/refunds',
      'GET /v1/refunds/{id}',
      'GET /v1/wallets/{sellerId}',
      'GET /v1/events',
      'POST /v1/reconciliations',
      'GET /v1/reconciliations/{id}',
      'POST /webhooks/stripe',
      'GET /openapi.json',
    ]) {
      expect(served).toContain(route);
    }
    for (const name of Object.keys(document.components.schemas)) {
      expect([name, typeof checker.compileComponent(name)]).toEqual([name, 'function']);
    }
  });

  it('matches the answers of every route, successes and refusals', async () => {
    // Checkouts: created, read, refused.
    const key = uniqueId('key');
    const sellers = [uniqueId('seller'), uniqueId('seller')];
    const checkoutBody = { customerId: uniqueId('cus'), currency: 'USD', paymentMethod: 'pm_card_visa', orders: sellers.map((sellerId) => ({ sellerId, amount: 1250 })) };
    const created = await post('/v1/checkouts', checkoutBody, { 'Idempotency-Key': key });
    expect(created.status).toBe(202);
    expect((await post('/v1/checkouts', checkoutBody, { 'Idempotency-Key': key })).status).toBe(202);
    expect((await post('/v1/checkouts', { ...checkoutBody, currency: 'EUR' }, { 'Idempotency-Key': key })).status).toBe(409);
    expect((await post('/v1/checkouts', { ...checkoutBody, orders: [] }, { 'Idempotency-Key': uniqueId('key') })).status).toBe(400);
    expect((await post('/v1/checkouts', 'amount=5', { 'Idempotency-Key': uniqueId('key'), 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    const checkoutId = created.body.checkoutId;
    expect((await get(`/v1/checkouts/${checkoutId}`)).status).toBe(200);
    const done = await settle.checkoutResult(checkoutId);
    expect(done.status).toBe('SUCCEEDED');
    expect((await get(`/v1/checkouts/${checkoutId}`)).body.status).toBe('SUCCEEDED');
    expect((await get('/v1/checkouts/co_00000000000000000000000000000000')).status).toBe(404);
    expect((await post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(409);
    expect((await post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(409);
    expect((await post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(409);

    // A manual checkout: captured; another canceled.
    const manual = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('seller'), amount: 700 }] });
    await waitForStatus(manual, 'REQUIRES_CAPTURE');
    expect((await post(`/v1/checkouts/${manual}/capture`, {})).status).toBe(202);
    const toCancel = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('seller'), amount: 700 }] });
    expect((await post(`/v1/checkouts/${toCancel}/cancel`, { reason: 'changed my mind' })).status).toBe(202);

    // Payment orders, refunds, wallets.
    const orderId = done.orders[0]!.orderId;
    expect((await get(`/v1/payment-orders/${orderId}`)).status).toBe(200);
    expect((await get('/v1/payment-orders/po_nope')).status).toBe(404);
    const refund = await post(`/v1/payment-orders/${orderId}/refunds`, { amount: 250 }, { 'Idempotency-Key': uniqueId('key') });
    expect(refund.status).toBe(202);
    expect((await post(`/v1/payment-orders/${orderId}/refunds`, { amount: 99_999 }, { 'Idempotency-Key': uniqueId('key') })).status).toBe(400);
    expect((await post(`/v1/payment-orders/${orderId}/refunds`, { amount: 1 })).status).toBe(400);
    expect((await get(`/v1/refunds/${refund.body.refundId}`)).status).toBe(200);
    expect((await get('/v1/refunds/re_nope')).status).toBe(404);
    expect((await get(`/v1/wallets/${sellers[0]}`)).status).toBe(200);
    expect((await get(`/v1/wallets/${uniqueId('nobody')}`)).status).toBe(404);

    // The event feed.
    const events = await get('/v1/events?limit=5');
    expect(events.status).toBe(200);
    expect((await get(`/v1/events?after=${events.body.nextCursor}&limit=2`)).status).toBe(200);
    expect((await get('/v1/events?limit=0')).status).toBe(400);

    // Reconciliation.
    const run = await post('/v1/reconciliations', { date: '2024-01-02' });
    expect(run.status).toBe(202);
    expect((await get(`/v1/reconciliations/${run.body.reconciliationId}`)).status).toBe(200);
    expect((await get('/v1/reconciliations/rec_nope')).status).toBe(404);

    // The Stripe webhook (public; its signature stands for the key).
    const payload = JSON.stringify({ id: `evt_${uniqueId('x')}`, object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: TEST_WEBHOOK_SECRET });
    expect((await post('/webhooks/stripe', payload, { 'Stripe-Signature': signature })).status).toBe(200);
    expect((await post('/webhooks/stripe', payload, { 'Stripe-Signature': 't=1,v1=00' })).status).toBe(400);

    expect((await get('/openapi.json')).status).toBe(200);

    // Operations, listings, stats, the ledger.
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
    expect((await get(`/v1/checkouts?customerId=${checkoutBody.customerId}&limit=2`)).body.data).toHaveLength(1);
    expect((await get('/v1/checkouts?limit=0')).status).toBe(400);
    expect((await get(`/v1/payment-orders?checkoutId=${checkoutId}`)).body.data).toHaveLength(2);
    expect((await get(`/v1/refunds?paymentOrderId=${orderId}`)).status).toBe(200);
    expect((await get('/v1/refunds?starting_after=re_nope')).status).toBe(400);
    expect((await get('/v1/stats?created[gte]=2020-01-01T00:00:00Z&created[lt]=2100-01-01T00:00:00Z')).status).toBe(200);
    const entries = await get(`/v1/ledger/accounts/${encodeURIComponent(`seller_payable:${sellers[0]}:USD`)}/entries`);
    expect(entries.status).toBe(200);
    expect((await get('/v1/ledger/accounts/nope/entries')).status).toBe(404);

    const unanswered = operations()
      .map(({ operation }) => operation.operationId as string)
      .filter((id) => ![...(checker.seen.get(id) ?? [])].some((status) => status < 300));
    // The few that need a set-up of their own are checked in their suites: every answer startSettle's client reads is checked.
    expect(unanswered.filter((id) => !OPERATIONS_CHECKED_ELSEWHERE.has(id))).toEqual([]);
  });

  it('answers 4xx, never 500, to path ids, cursors and dates that are out of every range', async () => {
    const malformedId = await get('/v1/checkouts/%FF');
    expect(malformedId.status).toBe(400);
    expect(malformedId.body.error.code).toBe('invalid_request');
    for (const path of ['/v1/payment-orders/%E0%A4%A', '/v1/refunds/%', '/v1/wallets/%C0', '/v1/reconciliations/%FF']) {
      expect([path, (await get(path)).status]).toEqual([path, 400]);
    }
    // A cursor whose event id is beyond bigint.
    const cursor = Buffer.from('1:99999999999999999999').toString('base64url');
    expect((await get(`/v1/events?after=${cursor}`)).status).toBe(400);
    for (const after of ['9999999999999999999', 'null', '-1', '1e3']) {
      expect([after, (await get(`/v1/reconciliations/rec_x?after=${after}`)).status]).toEqual([after, 400]);
    }

    const before = await settle.pool.query<{ count: string }>("SELECT count(*) FROM reconciliation_runs WHERE settlement_day < '1970-01-01'");
    for (const date of ['0000-01-01', '0001-01-01', '1969-12-31']) {
      const answer = await post('/v1/reconciliations', { date });
      expect([date, answer.status, answer.body.error.code]).toEqual([date, 400, 'invalid_request']);
    }
    const after = await settle.pool.query<{ count: string }>("SELECT count(*) FROM reconciliation_runs WHERE settlement_day < '1970-01-01'");
    expect(after.rows[0]!.count).toBe(before.rows[0]!.count);
  });

  it('answers 415 to a body that is present and not JSON on every route, even one that takes no body', async () => {
    for (const { path, method, operation } of operations()) {
      if (method !== 'post' || operation.security?.length === 0) continue;
      const url = path.replace(/\{[^}]+\}/g, 'x');
      const answer = await post(url, 'a=1', { 'Content-Type': 'application/x-www-form-urlencoded', 'Idempotency-Key': uniqueId('key') });
      expect([url, answer.status]).toEqual([url, 415]);
    }
  });
});

/** Operations whose answers are checked against this document by their own suites. */
const OPERATIONS_CHECKED_ELSEWHERE = new Set<string>([
  'retryCompensation', // adversary2, failurePaths: a checkout that holds money after a refusal
  'createWebhookEndpoint', // outgoingWebhooks
  'listWebhookEndpoints',
  'getWebhookEndpoint',
  'disableWebhookEndpoint',
  'listWebhookDeliveries',
]);

async function waitForStatus(checkoutId: string, status: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await settle.checkout(checkoutId)).status !== status) {
    if (Date.now() > deadline) throw new Error(`checkout ${checkoutId} never reached ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
