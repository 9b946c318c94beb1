import http from 'node:http';
import type { Server } from 'node:http';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../api/app';
import { loadConfig } from '../config';
import { checkoutWorkflowId } from '../domain/ids';
import { refundWorkflowId } from '../domain/refund';
import { eventually, parseBody, readAnswer, startSettle, uniqueId, type TestResponse, type TestSettle } from './support/settle';

let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle();
});
afterAll(() => settle?.stop());

/** A request exactly as a client such as curl sends it: the API key, the headers given and no others, the body's bytes as given. */
function rawPost(path: string, options: { headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {}): Promise<TestResponse> {
  const url = new URL(settle.baseUrl + path);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...settle.authHeaders, ...options.headers };
    if (options.body !== undefined && !options.chunked) headers['Content-Length'] = String(Buffer.byteLength(options.body));
    if (options.body === undefined && !options.chunked) headers['Content-Length'] = '0';
    const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = parseBody(Buffer.concat(chunks).toString('utf8'));
        resolve({ status: response.statusCode!, headers: new Headers(response.headers as Record<string, string>), body });
      });
    });
    request.on('error', reject);
    if (options.body !== undefined) request.write(options.body);
    request.end();
  });
}

const form = { 'Content-Type': 'application/x-www-form-urlencoded' };

async function capturedOrders(count: number, amount = 1000): Promise<string[]> {
  const orders = Array.from({ length: count }, () => ({ sellerId: uniqueId('seller'), amount }));
  const result = await settle.checkoutResult(await settle.createCheckout({ orders }));
  expect(result.status).toBe('SUCCEEDED');
  return result.orders.map((order) => order.orderId);
}

async function refundsOf(paymentOrderId: string): Promise<Array<{ amount: number; status: string }>> {
  const { rows } = await settle.pool.query('SELECT amount::int, status FROM refunds WHERE payment_order_id = $1 ORDER BY created_at', [paymentOrderId]);
  return rows;
}

async function keyWasClaimed(key: string): Promise<boolean> {
  const { rowCount } = await settle.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
  return rowCount === 1;
}

/** A manual-capture checkout whose orders have all authorized and which waits for its capture. */
async function waitingForCapture(): Promise<string> {
  const checkoutId = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('seller'), amount: 1500 }] });
  await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
  // The API answers the workflow's live state, which says REQUIRES_CAPTURE before the activity that records it
  // (and its event) has committed: a "before" taken then would miss that event.
  await eventually('the books to record it', async () => (await eventTypes(checkoutId)).includes('checkout.requires_capture'));
  return checkoutId;
}

async function eventTypes(checkoutId: string): Promise<string[]> {
  const { rows } = await settle.pool.query('SELECT type FROM events WHERE checkout_id = $1 ORDER BY id', [checkoutId]);
  return rows.map((row) => row.type);
}

/** What a checkout still waiting for its capture looks like, to compare before and after a refused request. */
async function waitingState(checkoutId: string) {
  const view = await settle.checkout(checkoutId);
  return { status: view.status, orders: view.orders.map((o) => o.status), events: await eventTypes(checkoutId) };
}

