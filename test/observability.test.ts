import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import pino, { type Logger } from 'pino';
import { createApp } from '../api/app';
import type { CheckoutInput } from '../domain/checkout';
import { checkoutWorkflowId } from '../domain/ids';
import type { Currency } from '../domain/money';
import { createPool, type Pool } from '../db/pool';
import { startTemporalDevServer, type DevServer } from '../dev/temporalServer';
import type { checkoutWorkflow } from '../workflows/checkout';
import { buildSettle } from './support/build';
import { freePort } from './support/ports';
import { SettleProcesses, type SettleProcess } from './support/processes';
import { eventually, readAnswer, startSettle, uniqueId, type TestResponse, type TestSettle } from './support/settle';

/**
 * What an operator sees of Settle from outside: a Request-Id on every answer and log line, access lines naming
 * the route and the checkout, Prometheus metrics that follow real money, readiness that names the dependency
 * that is down, a busy database answered 503 instead of a hang, and the worker's own SDK metrics.
 */

/** Every line the API logged, parsed. */
const lines: Array<Record<string, any>> = [];
const captured = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
    done();
  },
});
const logger = pino({ level: 'debug' }, captured);

let settle: TestSettle;
let databaseUrl: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  // A database of its own: the money totals it reports are this file's checkouts and nobody else's.
  settle = await startSettle({ isolatedDatabase: true, logger });
  databaseUrl = (settle.pool as unknown as { options: { connectionString: string } }).options.connectionString;
}, 60_000);

afterAll(async () => {
  // Together: a pool still connecting to a silent server ends only once that server drops its sockets.
  await Promise.all(cleanups.map((cleanup) => cleanup().catch(() => undefined)));
  await settle?.stop();
});

const GENERATED_ID = /^req_[0-9a-f]{24}$/;

type Init = Omit<RequestInit, 'headers'> & { headers?: Record<string, string> };

async function call(baseUrl: string, url: string, init: Init = {}): Promise<TestResponse> {
  return readAnswer(await fetch(baseUrl + url, init));
}

const withKey = (headers: Record<string, string> = {}) => ({ ...settle.authHeaders, ...headers });

/** The access line of the request with this id (pino-http's, the one with a status). */
function accessLine(requestId: string): Record<string, any> | undefined {
  return lines.find((line) => line.requestId === requestId && line.res?.statusCode !== undefined);
}

