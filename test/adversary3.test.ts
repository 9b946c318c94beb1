import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { CheckoutInput, CheckoutView } from '../domain/checkout';
import type { Currency } from '../domain/money';
import { CHECKOUT_ID_PREFIX, PAYMENT_ORDER_ID_PREFIX, checkoutWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { createSettleWorker } from '../workers/worker';
import { orderBooks } from './support/books';
import { buildSettle, type Build } from './support/build';
import { invariantViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { signalFromShell } from './support/shell';
import { activityScheduled } from './support/history';

/**
 * Sequences tried as an adversary would against a payment order that captures and books in one activity,
 * and a checkout whose own database writes run as local activities inside its workflow tasks: bookings that
 * outlive their attempt, and workers that die after a local activity committed but before its workflow task
 * was answered, with the client acting on what the database (and so the event feed) already says.
 */

let settle: TestSettle;
let build: Build;
beforeAll(async () => {
  // A database of its own: these sequences hold, for a while and on purpose, a PSP capture the books do not
  // have yet, which a verify over the shared database, run by another file meanwhile, would report.
  [settle, build] = await Promise.all([startSettle({
      psp: 'simulated',
      isolatedDatabase: true,
      // The captures and cancels sent while no worker runs wait for the next one to start: under load that
      // can outlast the API's usual 10 s, and these cases are about what the workflow does, not the deadline.
      workflowAnswerTimeoutMs: 120_000,
    }), buildSettle()]);
}, 300_000);
afterAll(() => settle?.stop());

const seller = () => uniqueId('seller');
const violations = (checkoutIds: string[], settleWithinMs: number) =>
  invariantViolations(settle, checkoutIds, settleWithinMs);
const checkoutStatus = async (checkoutId: string) =>
  (await settle.pool.query('SELECT status FROM checkouts WHERE id = $1', [checkoutId])).rows[0]?.status as string | undefined;

/** A checkout as the API would start it, on a task queue of the test's choosing. */
function checkoutInput(options: { capture: 'automatic' | 'manual'; amounts: number[]; authorizationWindowMs?: number }): CheckoutInput {
  const checkoutId = CHECKOUT_ID_PREFIX + randomBytes(16).toString('hex');
  return {
    checkoutId,
    customerId: uniqueId('cus'),
    currency: 'USD' as Currency,
    capture: options.capture,
    allowPartial: false,
    authorizationWindowMs: options.authorizationWindowMs ?? 60_000,
    orders: options.amounts.map((amount) => ({
      paymentOrderId: PAYMENT_ORDER_ID_PREFIX + randomBytes(16).toString('hex'),
      checkoutId,
      sellerId: seller(),
      amount,
      currency: 'USD' as Currency,
      paymentMethod: 'pm_card_visa',
    })),
  };
}

/**
 * A Settle worker in a process of its own, on its own task queue, whose activity `activity` commits as usual
 * and then, when called with `value` as its second argument, never answers: the process is killed there, so
 * the workflow task that ran it (a local activity) is never completed.
 */
async function startDoomedWorker(taskQueue: string, activity: string, value: string): Promise<{ child: ChildProcess; committed: Promise<void>; exited: Promise<unknown> }> {
  const script = `
    const { NativeConnection, Runtime, Worker } = require('@temporalio/worker');
    const dir = process.env.BUILD_DIR;
    const { createActivities } = require(dir + '/activities/index.js');
    const { createPool } = require(dir + '/db/pool.js');
    const { SimulatedPsp } = require(dir + '/psp/simulated.js');
    (async () => {
      const quiet = () => undefined;
      Runtime.install({ logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet }, shutdownSignals: [] });
      const pool = createPool(process.env.DB, 10);
      const psp = new SimulatedPsp(pool, { seed: process.env.SEED, fee: { basisPoints: 290, fixed: 30 } });
      const activities = createActivities({ pool, psp });
      const name = process.env.HANG_ACTIVITY;
      const real = activities[name];
      activities[name] = async (...args) => {
        const result = await real(...args);
        if (args[1] === process.env.HANG_VALUE) {
          process.stdout.write('COMMITTED\\n');
          await new Promise(() => undefined);
        }
        return result;
      };
      const connection = await NativeConnection.connect({ address: process.env.ADDRESS });
      const worker = await Worker.create({
        connection, namespace: 'default', taskQueue: process.env.TASK_QUEUE,
        workflowBundle: { codePath: process.env.BUNDLE }, activities,
      });
      process.stdout.write('POLLING\\n');
      await worker.run();
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['-e', script], {
    env: {
      ...build.env,
      BUILD_DIR: build.dir,
      DB: settle.pool.options.connectionString,
      SEED: (settle.psp.psp as unknown as { seed: string }).seed,
      HANG_ACTIVITY: activity,
      HANG_VALUE: value,
      ADDRESS: process.env.SETTLE_TEST_TEMPORAL_ADDRESS,
      TASK_QUEUE: taskQueue,
      BUNDLE: path.join(build.dir, 'workflow-bundle.js'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const seen = (line: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (output.includes(line) ? resolve() : undefined);
      child.stdout!.on('data', (chunk) => {
        output += chunk;
        check();
      });
      child.stderr!.on('data', (chunk) => (output += chunk));
      void exited.then(() => reject(new Error(`the worker process exited before ${line}:\n${output}`)));
    });
  const committed = seen('COMMITTED');
  committed.catch(() => undefined);
  await seen('POLLING');
  return { child, committed, exited };
}

/** An ordinary Settle worker in this process, on the given task queue: the one that takes over. */
async function startRescueWorker(taskQueue: string): Promise<{ stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: process.env.SETTLE_TEST_TEMPORAL_ADDRESS! });
  const worker: Worker = await createSettleWorker({
    connection,
    namespace: 'default',
    taskQueue,
    pool: settle.pool,
    psp: settle.psp.psp,
    workflowBundlePath: process.env.SETTLE_TEST_WORKFLOW_BUNDLE!,
    tuning: { maxConcurrentActivities: 20, maxConcurrentWorkflowTasks: 10 },
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/**
 * Starts a checkout on a worker that dies (SIGKILL) right after the given write committed, before its workflow
 * task was answered; answers the checkout's input and its task queue, for the worker that takes over.
 */
async function checkoutWhoseWorkerDiesAfter(
  activity: string,
  value: string,
  options: Parameters<typeof checkoutInput>[0],
): Promise<{ input: CheckoutInput; taskQueue: string }> {
  const taskQueue = `test-doomed-${randomBytes(6).toString('hex')}`;
  const doomed = await startDoomedWorker(taskQueue, activity, value);
  const input = checkoutInput(options);
  await settle.temporal.workflow.start('checkoutWorkflow', { workflowId: checkoutWorkflowId(input.checkoutId), taskQueue, args: [input] });
  await doomed.committed;
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  return { input, taskQueue };
}

describe('adversary3: a worker dies after a local activity committed, before its workflow task was answered', () => {
  it('REQUIRES_CAPTURE committed, worker killed, a capture signalled from a shell as the database shows it: the checkout captures', async () => {
    const { input, taskQueue } = await checkoutWhoseWorkerDiesAfter('setCheckoutStatus', 'REQUIRES_CAPTURE', {
      capture: 'manual',
      amounts: [1000, 2000],
      authorizationWindowMs: 20_000,
    });
    // The database (and the event feed) says the checkout waits for its capture: the client captures.
    expect(await checkoutStatus(input.checkoutId)).toBe('REQUIRES_CAPTURE');
    await signalFromShell(checkoutWorkflowId(input.checkoutId), 'capture');

    const rescue = await startRescueWorker(taskQueue);
    try {
      const result: CheckoutView = await settle.temporal.workflow.getHandle(checkoutWorkflowId(input.checkoutId)).result();
      expect({ status: result.status, failureCode: result.failureCode, violations: await violations([input.checkoutId], 30_000) }).toEqual({
        status: 'SUCCEEDED',
        failureCode: null,
        violations: '',
      });
    } finally {
      await rescue.stop();
    }
  }, 180_000);

  it('REQUIRES_CAPTURE committed, worker killed, a capture through the API as the database shows it: accepted, and the checkout captures', async () => {
    const { input, taskQueue } = await checkoutWhoseWorkerDiesAfter('setCheckoutStatus', 'REQUIRES_CAPTURE', {
      capture: 'manual',
      amounts: [1500],
      authorizationWindowMs: 20_000,
    });
    expect(await checkoutStatus(input.checkoutId)).toBe('REQUIRES_CAPTURE');
    // The update waits for a worker; one comes.
    const capture = settle.post(`/v1/checkouts/${input.checkoutId}/capture`, {});
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const rescue = await startRescueWorker(taskQueue);
    try {
      const answer = await capture;
      const result: CheckoutView = await settle.temporal.workflow.getHandle(checkoutWorkflowId(input.checkoutId)).result();
      expect({ capture: answer.status, body: answer.status === 202 ? undefined : answer.body, status: result.status }).toEqual({
        capture: 202,
        body: undefined,
        status: 'SUCCEEDED',
      });
      expect(await violations([input.checkoutId], 30_000)).toBe('');
    } finally {
      await rescue.stop();
    }
  }, 180_000);

  it('SUCCEEDED committed, worker killed, a cancel signalled from a shell: the checkout stays SUCCEEDED and nothing is refunded', async () => {
    const { input, taskQueue } = await checkoutWhoseWorkerDiesAfter('completeCheckout', 'SUCCEEDED', { capture: 'automatic', amounts: [1000, 2000] });
    expect(await checkoutStatus(input.checkoutId)).toBe('SUCCEEDED');
    // Too late by the books; a signal cannot be refused, it must be ignored.
    await signalFromShell(checkoutWorkflowId(input.checkoutId), 'cancel', '{"reason":"after the fact"}');

    const rescue = await startRescueWorker(taskQueue);
    try {
      const handle = settle.temporal.workflow.getHandle(checkoutWorkflowId(input.checkoutId));
      const outcome = await handle.result().then(
        (view: CheckoutView) => view.status,
        (error: Error & { cause?: Error & { cause?: Error } }) => `workflow failed: ${error.message} <- ${error.cause?.message} <- ${error.cause?.cause?.message}`,
      );
      const orders = (await settle.pool.query('SELECT status, refunded_amount FROM payment_orders WHERE checkout_id = $1 ORDER BY position', [input.checkoutId])).rows;
      const events = (await settle.pool.query('SELECT type FROM events WHERE checkout_id = $1 AND payment_order_id IS NULL ORDER BY id', [input.checkoutId])).rows;
      expect({ outcome, books: await checkoutStatus(input.checkoutId), orders: orders.map((order) => order.status), checkoutEvents: events.map((event) => event.type), violations: await violations([input.checkoutId], 30_000) }).toEqual({
        outcome: 'SUCCEEDED',
        books: 'SUCCEEDED',
        orders: ['SUCCEEDED', 'SUCCEEDED'],
        checkoutEvents: ['checkout.created', 'checkout.capturing', 'checkout.succeeded'],
        violations: '',
      });
    } finally {
      await rescue.stop();
    }
  }, 180_000);
});

describe('adversary3: a capture booked by the activity that made it', () => {
  it('a booking that outlives its attempt (the orders locked past start-to-close): captured once, booked once', async () => {
    const card = await settle.psp.paymentMethod('visa');
    // The capture answers late in its attempt, so the booking starts near the deadline.
    settle.psp.inject({ operation: 'capture', paymentMethod: card }, { kind: 'slow', ms: 20_000, times: 1 });
    const checkoutId = await settle.createCheckout({ paymentMethod: card, orders: [{ sellerId: seller(), amount: 4200 }] });
    const orderId = await eventually('the order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
    await eventually('the capture to be under way', () => activityScheduled(settle.temporal, paymentOrderWorkflowId(orderId), 'captureAndBookPaymentOrder'), 60_000);
    // Someone holds the orders' table (this file's database is its own): the booking waits on it past the
    // attempt's 30 s. A table lock takes no transaction id, unlike a row lock, so the outbox feeds of the other
    // suites (transaction ids are the cluster's) do not wait on it meanwhile.
    const blocker = await settle.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE payment_orders IN EXCLUSIVE MODE');
      expect((await blocker.query('SELECT pg_current_xact_id_if_assigned() AS xid')).rows[0].xid).toBeNull();
      await eventually('the capture to be made at the PSP', async () => (await settle.psp.chargesFor(orderId)).some((charge) => charge.status === 'succeeded'), 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20_000));
    } finally {
      await blocker.query('COMMIT');
      blocker.release();
    }
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await orderBooks(settle.pool, orderId)).toMatchObject({ captureTransactions: 1 });
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 180_000);
});

describe("adversary3: the database refuses a capture's booking for good", () => {
  it('says the PSP captured it (not "holds" it) while the books refuse, and books and gives it back once they take it', async () => {
    const card = await settle.psp.paymentMethod('visa');
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: card, orders: [{ sellerId: seller(), amount: 2500 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const orderId = (await settle.checkout(checkoutId)).orders[0]!.orderId;
    // A fault in the database itself (a constraint, a bad migration): the order's move to SUCCEEDED is refused, always.
    const fn = `refuse_${randomBytes(4).toString('hex')}`;
    await settle.pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF NEW.id = '${orderId}' AND NEW.status = 'SUCCEEDED' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$`);
    await settle.pool.query(`CREATE TRIGGER ${fn} BEFORE UPDATE ON payment_orders FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
    let dropped = false;
    const drop = async () => {
      if (dropped) return;
      dropped = true;
      await settle.pool.query(`DROP TRIGGER ${fn} ON payment_orders`);
      await settle.pool.query(`DROP FUNCTION ${fn}()`);
    };
    try {
      expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 2500 })]);
      expect({ status: result.status, order: result.orders[0]!.status, orderFailure: result.orders[0]!.failureCode, attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
        status: 'FAILED',
        order: 'AUTHORIZED',
        orderFailure: 'capture_not_booked',
        attention: 'capture_not_booked',
        held: 2500,
      });
      expect(result.attention?.message).toContain('captured by the PSP, not booked');
      expect(result.attention?.message).not.toContain('hold not released');

      // The database is mended; a retry books the capture the PSP made and gives it back, as the FAILED outcome calls for.
      await drop();
      expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
      await eventually('the compensation to book and refund the capture', async () => (await settle.checkout(checkoutId)).attention === null, 60_000);
      expect((await settle.checkout(checkoutId)).orders[0]!.status).toBe('REFUNDED');
      expect(await violations([checkoutId], 30_000)).toBe('');
    } finally {
      await drop();
    }
  }, 180_000);
});