describe('a body that is present and not JSON is refused with 415', () => {
  it('a form-encoded partial refund (curl without -H Content-Type) answers 415 and refunds nothing', async () => {
    const [orderId] = await capturedOrders(1);
    const key = uniqueId('key');
    const answer = await rawPost(`/v1/payment-orders/${orderId}/refunds`, { headers: { ...form, 'Idempotency-Key': key }, body: '{"amount":500}' });
    expect(answer.status).toBe(415);
    expect(answer.body.error.code).toBe('unsupported_media_type');
    expect(await refundsOf(orderId!)).toEqual([]);
    expect(await keyWasClaimed(key)).toBe(false);

    // The key is not spent: the same request sent as JSON is the partial refund it always meant.
    const json = await settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 500 }, { 'Idempotency-Key': key });
    expect(json.status).toBe(202);
    expect(json.body.amount).toBe(500);
    await settle.temporal.workflow.getHandle(refundWorkflowId(json.body.refundId)).result();
    expect(await refundsOf(orderId!)).toEqual([{ amount: 500, status: 'SUCCEEDED' }]);
  });

  it.each([
    ['form-encoded', { ...form }, 'amount=500', false],
    ['with no Content-Type at all', {}, '{"amount":500}', false],
    ['as text/plain', { 'Content-Type': 'text/plain' }, '{"amount":500}', false],
    ['form-encoded and chunked', { ...form }, 'amount=500', true],
  ] as Array<[string, Record<string, string>, string, boolean]>)('a refund body sent %s answers 415 and refunds nothing', async (_name, headers, body, chunked) => {
    const [orderId] = await capturedOrders(1);
    const answer = await rawPost(`/v1/payment-orders/${orderId}/refunds`, { headers: { ...headers, 'Idempotency-Key': uniqueId('key') }, body, chunked });
    expect(answer.status).toBe(415);
    expect(answer.body.error.code).toBe('unsupported_media_type');
    expect(await refundsOf(orderId!)).toEqual([]);
  });

  it('an absent body, or an empty JSON one, is a refund of everything left', async () => {
    const [noBody, emptyJson] = await capturedOrders(2);
    const absent = await rawPost(`/v1/payment-orders/${noBody}/refunds`, { headers: { 'Idempotency-Key': uniqueId('key') } });
    expect(absent.status).toBe(202);
    expect(absent.body.amount).toBe(1000);
    const empty = await rawPost(`/v1/payment-orders/${emptyJson}/refunds`, {
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': uniqueId('key') },
      body: '',
    });
    expect(empty.status).toBe(202);
    expect(empty.body.amount).toBe(1000);
  });

  it('a form-encoded cancel answers 415, keeps its reason from being dropped, and changes nothing', async () => {
    const checkoutId = await waitingForCapture();
    const before = await waitingState(checkoutId);
    const answer = await rawPost(`/v1/checkouts/${checkoutId}/cancel`, { headers: form, body: 'reason=fraud+suspected' });
    expect(answer.status).toBe(415);
    expect(answer.body.error.code).toBe('unsupported_media_type');
    expect(await waitingState(checkoutId)).toEqual(before);

    const canceled = await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'fraud suspected' });
    expect(canceled.status).toBe(202);
    expect(await settle.checkoutResult(checkoutId)).toMatchObject({ status: 'CANCELED', failureReason: 'Canceled: fraud suspected' });
  });

  it('a capture with a body that is not JSON answers 415 and captures nothing; one with no body captures', async () => {
    const checkoutId = await waitingForCapture();
    const before = await waitingState(checkoutId);
    for (const [headers, body] of [[form, 'now=1'], [{}, '{}']] as Array<[Record<string, string>, string]>) {
      const answer = await rawPost(`/v1/checkouts/${checkoutId}/capture`, { headers, body });
      expect(answer.status).toBe(415);
      expect(answer.body.error.code).toBe('unsupported_media_type');
    }
    expect(await waitingState(checkoutId)).toEqual(before);

    const captured = await rawPost(`/v1/checkouts/${checkoutId}/capture`);
    expect(captured.status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
  });

  it('a required body still answers 415 when absent, and 400 naming the fields when it is empty JSON', async () => {
    const absent = await rawPost('/v1/checkouts', { headers: { 'Idempotency-Key': uniqueId('key') } });
    expect(absent.status).toBe(415);
    const empty = await rawPost('/v1/checkouts', { headers: { 'Content-Type': 'application/json', 'Idempotency-Key': uniqueId('key') }, body: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.details).toContainEqual(expect.objectContaining({ field: 'customerId' }));
  });
});

