import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { CheckoutView } from '../domain/checkout';
import { checkoutWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { createPool, type Pool } from '../db/pool';
import { startTemporalDevServer, type DevServer } from '../dev/temporalServer';
import { expectBooksAgree } from './support/agreement';
import { buildSettle } from './support/build';
import { createTestPsp, type TestPsp } from './support/psps';
import { eventually, uniqueId } from './support/settle';
import { createCheckout, SettleProcesses } from './support/processes';
import { migrate } from '../db/migrate';

/**
 * The production processes, as `npm run worker` and `npm run api` start them, against a database and a
 * Temporal server of their own: what a worker does on SIGTERM is seen from outside, as an operator would.
 */
let temporalServer: DevServer;
let connection: Connection;
let temporal: Client;
let pool: Pool;
let psp: TestPsp;
let processes: SettleProcesses;

/** Each PSP call takes this long, so a capture is still in flight when the test looks. */
const PSP_LATENCY_MS = 4_000;

beforeAll(async () => {
  const build = await buildSettle();
  // A Temporal server of its own: a worker sets up the nightly schedule on the server it joins.
  temporalServer = await startTemporalDevServer({ cliPath: process.env.SETTLE_TEST_TEMPORAL_CLI });
  connection = await Connection.connect({ address: temporalServer.address });
  temporal = new Client({ connection });
  const databaseUrl = await emptyDatabase();
  pool = createPool(databaseUrl, 2);
  psp = await createTestPsp('simulated', pool, randomUUID());
  processes = new SettleProcesses(build, {
    ...build.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalServer.address,
    TEMPORAL_TASK_QUEUE: 'settle',
    SETTLE_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'settle-shutdown-')),
    SIMULATED_PSP_LATENCY_MS: String(PSP_LATENCY_MS),
    LOG_LEVEL: 'warn',
  });
}, 120_000);

afterAll(async () => {
  await processes?.killAll();
  await pool?.end();
  await connection?.close();
  await temporalServer?.stop();
});

describe('a worker process stopped with SIGTERM', () => {
  it('finishes the PSP calls under way before it exits, and the checkout completes with the books agreeing', async () => {
    const first = await processes.worker();
    const api = await processes.api(pool);
    const { checkoutId } = await createCheckout(api);
    const orderIds = ((await (await fetch(`${api.url}/v1/checkouts/${checkoutId}`, { headers: api.authHeaders })).json()) as CheckoutView).orders.map((order) => order.orderId);

    // Both captures are at the PSP (each call takes seconds): now the worker is told to stop.
    await eventually(
      'both captures to be under way',
      async () => (await Promise.all(orderIds.map((orderId) => runningActivity(orderId, 'captureAndBookPaymentOrder')))).every(Boolean),
      60_000,
    );
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Each capture's first attempt, the one running at SIGTERM, completed (capture and booking) on the stopped worker.
    // An attempt that did not complete shows why: its failure and the stopped worker's last words.
    for (const orderId of orderIds) {
      const attempts = (await captureAttempts(orderId)).map((attempt) => ({
        ...attempt,
        workerOutput: attempt.outcome === 'completed' ? undefined : first.output().slice(-4000),
      }));
      expect(attempts).toEqual([{ attempt: 1, identity: first.identity, outcome: 'completed' }]);
    }
    const afterStop = (await pool.query('SELECT id, status FROM payment_orders WHERE checkout_id = $1', [checkoutId])).rows;
    expect(afterStop.map((order) => order.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);

    // Another worker takes over the rest: finishing the orders' workflows and the checkout.
    await processes.worker();
    const result: CheckoutView = await temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).result();
    expect(result.status).toBe('SUCCEEDED');
    for (const order of result.orders) {
      expect(await psp.chargesFor(order.orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: order.amount })]);
    }
    await expectBooksAgree(pool, psp, result);
  }, 180_000);
});