/** Parses Prometheus's text format into `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

async function scrape(): Promise<Map<string, number>> {
  const answer = await call(settle.baseUrl, '/metrics', { headers: withKey() });
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
  return samples(answer.body);
}

/** An API of its own over the given pool and Temporal client (Settle's own, unless given). */
async function apiWith(options: { pool?: Pool; temporal?: Client; logger?: Logger }): Promise<string> {
  const app = createApp({
    pool: options.pool ?? settle.pool,
    temporal: options.temporal ?? settle.temporal,
    taskQueue: settle.taskQueue,
    authorizationWindowMs: 60_000,
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  cleanups.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A TCP server that takes connections and never says a word: a dependency that hangs. */
async function silentServer(): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

function trackedPool(url: string, max: number, limits: Parameters<typeof createPool>[2] = {}): Pool {
  const pool = createPool(url, max, limits);
  cleanups.push(() => pool.end());
  return pool;
}

describe('request ids', () => {
  it('generates a Request-Id for every answer, and keeps a client’s own when it is printable ASCII of 1-200 characters', async () => {
    const healthy = await call(settle.baseUrl, '/healthz');
    expect(healthy.status).toBe(200);
    expect(healthy.headers.get('request-id')).toMatch(GENERATED_ID);

    const own = `client-${randomUUID()} attempt 2`;
    expect((await call(settle.baseUrl, '/healthz', { headers: { 'Request-Id': own } })).headers.get('request-id')).toBe(own);

    for (const refused of ['x'.repeat(201), 'caf\u00e9']) {
      const answer = await fetch(`${settle.baseUrl}/healthz`, { headers: { 'Request-Id': Buffer.from(refused, 'utf8').toString('latin1') } });
      expect(answer.headers.get('request-id')).toMatch(GENERATED_ID);
    }
  });

  it('answers it on refusals too: 401, 404, 415', async () => {
    const cases: Array<[number, string, Init]> = [
      [401, '/v1/checkouts', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }],
      [404, '/no/such/route', { headers: withKey() }],
      [
        415,
        '/v1/checkouts',
        { method: 'POST', headers: withKey({ 'Content-Type': 'text/plain', 'Idempotency-Key': uniqueId('key') }), body: 'not json' },
      ],
    ];
    for (const [status, url, init] of cases) {
      const requestId = `refused-${status}-${randomUUID()}`;
      const answer = await call(settle.baseUrl, url, { ...init, headers: { ...init.headers, 'Request-Id': requestId } });
      expect([url, answer.status, answer.headers.get('request-id')]).toEqual([url, status, requestId]);
      await eventually(`the access line of the ${status}`, async () => accessLine(requestId));
      expect(accessLine(requestId)).toMatchObject({ req: { method: init.method ?? 'GET' }, res: { statusCode: status } });
    }
  });
});

describe('access logs', () => {
  it('name the route pattern, the status, the duration, the checkout and its workflow, with secrets redacted', async () => {
    const requestId = `create-${randomUUID()}`;
    const created = await call(settle.baseUrl, '/v1/checkouts', {
      method: 'POST',
      headers: withKey({ 'Content-Type': 'application/json', 'Idempotency-Key': uniqueId('key'), 'Request-Id': requestId, Cookie: 'session=secret-cookie' }),
      body: JSON.stringify({ customerId: uniqueId('cus'), currency: 'USD', paymentMethod: 'pm_card_visa', orders: [{ sellerId: uniqueId('sel'), amount: 500 }] }),
    });
    expect(created.status).toBe(202);
    const checkoutId: string = created.body.checkoutId;
    await eventually('the access line of the create', async () => accessLine(requestId));
    const line = accessLine(requestId)!;
    expect(line).toMatchObject({
      msg: 'POST /v1/checkouts 202',
      route: '/v1/checkouts',
      checkoutId,
      workflowId: checkoutWorkflowId(checkoutId),
      req: { method: 'POST', url: '/v1/checkouts', headers: { authorization: '[redacted]', cookie: '[redacted]' } },
      res: { statusCode: 202 },
      durationMs: expect.any(Number),
    });
    expect(JSON.stringify(line)).not.toContain(settle.apiKey);
    expect(JSON.stringify(line)).not.toContain('secret-cookie');

    const readId = `read-${randomUUID()}`;
    expect((await call(settle.baseUrl, `/v1/checkouts/${checkoutId}`, { headers: withKey({ 'Request-Id': readId }) })).status).toBe(200);
    await eventually('the access line of the read', async () => accessLine(readId));
    expect(accessLine(readId)).toMatchObject({ route: '/v1/checkouts/:id', checkoutId, workflowId: checkoutWorkflowId(checkoutId), res: { statusCode: 200 } });
    await settle.checkoutResult(checkoutId);
  });

  it('redact the Stripe-Signature header of a webhook', async () => {
    const requestId = `webhook-${randomUUID()}`;
    const signature = `t=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}`;
    const answer = await call(settle.baseUrl, '/webhooks/stripe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature, 'Request-Id': requestId },
      body: '{"id":"evt_1"}',
    });
    expect(answer.status).toBe(400);
    await eventually('the access line of the webhook', async () => accessLine(requestId));
    expect(accessLine(requestId)!.req.headers['stripe-signature']).toBe('[redacted]');
    expect(JSON.stringify(lines.filter((line) => line.requestId === requestId))).not.toContain(signature);
  });

  it('put probes at debug level and everything else at info or above', async () => {
    const probe = `probe-${randomUUID()}`;
    await call(settle.baseUrl, '/healthz', { headers: { 'Request-Id': probe } });
    await eventually('the probe’s access line', async () => accessLine(probe));
    expect(accessLine(probe)!.level).toBe(pino.levels.values.debug);
    const missing = `missing-${randomUUID()}`;
    await call(settle.baseUrl, '/nowhere', { headers: withKey({ 'Request-Id': missing }) });
    await eventually('the 404’s access line', async () => accessLine(missing));
    expect(accessLine(missing)!.level).toBe(pino.levels.values.info);
  });
});

describe('metrics', () => {
  it('count the money a real checkout captured and a refund gave back, by currency, exactly', async () => {
    const before = await scrape();
    const sellerId = uniqueId('sel');
    const checkoutId = await settle.createCheckout({ currency: 'EUR', orders: [{ sellerId, amount: 1234 }, { sellerId: uniqueId('sel'), amount: 766 }] });
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    const afterCapture = await scrape();
    const delta = (after: Map<string, number>, name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta(afterCapture, 'settle_captured_minor_units_total{currency="EUR"}')).toBe(2000);
    expect(delta(afterCapture, 'settle_checkouts{status="SUCCEEDED"}')).toBe(1);
    expect(afterCapture.get('settle_totals_read')).toBe(1);

    const order = result.orders.find((candidate) => candidate.sellerId === sellerId)!;
    const refund = await settle.post(`/v1/payment-orders/${order.orderId}/refunds`, { amount: 234 }, { 'Idempotency-Key': uniqueId('key') });
    expect(refund.status).toBe(202);
    await eventually('the refund to succeed', async () => (await settle.get(`/v1/refunds/${refund.body.refundId}`)).body.status === 'SUCCEEDED');
    const afterRefund = await scrape();
    expect(delta(afterRefund, 'settle_refunded_minor_units_total{currency="EUR"}')).toBe(234);
    expect(delta(afterRefund, 'settle_refunds{status="SUCCEEDED"}')).toBe(1);
    expect(delta(afterRefund, 'settle_captured_minor_units_total{currency="EUR"}')).toBe(2000);
  }, 60_000);

  it('count HTTP requests by route pattern, never by raw path', async () => {
    const checkoutId = await settle.createCheckout({ orders: [{ sellerId: uniqueId('sel'), amount: 100 }] });
    await settle.checkoutResult(checkoutId);
    const key = (route: string, status: number) => `http_requests_total{method="GET",route="${route}",status="${status}"}`;
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await settle.get(`/v1/checkouts/${checkoutId}`)).status).toBe(200);
    expect((await settle.get(`/v1/checkouts/${checkoutId}/nothing-here`)).status).toBe(404);
    const answer = await call(settle.baseUrl, '/metrics', { headers: withKey() });
    const after = samples(answer.body);
    expect((after.get(key('/v1/checkouts/:id', 200)) ?? 0) - (before.get(key('/v1/checkouts/:id', 200)) ?? 0)).toBe(3);
    expect((after.get(key('unmatched', 404)) ?? 0) - (before.get(key('unmatched', 404)) ?? 0)).toBe(1);
    expect(after.get(`http_request_duration_seconds_count{method="GET",route="/v1/checkouts/:id",status="200"}`)).toBeGreaterThanOrEqual(3);
    expect(answer.body).not.toContain(checkoutId);
    // The process's own metrics are there too.
    expect(after.has('process_cpu_user_seconds_total')).toBe(true);
    expect([...after.keys()].some((name) => name.startsWith('nodejs_eventloop_lag_seconds'))).toBe(true);
  }, 60_000);

  it('ask for an API key', async () => {
    expect((await call(settle.baseUrl, '/metrics')).status).toBe(401);
  });
});