describe('text is validated at the edge', () => {
  it.each([
    ['a NUL byte', 'a\u0000b'],
    ['a bell', 'a\u0007b'],
    ['an escape sequence', '\u001b[31mred'],
    ['a carriage return', 'a\rb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u0085b'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', 'a\udc00'],
  ])('a cancel reason holding %s answers 400 naming the field, and changes nothing', async (_name, reason) => {
    const checkoutId = await waitingForCapture();
    const before = await waitingState(checkoutId);
    const answer = await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_request', details: [expect.objectContaining({ field: 'reason' })] });
    expect(answer.body.error.message).toContain('reason');
    expect(await waitingState(checkoutId)).toEqual(before);

    // Not wedged: the checkout still captures.
    expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
  });

  it('a cancel reason that is not valid UTF-8 answers 400 and changes nothing', async () => {
    const checkoutId = await waitingForCapture();
    const before = await waitingState(checkoutId);
    const body = Buffer.concat([Buffer.from('{"reason":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')]);
    const answer = await rawPost(`/v1/checkouts/${checkoutId}/cancel`, { headers: { 'Content-Type': 'application/json' }, body });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    expect(await waitingState(checkoutId)).toEqual(before);
    expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
  });

  it('a cancel reason may span lines and hold tabs and any language', async () => {
    const checkoutId = await waitingForCapture();
    const reason = 'buyer wrote:\n\t« annulez » 取消 🙏';
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason })).status).toBe(202);
    expect(await settle.checkoutResult(checkoutId)).toMatchObject({ status: 'CANCELED', failureReason: `Canceled: ${reason}` });
  });

  it('a reconciliation id or an event cursor holding control characters answers 400 naming it', async () => {
    const run = await settle.get('/v1/reconciliations/rec_%07x');
    expect(run.status).toBe(400);
    expect(run.body.error).toMatchObject({ code: 'invalid_request', details: [expect.objectContaining({ field: 'id' })] });
    const events = await settle.get('/v1/events?after=%01');
    expect(events.status).toBe(400);
    expect(events.body.error.details).toContainEqual(expect.objectContaining({ field: 'after' }));
  });
});

/**
 * An API of its own, on the suite's worker and task queue, whose Temporal client records every workflow start
 * it is asked for and can be made to die before one reaches Temporal.
 */
interface CountingApi {
  starts: string[];
  /** The next start never reaches Temporal, as if the API process died after claiming the key. */
  dieBeforeNextStart(): void;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  stop(): Promise<void>;
}

