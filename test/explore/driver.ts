import { execFile } from 'node:child_process';
import Stripe from 'stripe';
import { checkoutWorkflowId, compensationWorkflowId, paymentOrderWorkflowId } from '../../domain/ids';
import { refundWorkflowId } from '../../domain/refund';
import type { Pool } from '../../db/pool';
import type { Violation } from '../support/invariants';
import { TEST_WEBHOOK_SECRET, type TestSettle } from '../support/settle';
import { findCheckoutView } from '../../db/checkouts';
import { isTerminalCheckoutStatus } from '../../domain/status';
import type { PspOperation } from '../../psp/faults';
import type { ClientAction, Moment, PaymentMethodPlan, Scenario } from './scenario';

/** How long a retried compensation may take before the checker looks (a pass takes a few PSP calls). */
const COMPENSATION_RETRY_MS = 15_000;

/** The PSP activities' start-to-close timeout. */
const ACTIVITY_TIMEOUT_MS = 30_000;

const TERMINAL = ['checkout.succeeded', 'checkout.partially_succeeded', 'checkout.failed', 'checkout.canceled'];

/**
 * Follows the checkouts under way through their events (one query for all of them, every 100 ms), so that
 * a client action waits for the moment it is meant for, not for a guessed time.
 */
export class CheckoutWatcher {
  private readonly seen = new Map<string, Set<string>>();
  private readonly closed = new Set<string>();
  private readonly waiters = new Set<{ checkoutId: string; ready: (seen: Set<string>) => boolean; resolve: () => void; deadline: number }>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly pool: Pool) {}

  track(checkoutId: string): void {
    if (!this.seen.has(checkoutId)) this.seen.set(checkoutId, new Set());
    this.timer ??= setInterval(() => void this.poll(), 100);
  }

  /** The checkout's workflow has ended: whatever a waiter waits for will not come later. */
  close(checkoutId: string): void {
    this.closed.add(checkoutId);
    this.settleWaiters();
  }

  forget(checkoutId: string): void {
    this.seen.delete(checkoutId);
    this.closed.delete(checkoutId);
    if (this.seen.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Resolves once the checkout's events hold the moment, once it has finished, or at the deadline. */
  until(checkoutId: string, moment: Moment, deadline: number): Promise<void> {
    const ready = (seen: Set<string>) => {
      if (TERMINAL.some((type) => seen.has(type))) return true;
      switch (moment.after) {
        case 'accepted':
          return true;
        case 'order':
          return seen.has(`order${moment.order}.${moment.status.toLowerCase()}`);
        case 'checkout':
          return seen.has(`checkout.${moment.status.toLowerCase()}`);
      }
    };
    return new Promise((resolve) => {
      this.waiters.add({ checkoutId, ready, resolve, deadline });
      this.settleWaiters();
    });
  }

  /** Resolves once the checkout is recorded (its orders have ids), or it finished, or at the deadline. */
  recorded(checkoutId: string, deadline: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.add({ checkoutId, ready: (seen) => seen.has('checkout.created') || TERMINAL.some((type) => seen.has(type)), resolve, deadline });
      this.settleWaiters();
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.seen.size === 0) return;
    this.polling = true;
    try {
      const { rows } = await this.pool.query<{ checkout_id: string; type: string; position: number | null }>(
        `SELECT e.checkout_id, e.type, o.position FROM events e LEFT JOIN payment_orders o ON o.id = e.payment_order_id
          WHERE e.checkout_id = ANY($1)`,
        [[...this.seen.keys()]],
      );
      for (const row of rows) {
        const key = row.position === null ? row.type : `order${row.position - 1}.${row.type.slice(row.type.indexOf('.') + 1)}`;
        this.seen.get(row.checkout_id)?.add(key);
      }
    } catch {
      // The next poll tries again.
    } finally {
      this.polling = false;
    }
    this.settleWaiters();
  }

  private settleWaiters(): void {
    const now = Date.now();
    for (const waiter of this.waiters) {
      const seen = this.seen.get(waiter.checkoutId) ?? new Set<string>();
      if (this.closed.has(waiter.checkoutId) || waiter.ready(seen) || now >= waiter.deadline) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

export interface DriverContext {
  settle: TestSettle;
  watcher: CheckoutWatcher;
  /** Unique to this run: keys, customers and sellers never meet another run's rows. */
  runId: string;
  /** How long a scenario may take, from its first request, before it counts as stuck. */
  finishWithinMs: number;
  cli: { path: string; address: string } | undefined;
}

export interface ScenarioOutcome {
  checkoutIds: string[];
  /** What the client did and what it was answered, for the report. */
  log: string[];
  /** Breaches seen from the client's side: an API answer that was a 5xx, a replay that answered another resource. */
  violations: Violation[];
}

/** Plays one scenario against a running Settle: plans the PSP's faults, posts the checkout, acts, and waits for the end. */
export async function runScenario(ctx: DriverContext, scenario: Scenario, label: string): Promise<ScenarioOutcome> {
  const { settle } = ctx;
  const log: string[] = [];
  const violations: Violation[] = [];
  const breach = (invariant: Violation['invariant'], subject: string, text: string) =>
    violations.push({ invariant, subject, message: `[${label}] ${invariant}: ${subject}: ${text}` });
  const started = Date.now();
  const deadline = started + ctx.finishWithinMs;

  const paymentMethods: string[] = [];
  for (const plan of scenario.paymentMethods) {
    // The simulator has no 3-D Secure: there the card is a plain one that authorizes.
    const card = plan.card === 'requires_authentication' && settle.psp.kind !== 'stripe' ? 'visa' : plan.card;
    const paymentMethod = await settle.psp.paymentMethod(card);
    for (const { operation, fault } of plan.faults) settle.psp.inject({ operation, paymentMethod }, fault);
    paymentMethods.push(paymentMethod);
  }
  const tag = `${ctx.runId}_${scenario.seed}`;
  const body = {
    customerId: `cus_${tag}`,
    currency: scenario.currency,
    paymentMethod: paymentMethods[0],
    capture: scenario.capture,
    allowPartial: scenario.allowPartial,
    orders: scenario.orders.map((order, index) => ({
      sellerId: `seller_${tag}_${index}`,
      amount: order.amount,
      ...(order.paymentMethod === 0 ? {} : { paymentMethod: paymentMethods[order.paymentMethod] }),
    })),
  };
  const key = `checkout_${tag}`;
  const postCheckout = async (copy: number) => {
    const answer = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    log.push(`POST /v1/checkouts #${copy}: ${answer.status} ${answer.body?.checkoutId ?? JSON.stringify(answer.body)}`);
    if (answer.status >= 500) breach('api', 'POST /v1/checkouts', `answered ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.status === 202 ? (answer.body.checkoutId as string) : undefined;
  };
  const copies = Array.from({ length: scenario.duplicatePosts.copies }, (_, index) => index + 1);
  const answered =
    scenario.duplicatePosts.when === 'alongside'
      ? await Promise.all([0, ...copies].map(postCheckout))
      : [await postCheckout(0), ...(await sequentially(copies, postCheckout))];
  const checkoutIds = [...new Set(answered.filter((id): id is string => id !== undefined))];
  if (checkoutIds.length > 1) {
    breach('idempotency', key, `one Idempotency-Key and body answered ${checkoutIds.length} checkouts: ${checkoutIds.join(', ')}`);
  }
  const checkoutId = checkoutIds[0];
  if (!checkoutId) {
    breach('api', 'POST /v1/checkouts', 'no POST of the checkout was accepted');
    return { checkoutIds, log, violations };
  }

  for (const id of checkoutIds) ctx.watcher.track(id);
  const workflowsEnded = Promise.all(
    checkoutIds.map((id) =>
      settle.temporal.workflow
        .getHandle(checkoutWorkflowId(id))
        .result()
        .then(
          () => undefined,
          (error) => log.push(`checkout workflow ${id} ended in error: ${error?.cause?.message ?? error?.message}`),
        )
        .finally(() => ctx.watcher.close(id)),
    ),
  );

  const refundIds: string[] = [];
  /** Refunds the API accepted, with the order each is for. */
  const acceptedRefunds = new Map<string, number>();
  /** Cancels and captures the API accepted (202), or whose signal the server took from the shell. */
  const accepted = { cancel: false, capture: false };
  /** A shell's signal the server refused (busy, unavailable): the client knows it did not arrive. */
  const undelivered = { cancel: false, capture: false };
  let retriedCompensation = false;
  const act = async (action: ClientAction, index: number) => {
    await ctx.watcher.until(checkoutId, action.at, deadline);
    if (action.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(action.delayMs, Math.max(0, deadline - Date.now()))));
    const elapsed = `t+${Date.now() - started}ms`;
    switch (action.kind) {
      case 'cancel':
      case 'capture': {
        if (action.via === 'cli') {
          const input = action.kind === 'cancel' ? ['--input', JSON.stringify({ reason: action.reason })] : [];
          const result = await signalFromShell(ctx.cli, checkoutWorkflowId(checkoutId), action.kind, input);
          log.push(`${elapsed} temporal workflow signal --name ${action.kind}: ${result}`);
          if (result !== 'ok') undelivered[action.kind] = true;
          return;
        }
        const path = `/v1/checkouts/${checkoutId}/${action.kind}`;
        const answer = await settle.post(path, action.kind === 'cancel' ? { reason: action.reason } : {});
        log.push(`${elapsed} POST ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
        if (answer.status >= 500) breach('api', path, `answered ${answer.status} ${JSON.stringify(answer.body)}`);
        if (answer.status === 202) accepted[action.kind] = true;
        return;
      }
      case 'retryCompensation': {
        if (action.via === 'cli') {
          const result = await signalFromShell(ctx.cli, compensationWorkflowId(checkoutId), 'retryCompensation', []);
          log.push(`${elapsed} temporal workflow signal --workflow-id ${compensationWorkflowId(checkoutId)} --name retryCompensation: ${result}`);
        } else {
          const path = `/v1/checkouts/${checkoutId}/retry-compensation`;
          const answer = await settle.post(path, {});
          log.push(`${elapsed} POST ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
          if (answer.status >= 500) breach('api', path, `answered ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        retriedCompensation = true;
        return;
      }
      case 'refund': {
        await ctx.watcher.recorded(checkoutId, deadline);
        const orderId = await orderIdAt(settle.pool, checkoutId, action.order);
        if (!orderId) {
          log.push(`${elapsed} refund of o${action.order}: the checkout was never recorded`);
          return;
        }
        const path = `/v1/payment-orders/${orderId}/refunds`;
        const refundKey = `refund_${tag}_${index}`;
        const answers = await Promise.all(
          Array.from({ length: action.copies + 1 }, () =>
            settle.post(path, action.amount === undefined ? {} : { amount: action.amount }, { 'Idempotency-Key': refundKey }),
          ),
        );
        const ids = new Set<string>();
        for (const answer of answers) {
          log.push(`${elapsed} POST ${path} ${action.amount ?? 'rest'}: ${answer.status} ${JSON.stringify(answer.body)}`);
          if (answer.status >= 500) breach('api', path, `answered ${answer.status} ${JSON.stringify(answer.body)}`);
          if (answer.status === 202) ids.add(answer.body.refundId);
        }
        if (ids.size > 1) breach('idempotency', refundKey, `one Idempotency-Key answered ${ids.size} refunds: ${[...ids].join(', ')}`);
        refundIds.push(...ids);
        for (const id of ids) acceptedRefunds.set(id, action.order);
        return;
      }
    }
  };
  /** The buyer of a 3-D Secure card authenticates at Stripe, and Stripe's webhook reaches Settle (or does not). */
  const authenticate = async (order: number, plan: NonNullable<PaymentMethodPlan['authentication']>) => {
    const stripe = settle.psp.stripe!;
    await ctx.watcher.recorded(checkoutId, deadline);
    const orderId = await orderIdAt(settle.pool, checkoutId, order);
    const waiting = async () => {
      const { rows } = await settle.pool.query<{ id: string }>('SELECT payment_intent_id AS id FROM stripe_payment_intents WHERE payment_order_id = $1', [
        orderId,
      ]);
      const intent = rows[0] && (await stripe.paymentIntents.retrieve(rows[0].id));
      return intent?.status === 'requires_action' ? intent : undefined;
    };
    let intent = orderId ? await waiting() : undefined;
    while (!intent && orderId && Date.now() < deadline && !(await orderFinished(settle.pool, orderId))) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      intent = await waiting();
    }
    if (!intent) {
      log.push(`o${order} never waited for the buyer's authentication`);
      return;
    }
    const deliver = async (eventId: string) => {
      const current = await stripe.paymentIntents.retrieve(intent!.id);
      const payload = JSON.stringify({
        id: eventId,
        object: 'event',
        type: current.status === 'requires_capture' ? 'payment_intent.amount_capturable_updated' : 'payment_intent.requires_action',
        created: Math.floor(Date.now() / 1000),
        data: { object: current },
      });
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: TEST_WEBHOOK_SECRET });
      const response = await fetch(`${settle.baseUrl}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header },
        body: payload,
      });
      log.push(`t+${Date.now() - started}ms webhook ${eventId} for o${order} (${current.status}): ${response.status} ${await response.text()}`);
      if (response.status >= 500) breach('api', '/webhooks/stripe', `answered ${response.status}`);
    };
    if (plan.webhook === 'before') await deliver(`evt_${tag}_${order}_before`);
    if (plan.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
    const answer = await fetch(`http://127.0.0.1:${process.env.SETTLE_TEST_STRIPE_PORT}/v1/payment_intents/${intent.id}/_authenticate`, {
      method: 'POST',
      headers: { Authorization: 'Bearer sk_test_settle', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_secret: intent.client_secret!, success: 'true' }),
    });
    log.push(`t+${Date.now() - started}ms the buyer authenticated o${order}: ${answer.status}`);
    if (plan.webhook === 'after' || plan.webhook === 'twice') await deliver(`evt_${tag}_${order}_after`);
    if (plan.webhook === 'twice') await deliver(`evt_${tag}_${order}_after`);
  };
  const buyers =
    settle.psp.kind === 'stripe'
      ? scenario.orders.flatMap((order, index) => {
          const plan = scenario.paymentMethods[order.paymentMethod]!.authentication;
          return plan ? [authenticate(index, plan)] : [];
        })
      : [];

  await Promise.all([...scenario.actions.map((action, index) => act(action, index)), ...buyers]);

  // The end: the checkout workflows, every refund the client asked for, and every payment order's workflow.
  const bounded = <T>(promise: Promise<T>) =>
    Promise.race([promise, new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref())]);
  await bounded(workflowsEnded);
  const orderIds = (await settle.pool.query<{ id: string }>('SELECT id FROM payment_orders WHERE checkout_id = ANY($1)', [checkoutIds])).rows.map(
    (row) => row.id,
  );
  const ended = (workflowId: string) =>
    settle.temporal.workflow
      .getHandle(workflowId)
      .result()
      .then(
        () => undefined,
        () => undefined,
      );
  await bounded(Promise.all([...refundIds.map((id) => ended(refundWorkflowId(id))), ...orderIds.map((id) => ended(paymentOrderWorkflowId(id)))]));
  if (retriedCompensation) {
    // A retry asked for runs at once; give it a while to end (it waits an hour before its own next try).
    await Promise.race([ended(compensationWorkflowId(checkoutId)), new Promise((resolve) => setTimeout(resolve, COMPENSATION_RETRY_MS).unref())]);
  }
  for (const id of checkoutIds) ctx.watcher.forget(id);

  // An attempt that outlived its activity's timeout may still be at the PSP: let it land before the checker
  // looks, so that what it does is seen (and laid to this scenario).
  const outliving = scenario.paymentMethods.flatMap((method) =>
    method.faults.flatMap(({ fault }) => (fault.kind === 'slow' && fault.ms >= ACTIVITY_TIMEOUT_MS ? [fault.ms] : [])),
  );
  if (outliving.length > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(...outliving) + 1_000));

  for (const text of await unkeptPromises(settle.pool, scenario, checkoutId, accepted, acceptedRefunds, undelivered)) breach('outcome', checkoutId, text);
  return { checkoutIds, log, violations };
}