describe('an API process stopped with SIGTERM', () => {
  it('answers the request under way before it exits, and takes no new ones', async () => {
    await migrate(pool); // the workers apply migrations, and none runs yet
    const api = await processes.api(pool);
    const { checkoutId } = await createCheckout(api, { capture: 'manual', orders: [{ sellerId: uniqueId('seller'), amount: 500 }] });
    // No worker runs yet: the cancel (a workflow update) waits on the API until one does.
    const cancel = fetch(`${api.url}/v1/checkouts/${checkoutId}/cancel`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Connection: 'close', ...api.authHeaders },
      body: JSON.stringify({ reason: 'asked while the API stops' }),
    });
    await eventually('the cancel to reach the checkout', async () => {
      const history = await temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).fetchHistory().catch(() => undefined);
      return (history?.events ?? []).length > 0;
    });
    // Give the request time to reach the API (arriving after SIGTERM it would be refused, failing this test).
    await new Promise((resolve) => setTimeout(resolve, 500));
    api.child.kill('SIGTERM');
    await eventually('the API to stop taking requests', () =>
      fetch(`${api.url}/healthz`, { headers: { Connection: 'close' } }).then(
        () => false,
        () => true,
      ),
    );

    await processes.worker();
    const answer = await cancel;
    expect(answer.status).toBe(202);
    expect(await answer.json()).toMatchObject({ checkoutId, cancelRequested: true });
    expect(await api.exited).toBe(0);
    const result: CheckoutView = await temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).result();
    expect(result).toMatchObject({ status: 'CANCELED', failureReason: 'Canceled: asked while the API stops' });
  }, 180_000);
});

/** temporal.api.enums.v1.PendingActivityState: a worker has taken the attempt and not yet answered. */
const PENDING_ACTIVITY_STATE_STARTED = 2;

/** Whether an activity of this type is running (started, not finished) for the payment order. */
async function runningActivity(paymentOrderId: string, activityType: string): Promise<boolean> {
  const description = await temporal.workflow
    .getHandle(paymentOrderWorkflowId(paymentOrderId))
    .describe()
    .catch(() => undefined);
  return (description?.raw.pendingActivities ?? []).some(
    (activity) =>
      activity.activityType?.name === activityType && activity.state === PENDING_ACTIVITY_STATE_STARTED,
  );
}

/** Every attempt at capturing the order, from its workflow history: which worker ran it and how it ended. */
async function captureAttempts(paymentOrderId: string) {
  const history = await temporal.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId)).fetchHistory();
  const events = history.events ?? [];
  const id = (value: unknown) => String(value);
  const scheduled = events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'captureAndBookPaymentOrder');
  return scheduled.map((schedule) => {
    const started = events.find((event) => id(event.activityTaskStartedEventAttributes?.scheduledEventId) === id(schedule.eventId));
    const ended = events.find((event) =>
      [event.activityTaskCompletedEventAttributes, event.activityTaskFailedEventAttributes, event.activityTaskTimedOutEventAttributes].some(
        (attributes) => id(attributes?.scheduledEventId) === id(schedule.eventId),
      ),
    );
    return {
      attempt: started?.activityTaskStartedEventAttributes?.attempt,
      identity: started?.activityTaskStartedEventAttributes?.identity,
      outcome: ended?.activityTaskCompletedEventAttributes ? 'completed' : ended?.activityTaskFailedEventAttributes ? 'failed' : ended ? 'timed out' : 'running',
      // Shown only when the attempt failed, so that a failure says why (toEqual passes over an undefined key).
      failure: ended?.activityTaskFailedEventAttributes?.failure?.message ?? undefined,
    };
  });
}

/** A database of its own on the run's PostgreSQL; the worker migrates it, as in production. */
async function emptyDatabase(): Promise<string> {
  const shared = new URL(process.env.SETTLE_TEST_DATABASE_URL!);
  const name = `settle_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = createPool(shared.toString(), 1);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  shared.pathname = `/${name}`;
  return shared.toString();
}