async function countingApi(idempotencyKeyTtlHours?: number): Promise<CountingApi> {
  const starts: string[] = [];
  let dying = false;
  const temporal = new Client({
    connection: settle.temporal.connection,
    interceptors: {
      workflow: [
        {
          async start(input, next) {
            starts.push(input.options.workflowId);
            if (dying) {
              dying = false;
              throw new Error('the API process died before the workflow start reached Temporal');
            }
            return next(input);
          },
        },
      ],
    },
  });
  const app = createApp({
    pool: settle.pool,
    temporal,
    taskQueue: settle.taskQueue,
    authorizationWindowMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...(idempotencyKeyTtlHours === undefined ? {} : { idempotencyKeyTtlHours }),
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    starts,
    dieBeforeNextStart: () => {
      dying = true;
    },
    async post(path, body, headers = {}) {
      const response = await fetch(baseUrl + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...settle.authHeaders, ...headers },
        body: JSON.stringify(body),
      });
      return readAnswer(response);
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Every run Temporal holds for a workflow id. */
async function runsOf(workflowId: string): Promise<string[]> {
  const runs: string[] = [];
  for await (const execution of settle.temporal.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(execution.runId);
  return runs;
}

/** The runs of a workflow that has started, once its visibility record has caught up. */
function listedRuns(workflowId: string): Promise<string[]> {
  return eventually(`a run of ${workflowId} to be listed`, async () => {
    const runs = await runsOf(workflowId);
    return runs.length > 0 && runs;
  });
}

async function startedMark(key: string): Promise<Date | null> {
  const { rows } = await settle.pool.query('SELECT started_at FROM idempotency_keys WHERE key = $1', [key]);
  expect(rows).toHaveLength(1);
  return rows[0].started_at;
}

async function ageKey(key: string, hours: number): Promise<void> {
  await settle.pool.query(`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2) WHERE key = $1`, [key, hours]);
}

const checkoutBody = () => ({
  customerId: uniqueId('cus'),
  currency: 'USD',
  paymentMethod: 'pm_card_visa',
  orders: [{ sellerId: uniqueId('seller'), amount: 700 }],
});

describe('a replayed Idempotency-Key starts work only if it never started', () => {
  let api: CountingApi;
  beforeAll(async () => {
    api = await countingApi();
  });
  afterAll(() => api?.stop());

  it('a replay after the checkout has finished does not start it again', async () => {
    const key = uniqueId('key');
    const body = checkoutBody();
    const first = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    const workflowId = checkoutWorkflowId(first.body.checkoutId);
    expect((await settle.checkoutResult(first.body.checkoutId)).status).toBe('SUCCEEDED');
    expect(await startedMark(key)).not.toBeNull();
    const { runId } = await settle.temporal.workflow.getHandle(workflowId).describe();

    const replay = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(api.starts.filter((id) => id === workflowId)).toEqual([workflowId]);
    expect((await settle.temporal.workflow.getHandle(workflowId).describe()).runId).toBe(runId);
    expect(await listedRuns(workflowId)).toEqual([runId]);
  });

  it('a replay of a checkout whose first attempt died before starting it starts it, once however many replays race', async () => {
    const key = uniqueId('key');
    const body = checkoutBody();
    api.dieBeforeNextStart();
    const first = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(first.status).toBe(500);
    expect(await startedMark(key)).toBeNull();
    const { rows } = await settle.pool.query('SELECT resource_id FROM idempotency_keys WHERE key = $1', [key]);
    const checkoutId: string = rows[0].resource_id;
    const workflowId = checkoutWorkflowId(checkoutId);
    await expect(settle.temporal.workflow.getHandle(workflowId).describe()).rejects.toThrow(WorkflowNotFoundError);

    const replays = await Promise.all(Array.from({ length: 6 }, () => api.post('/v1/checkouts', body, { 'Idempotency-Key': key })));
    expect(replays.map((r) => [r.status, r.body.checkoutId])).toEqual(Array(6).fill([202, checkoutId]));
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
    expect(await startedMark(key)).not.toBeNull();
    const { runId } = await settle.temporal.workflow.getHandle(workflowId).describe();
    expect(await listedRuns(workflowId)).toEqual([runId]);

    // Marked started: a later replay asks Temporal for nothing.
    const startsBefore = api.starts.length;
    expect((await api.post('/v1/checkouts', body, { 'Idempotency-Key': key })).status).toBe(202);
    expect(api.starts.length).toBe(startsBefore);
  });

  it('an expired key is free again: the same key is a new checkout, and racing claims make exactly one', async () => {
    const key = uniqueId('key');
    const body = checkoutBody();
    const first = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    await settle.checkoutResult(first.body.checkoutId);
    await ageKey(key, 25);

    const again = await Promise.all(Array.from({ length: 6 }, () => api.post('/v1/checkouts', body, { 'Idempotency-Key': key })));
    expect(again.map((a) => a.status)).toEqual(Array(6).fill(202));
    const ids = new Set(again.map((a) => a.body.checkoutId));
    expect(ids.size).toBe(1);
    const [secondId] = [...ids] as string[];
    expect(secondId).not.toBe(first.body.checkoutId);
    expect(again.filter((a) => a.headers.get('Idempotent-Replayed') === 'true')).toHaveLength(5);
    expect((await settle.checkoutResult(secondId!)).status).toBe('SUCCEEDED');
    // Replays racing the first attempt may ask Temporal too (it has not marked the key yet): one run still.
    const { runId } = await settle.temporal.workflow.getHandle(checkoutWorkflowId(secondId!)).describe();
    expect(await listedRuns(checkoutWorkflowId(secondId!))).toEqual([runId]);
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM checkouts WHERE customer_id = $1', [body.customerId]);
    expect(rows[0].n).toBe(2);

    // Once expired, the key may carry another request without a conflict.
    await ageKey(key, 25);
    const other = await api.post('/v1/checkouts', checkoutBody(), { 'Idempotency-Key': key });
    expect(other.status).toBe(202);
    await settle.checkoutResult(other.body.checkoutId);
  });

  it('a key younger than its time to live is still a replay', async () => {
    const key = uniqueId('key');
    const body = checkoutBody();
    const first = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    await settle.checkoutResult(first.body.checkoutId);
    await ageKey(key, 23);
    const replay = await api.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(replay.body).toEqual(first.body);
    expect((await api.post('/v1/checkouts', checkoutBody(), { 'Idempotency-Key': key })).status).toBe(409);
  });

  it('the time to live is a setting', async () => {
    expect(loadConfig({}).idempotencyKeyTtlHours).toBe(24);
    expect(loadConfig({ IDEMPOTENCY_KEY_TTL_HOURS: '1' }).idempotencyKeyTtlHours).toBe(1);
    expect(() => loadConfig({ IDEMPOTENCY_KEY_TTL_HOURS: '0' })).toThrow(/IDEMPOTENCY_KEY_TTL_HOURS/);

    const hourly = await countingApi(1);
    try {
      const key = uniqueId('key');
      const body = checkoutBody();
      const first = await hourly.post('/v1/checkouts', body, { 'Idempotency-Key': key });
      await settle.checkoutResult(first.body.checkoutId);
      await ageKey(key, 2);
      const again = await hourly.post('/v1/checkouts', body, { 'Idempotency-Key': key });
      expect(again.status).toBe(202);
      expect(again.body.checkoutId).not.toBe(first.body.checkoutId);
      await settle.checkoutResult(again.body.checkoutId);
    } finally {
      await hourly.stop();
    }
  });

  it('a replay of a refund the PSP refused does not start it again', async () => {
    const [orderId] = await capturedOrders(1);
    settle.psp.inject({ operation: 'refund', paymentOrderId: orderId! }, { kind: 'decline', code: 'charge_disputed' });
    const key = uniqueId('key');
    const first = await api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 400 }, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    const workflowId = refundWorkflowId(first.body.refundId);
    await settle.temporal.workflow.getHandle(workflowId).result();
    expect(await refundsOf(orderId!)).toEqual([{ amount: 400, status: 'FAILED' }]);
    expect(await startedMark(key)).not.toBeNull();
    const { runId } = await settle.temporal.workflow.getHandle(workflowId).describe();

    const replay = await api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 400 }, { 'Idempotency-Key': key });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(api.starts.filter((id) => id === workflowId)).toEqual([workflowId]);
    expect(await listedRuns(workflowId)).toEqual([runId]);
    expect(await refundsOf(orderId!)).toEqual([{ amount: 400, status: 'FAILED' }]);
  });

  it('a replay of a refund whose first attempt died before starting it starts it, once', async () => {
    const [orderId] = await capturedOrders(1);
    const key = uniqueId('key');
    api.dieBeforeNextStart();
    const first = await api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': key });
    expect(first.status).toBe(500);
    expect(await refundsOf(orderId!)).toEqual([{ amount: 300, status: 'PENDING' }]);
    expect(await startedMark(key)).toBeNull();

    const replays = await Promise.all(Array.from({ length: 4 }, () => api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': key })));
    expect(replays.map((r) => r.status)).toEqual([202, 202, 202, 202]);
    const refundId = replays[0]!.body.refundId;
    expect(new Set(replays.map((r) => r.body.refundId))).toEqual(new Set([refundId]));
    await settle.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();
    expect(await refundsOf(orderId!)).toEqual([{ amount: 300, status: 'SUCCEEDED' }]);
    expect(await startedMark(key)).not.toBeNull();
    expect(await settle.psp.chargesFor(orderId!)).toEqual([expect.objectContaining({ amountRefunded: 300 })]);
  });

  it('an expired refund key is a new refund', async () => {
    const [orderId] = await capturedOrders(1);
    const key = uniqueId('key');
    const first = await api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 200 }, { 'Idempotency-Key': key });
    await settle.temporal.workflow.getHandle(refundWorkflowId(first.body.refundId)).result();
    await ageKey(key, 25);
    const second = await api.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 200 }, { 'Idempotency-Key': key });
    expect(second.status).toBe(202);
    expect(second.headers.get('Idempotent-Replayed')).toBeNull();
    expect(second.body.refundId).not.toBe(first.body.refundId);
    await settle.temporal.workflow.getHandle(refundWorkflowId(second.body.refundId)).result();
    expect(await refundsOf(orderId!)).toEqual([
      { amount: 200, status: 'SUCCEEDED' },
      { amount: 200, status: 'SUCCEEDED' },
    ]);
  });
});
