import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { Express } from 'express';
import pino, { type Logger } from 'pino';
import { createApp } from '../../api/app';
import type { CheckoutView } from '../../domain/checkout';
import { checkoutWorkflowId } from '../../domain/ids';
import { createApiKey } from '../../db/apiKeys';
import type { WebhookSettings } from '../../config';
import { DEFAULT_WEBHOOK_DELIVERY_POLICY } from '../../domain/webhookEndpoint';
import { migrate } from '../../db/migrate';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../dev/postgres';
import { freePort } from '../../dev/ports';
import { createPool, type Pool } from '../../db/pool';
import { createStripeClient } from '../../psp/stripe';
import { stripeAmountRule } from '../../psp/stripeAmounts';
import { createSettleWorker } from '../../workers/worker';
import { DocumentChecker } from './openapi';
import { createTestPsp, type PspKind, type TestPsp } from './psps';

export const TEST_WEBHOOK_SECRET = 'whsec_settle_test';

let runtimeInstalled = false;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (jest's global setup sets it)`);
  return value;
}

export interface TestSettle {
  baseUrl: string;
  /** The Express app behind baseUrl, for tests that read its routes. */
  app: Express;
  pool: Pool;
  psp: TestPsp;
  temporal: Client;
  taskQueue: string;
  /** A live API key of this Settle's database, sent with every request below. */
  apiKey: string;
  /** `Authorization: Bearer <apiKey>`, for requests a test makes itself. */
  authHeaders: { Authorization: string };
  /** POST a JSON body (or a raw string, sent as is). */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  get(path: string): Promise<TestResponse>;
  /** Starts a checkout (USD, pm_card_visa and a fresh key unless overridden) and answers its id. */
  createCheckout(body: Record<string, unknown>): Promise<string>;
  /** Waits for the checkout workflow to finish and answers its final view. */
  checkoutResult(checkoutId: string): Promise<CheckoutView>;
  /** The checkout as the API answers it now. */
  checkout(checkoutId: string): Promise<CheckoutView>;
  stop(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
}

/**
 * A whole Settle for one test file: its own worker on its own task queue, its own API on a free port, both
 * against the run's shared PostgreSQL and Temporal server.
 */
export async function startSettle(
  options: {
    psp?: PspKind;
    pspLatencyMs?: number;
    authorizationWindowMs?: number;
    /** How long the API waits for a checkout's workflow to answer a query or an update. */
    workflowAnswerTimeoutMs?: number;
    isolatedDatabase?: boolean;
    /**
     * A PostgreSQL cluster of its own, started for this Settle and stopped with it: for a test that reasons about
     * transaction ids, which are a cluster's, not a database's.
     */
    ownPostgres?: boolean;
    /** The API's logger; silent (or SETTLE_TEST_LOG_LEVEL) unless given. */
    logger?: Logger;
    /** Outgoing webhooks: by default as `npm start` has them (receivers on 127.0.0.1 allowed), a day of retries. */
    webhooks?: WebhookSettings;
    /** Interceptors of the API's (and the test's) Temporal client: to hold or fail a call the API makes. */
    workflowClientInterceptors?: WorkflowClientInterceptor[];
  } = {},
): Promise<TestSettle> {
  if (!runtimeInstalled) {
    // Quiet worker logs; failures still reach the test through results and assertions.
    Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error } as never, shutdownSignals: [] });
    runtimeInstalled = true;
  }
  const cluster = options.ownPostgres ? await ownPostgres() : undefined;
  const pool = createPool(cluster?.url ?? (options.isolatedDatabase ? await isolatedDatabase() : env('SETTLE_TEST_DATABASE_URL')), 10);
  const { key: apiKey } = await createApiKey(pool, 'tests');
  const authHeaders = { Authorization: `Bearer ${apiKey}` };
  const psp = await createTestPsp(options.psp ?? 'simulated', pool, randomUUID(), options.pspLatencyMs);
  const address = env('SETTLE_TEST_TEMPORAL_ADDRESS');
  const taskQueue = `test-${randomUUID()}`;
  const webhooks = options.webhooks ?? { allowPrivateNetworks: true, delivery: DEFAULT_WEBHOOK_DELIVERY_POLICY };
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection, interceptors: { workflow: options.workflowClientInterceptors ?? [] } });

  const worker: Worker = await createSettleWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    pool,
    psp: psp.psp,
    workflowBundlePath: env('SETTLE_TEST_WORKFLOW_BUNDLE'),
    tuning: { maxConcurrentActivities: 50, maxConcurrentWorkflowTasks: 20 },
    webhooks,
  });
  const running = worker.run();

  const app = createApp({
    pool,
    temporal,
    taskQueue,
    authorizationWindowMs: options.authorizationWindowMs ?? 60_000,
    workflowAnswerTimeoutMs: options.workflowAnswerTimeoutMs,
    logger: options.logger ?? pino({ level: process.env.SETTLE_TEST_LOG_LEVEL ?? 'silent' }),
    stripeWebhooks: { stripe: psp.stripe ?? createStripeClient({ secretKey: 'sk_test_settle' }), secret: TEST_WEBHOOK_SECRET },
    amountRule: psp.kind === 'stripe' ? stripeAmountRule : undefined,
    webhookEndpoints: webhooks,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const request = async (path: string, init: RequestInit): Promise<TestResponse> => {
    const answer = await readAnswer(await fetch(baseUrl + path, { ...init, headers: { ...authHeaders, ...(init.headers as Record<string, string>) } }));
    // Every answer a test reads is also held against the OpenAPI document the API serves.
    if (path !== '/openapi.json') (checker ??= new DocumentChecker((await request('/openapi.json', { method: 'GET' })).body)).check(init.method ?? 'GET', path, answer);
    return answer;
  };
  let checker: DocumentChecker | undefined;

  return {
    baseUrl,
    app,
    pool,
    psp,
    temporal,
    taskQueue,
    apiKey,
    authHeaders,
    post: (path, body, headers = {}) =>
      request(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: (path) => request(path, { method: 'GET' }),
    async createCheckout(body) {
      const created = await request('/v1/checkouts', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': uniqueId('key') },
        body: JSON.stringify({ customerId: uniqueId('cus'), currency: 'USD', paymentMethod: 'pm_card_visa', ...body }),
      });
      if (created.status !== 202) throw new Error(`checkout refused: ${created.status} ${JSON.stringify(created.body)}`);
      return created.body.checkoutId;
    },
    async checkout(checkoutId) {
      return (await request(`/v1/checkouts/${checkoutId}`, { method: 'GET' })).body;
    },
    checkoutResult: (checkoutId) => temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).result(),
    async stop() {
      await new Promise((resolve) => server.close(resolve));
      worker.shutdown();
      await running;
      await psp.stop();
      await connection.close();
      await nativeConnection.close();
      await pool.end();
      await cluster?.stop();
    },
  };
}