/**
 * What the answers promised, against how the checkout ended: a cancel or capture the API accepted is carried
 * out; a checkout that met no decline and no cancel succeeds; a refund or release the PSP never refused is
 * never reported refused.
 */
async function unkeptPromises(
  pool: Pool,
  scenario: Scenario,
  checkoutId: string,
  accepted: { cancel: boolean; capture: boolean },
  acceptedRefunds: Map<string, number>,
  undelivered: { cancel: boolean; capture: boolean },
): Promise<string[]> {
  const view = await findCheckoutView(pool, checkoutId);
  if (!view || !isTerminalCheckoutStatus(view.status)) return []; // the checker names a checkout that never ended
  const broken: string[] = [];
  const refuses = (method: PaymentMethodPlan, operation: PspOperation) =>
    method.faults.some((planned) => planned.operation === operation && planned.fault.kind === 'decline');
  const methodOf = (order: number) => scenario.paymentMethods[scenario.orders[order]!.paymentMethod]!;
  const used = scenario.orders.map((_, index) => methodOf(index));

  if (accepted.cancel && view.status !== 'CANCELED') broken.push(`the API accepted a cancel (202), but the checkout ended ${view.status} (${view.failureCode})`);
  if (accepted.capture && view.failureCode === 'authorization_expired') {
    broken.push('the API accepted the capture (202), but the checkout ended with its authorizations expired');
  }
  const cancels = scenario.actions.some((action) => action.kind === 'cancel');
  const declines = used.some((method) => method.card === 'declines' || refuses(method, 'authorize') || refuses(method, 'capture'));
  const captureInTime = scenario.actions.some(
    (action) =>
      action.kind === 'capture' &&
      !(action.via === 'cli' && undelivered.capture) &&
      action.at.after === 'checkout' &&
      action.at.status === 'REQUIRES_CAPTURE' &&
      action.delayMs < scenario.authorizationWindowMs / 2,
  );
  if (!cancels && !declines && (scenario.capture === 'automatic' || captureInTime) && view.status !== 'SUCCEEDED') {
    broken.push(`nothing was declined or canceled, but the checkout ended ${view.status} (${view.failureCode}: ${view.failureReason})`);
  }
  if (view.attention && !used.some((method) => refuses(method, 'void') || refuses(method, 'refund'))) {
    broken.push(`the PSP refused no void and no refund, but the checkout says ${view.attention.code}: ${view.attention.message}`);
  }
  for (const [refundId, order] of acceptedRefunds) {
    const { rows } = await pool.query<{ status: string; failure_code: string | null }>('SELECT status, failure_code FROM refunds WHERE id = $1', [refundId]);
    const refund = rows[0];
    if (refund && refund.status === 'FAILED' && !refuses(methodOf(order), 'refund')) {
      broken.push(`refund ${refundId} of o${order} was accepted (202) and the PSP never refused it, but it ended FAILED (${refund.failure_code})`);
    }
  }
  return broken;
}

async function orderFinished(pool: Pool, orderId: string): Promise<boolean> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM payment_orders WHERE id = $1', [orderId]);
  return rows[0] !== undefined && rows[0].status !== 'PENDING';
}

async function orderIdAt(pool: Pool, checkoutId: string, index: number): Promise<string | undefined> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM payment_orders WHERE checkout_id = $1 AND position = $2', [checkoutId, index + 1]);
  return rows[0]?.id;
}

async function sequentially<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await fn(item));
  return results;
}

/** `temporal workflow signal`, as an operator would send it from a shell; answers what the command said. */
function signalFromShell(cli: DriverContext['cli'], workflowId: string, name: string, input: string[]): Promise<string> {
  if (!cli) return Promise.resolve('skipped: no temporal CLI');
  const args = ['workflow', 'signal', '--address', cli.address, '--namespace', 'default', '--workflow-id', workflowId, '--name', name, ...input];
  return new Promise((resolve) => {
    execFile(cli.path, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve(error ? `exit ${error.code ?? error.signal}: ${(stderr || stdout).trim().split('\n')[0]}` : 'ok');
    });
  });
}