describe('health and readiness', () => {
  it('/healthz says the process is alive; /readyz that PostgreSQL and Temporal answer', async () => {
    expect(await call(settle.baseUrl, '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(settle.baseUrl, '/readyz')).toMatchObject({ status: 200, body: { status: 'ready', database: 'ok', temporal: 'ok' } });
  });

  it('/readyz answers 503 naming PostgreSQL when nothing listens at its port, and /healthz still 200', async () => {
    const closed = new URL(databaseUrl);
    closed.port = String(await freePort());
    const baseUrl = await apiWith({ pool: trackedPool(closed.toString(), 1, { connectionTimeoutMs: 1_000 }) });
    expect(await call(baseUrl, '/readyz')).toMatchObject({ status: 503, body: { status: 'not_ready', database: 'unavailable', temporal: 'ok' } });
    expect(await call(baseUrl, '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('/readyz answers 503 within its timeout when PostgreSQL takes the connection and never answers', async () => {
    const hanging = new URL(databaseUrl);
    hanging.port = String(await silentServer());
    // No connection timeout of the pool's own: only the readiness check's bounds the wait.
    const baseUrl = await apiWith({ pool: trackedPool(hanging.toString(), 1) });
    expect(await call(baseUrl, '/readyz')).toMatchObject({ status: 503, body: { status: 'not_ready', database: 'timeout', temporal: 'ok' } });
  });

  it('/readyz answers 503 naming Temporal when it does not answer', async () => {
    for (const port of [await freePort(), await silentServer()]) {
      const connection = Connection.lazy({ address: `127.0.0.1:${port}` });
      cleanups.push(() => connection.close());
      const baseUrl = await apiWith({ temporal: new Client({ connection }) });
      const answer = await call(baseUrl, '/readyz');
      expect(answer).toMatchObject({ status: 503, body: { status: 'not_ready', database: 'ok' } });
      expect(['unavailable', 'timeout']).toContain(answer.body.temporal);
    }
  });
});

describe('a busy database', () => {
  it('answers 503 database_busy with Retry-After within the connection timeout when the pool has no free connection', async () => {
    const pool = trackedPool(databaseUrl, 1, { connectionTimeoutMs: 500 });
    const busyLines: Array<Record<string, any>> = [];
    const busyLogger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split('\n')) if (line) busyLines.push(JSON.parse(line));
          done();
        },
      }),
    );
    const baseUrl = await apiWith({ pool, logger: busyLogger });
    const held = await pool.connect();
    try {
      const requestId = `busy-${randomUUID()}`;
      const answer = await call(baseUrl, `/v1/checkouts/chk_${'0'.repeat(32)}`, { headers: withKey({ 'Request-Id': requestId }) });
      expect(answer).toMatchObject({ status: 503, body: { error: { code: 'database_busy' } } });
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(answer.headers.get('request-id')).toBe(requestId);
      // The error's own line, logged while the request was under way, carries the request's id.
      await eventually('the error line', async () => busyLines.find((line) => line.requestId === requestId && line.res === undefined && line.err));
    } finally {
      held.release();
    }
    expect((await call(baseUrl, '/metrics', { headers: withKey() })).status).toBe(200);
  });

  it('answers 503 database_busy when a statement runs past the statement timeout', async () => {
    const pool = trackedPool(databaseUrl, 2, { statementTimeoutMs: 300 });
    const baseUrl = await apiWith({ pool });
    // Another session holds the API keys' table: the key lookup waits, and PostgreSQL cancels it.
    const blocker = await settle.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
      const answer = await call(baseUrl, `/v1/checkouts/chk_${'0'.repeat(32)}`, { headers: withKey() });
      expect(answer).toMatchObject({ status: 503, body: { error: { code: 'database_busy' } } });
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect((await call(baseUrl, '/metrics', { headers: withKey() })).status).toBe(200);
  });
});