/** An answer as a test reads it: its status, its headers, and its body as JSON when it parses. */
export async function readAnswer(response: Response): Promise<TestResponse> {
  return { status: response.status, headers: response.headers, body: parseBody(await response.text()) };
}

/** A body's JSON when it parses; its text otherwise (metrics, HTML, a broken answer), which the assertion then shows. */
export function parseBody(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Ids unique to one test, so tests share the database without seeing each other's rows. */
export function uniqueId(prefix: string): string {
  return `${prefix}_${randomUUID().slice(0, 8)}`;
}

/** Polls until probe answers something truthy; fails, saying what it waited for, after timeoutMs. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A PostgreSQL cluster of its own, its database migrated. */
async function ownPostgres(): Promise<EmbeddedDatabase> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'settle-test-cluster-'));
  await chmod(root, 0o755); // PostgreSQL runs as the 'postgres' user and must reach its data folder
  const database = await startEmbeddedPostgres({ dataDir: path.join(root, 'postgres'), port: await freePort(), database: 'settle', ephemeral: true });
  const pool = createPool(database.url, 1);
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return { url: database.url, stop: () => database.stop().then(() => rm(root, { recursive: true, force: true })) };
}

/** A database of its own on the run's PostgreSQL, migrated: for tests that reason about everything in it. */
async function isolatedDatabase(): Promise<string> {
  const shared = new URL(env('SETTLE_TEST_DATABASE_URL'));
  const name = `settle_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = createPool(shared.toString(), 1);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  shared.pathname = `/${name}`;
  const pool = createPool(shared.toString(), 1);
  await migrate(pool);
  await pool.end();
  return shared.toString();
}