describe('worker metrics', () => {
  let temporalServer: DevServer | undefined;
  let processes: SettleProcesses | undefined;
  let worker: SettleProcess | undefined;

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await processes?.killAll(); // a worker that never came to poll
    await temporalServer?.stop();
  });

  it('`npm run worker` with WORKER_METRICS_ADDRESS serves the Temporal SDK’s metrics for Prometheus', async () => {
    const build = await buildSettle();
    // A Temporal server of its own: a worker sets up the nightly schedule on the server it joins.
    temporalServer = await startTemporalDevServer({ cliPath: process.env.SETTLE_TEST_TEMPORAL_CLI });
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    const taskQueue = `observe-${randomUUID()}`;
    processes = new SettleProcesses(build, {
      ...build.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalServer.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      SETTLE_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'settle-observe-')),
      WORKER_METRICS_ADDRESS: metricsAddress,
      LOG_LEVEL: 'warn',
    });
    worker = await processes.worker({}, 90_000);

    // One real checkout through it, so that its task counters move.
    const connection = await Connection.connect({ address: temporalServer.address });
    try {
      const checkoutId = `chk_${randomUUID().replace(/-/g, '')}`;
      const input: CheckoutInput = {
        checkoutId,
        customerId: uniqueId('cus'),
        currency: 'USD' as Currency,
        capture: 'automatic',
        allowPartial: false,
        authorizationWindowMs: 60_000,
        orders: [
          { paymentOrderId: `po_${randomUUID().replace(/-/g, '')}`, checkoutId, sellerId: uniqueId('sel'), amount: 700, currency: 'USD' as Currency, paymentMethod: 'pm_card_visa' },
        ],
      };
      const result = await new Client({ connection }).workflow.execute<typeof checkoutWorkflow>('checkoutWorkflow', {
        workflowId: checkoutWorkflowId(checkoutId),
        taskQueue,
        args: [input],
      });
      expect(result.status).toBe('SUCCEEDED');
    } finally {
      await connection.close();
    }

    const metrics = await eventually('the worker’s metrics to count the checkout', async () => {
      const text = await fetch(`http://${metricsAddress}/metrics`).then((response) => (response.ok ? response.text() : ''), () => '');
      return /^temporal_workflow_completed\{[^}]*workflow_type="checkoutWorkflow"[^}]*\} [1-9]/m.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(new RegExp(`^temporal_worker_task_slots_available\\{[^}]*task_queue="${taskQueue}"`, 'm'));
    expect(metrics).toMatch(/^temporal_activity_execution_latency_(bucket|count|sum)\{/m);
  }, 240_000);
});
