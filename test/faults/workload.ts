import { setTimeout as sleep } from 'node:timers/promises';
import { Random } from '../support/random';
import { NoAnswerError, type Answer, type SettleClient } from './client';

/**
 * What the buyers and the platform do during a fault run, drawn from the run's seed: checkouts of every
 * size, automatic and manual capture, cancels and captures at random moments, duplicate POSTs, partial,
 * full and racing refunds. Each checkout is drawn from (seed, its index) alone, so a seed gives the same
 * workload however the run's timing falls.
 */

export type ClientAction =
  /** Automatic capture left alone, or manual capture captured once authorized. */
  | 'none'
  | 'capture'
  | 'cancel'
  /** A capture and a cancel sent together once authorized: either may win, never both. */
  | 'captureAndCancel'
  /** Manual capture never captured: the authorization window runs out. */
  | 'letExpire';

export type RefundPlan = 'none' | 'full' | 'partialThenRest' | 'racing' | 'duplicateKey';

export interface CheckoutPlan {
  index: number;
  idempotencyKey: string;
  request: {
    customerId: string;
    currency: string;
    paymentMethod: string;
    orders: Array<{ sellerId: string; amount: number; paymentMethod?: string }>;
    capture: 'automatic' | 'manual';
    allowPartial: boolean;
  };
  /** The same POST sent twice at once, as a client that double-submits. */
  duplicatePost: boolean;
  action: ClientAction;
  /** When the action is taken: after creation (cancel), or after every order is authorized (manual capture). */
  actionDelayMs: number;
  refund: RefundPlan;
  /** For partial refunds: the share of the order refunded first, in (0, 1). */
  refundShare: number;
}

const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'JPY', 'KWD'];

export function planCheckout(seed: string, runId: string, index: number): CheckoutPlan {
  const random = new Random(`${seed}:checkout:${index}`);
  const sellers = Array.from({ length: 40 }, (_, n) => `seller_${n}`);
  const orders = Array.from({ length: random.int(1, 5) }, () => {
    const sellerId = sellers.splice(random.int(0, sellers.length - 1), 1)[0]!;
    const size = random.next();
    const amount = size < 0.6 ? random.int(50, 5_000) : size < 0.9 ? random.int(5_000, 100_000) : random.int(100_000, 5_000_000);
    // A card that declines at authorization, now and then: the rest of the checkout must be released.
    return random.chance(0.06) ? { sellerId, amount, paymentMethod: 'pm_card_chargeCustomerFail' } : { sellerId, amount };
  });
  const capture = random.chance(0.3) ? 'manual' : 'automatic';
  const roll = random.next();
  const action: ClientAction =
    capture === 'automatic'
      ? roll < 0.15
        ? 'cancel'
        : 'none'
      : roll < 0.6
        ? 'capture'
        : roll < 0.8
          ? 'cancel'
          : roll < 0.92
            ? 'captureAndCancel'
            : 'letExpire';
  const refundRoll = random.next();
  const refund: RefundPlan =
    refundRoll < 0.7 ? 'none' : refundRoll < 0.78 ? 'full' : refundRoll < 0.88 ? 'partialThenRest' : refundRoll < 0.94 ? 'racing' : 'duplicateKey';
  return {
    index,
    idempotencyKey: `faults-${runId}-checkout-${index}`,
    request: {
      customerId: `cus_${random.int(1, 60)}`,
      currency: random.pick(CURRENCIES),
      paymentMethod: 'pm_card_visa',
      orders,
      capture,
      allowPartial: random.chance(0.3),
    },
    duplicatePost: random.chance(0.1),
    action,
    actionDelayMs: random.int(0, 4_000),
    refund,
    refundShare: 0.1 + 0.8 * random.next(),
  };
}

export interface CheckoutRun {
  plan: CheckoutPlan;
  checkoutId?: string;
  /** What the client did and was answered, with ms since the run started. */
  steps: string[];
  /** Answers outside the API's contract (a second checkout for one key, a 404 for our checkout, ...). */
  breaches: string[];
  /** The status the client last saw. */
  lastStatus?: string;
  refunds: Array<{ refundId: string; amount: number; status?: string }>;
}

const TERMINAL = ['SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED', 'CANCELED'];

export interface WorkloadContext {
  client: SettleClient;
  runId: string;
  startedAt: number;
  /** How long the client waits for one checkout (or refund) to finish before it moves on. */
  patienceMs: number;
  onCreated(): void;
}

/** One buyer's checkout, from the POST to its refunds, as a client sees it. */
export async function runCheckout(ctx: WorkloadContext, plan: CheckoutPlan): Promise<CheckoutRun> {
  const run: CheckoutRun = { plan, steps: [], breaches: [], refunds: [] };
  const note = (what: string) => run.steps.push(`${((Date.now() - ctx.startedAt) / 1000).toFixed(1)}s ${what}`);
  const answered = (what: string, answer: Answer) =>
    note(`${what} -> ${answer.status}${answer.replayed ? ' (replayed)' : ''}${answer.retries > 0 ? ` after ${answer.retries} retries` : ''}${answer.status >= 400 ? ` ${JSON.stringify(answer.body?.error?.code ?? answer.body)}` : ''}`);
  const expect = (what: string, answer: Answer, allowed: number[]) => {
    answered(what, answer);
    if (!allowed.includes(answer.status)) run.breaches.push(`${what} answered ${answer.status} ${JSON.stringify(answer.body)}; expected ${allowed.join(' or ')}`);
  };

  try {
    const create = () => ctx.client.post('/v1/checkouts', { json: plan.request, idempotencyKey: plan.idempotencyKey });
    const answers = await Promise.all(plan.duplicatePost ? [create(), create()] : [create()]);
    answers.forEach((answer) => expect(`POST /v1/checkouts (key ${plan.idempotencyKey})`, answer, [202]));
    const ids = [...new Set(answers.filter((a) => a.status === 202).map((a) => String(a.body.checkoutId)))];
    if (ids.length > 1) run.breaches.push(`one Idempotency-Key answered ${ids.length} checkouts: ${ids.join(', ')}`);
    if (ids.length === 0) return run;
    const checkoutId = ids[0]!;
    run.checkoutId = checkoutId;
    ctx.onCreated();
    const path = `/v1/checkouts/${checkoutId}`;

    const cancel = async () => expect('cancel', await ctx.client.post(`${path}/cancel`, { json: { reason: 'buyer changed their mind' } }), [202, 409]);
    const capture = async () => expect('capture', await ctx.client.post(`${path}/capture`), [202, 409]);

    if (plan.action === 'cancel') {
      await sleep(plan.actionDelayMs);
      await cancel();
    } else if (plan.action === 'capture' || plan.action === 'captureAndCancel') {
      const status = await waitForStatus(ctx, run, path, (s) => s === 'REQUIRES_CAPTURE' || TERMINAL.includes(s));
      if (status === 'REQUIRES_CAPTURE') {
        await sleep(plan.actionDelayMs);
        await Promise.all(plan.action === 'capture' ? [capture()] : [capture(), cancel()]);
      }
    }

    const final = await waitForStatus(ctx, run, path, (s) => TERMINAL.includes(s));
    if (final === 'SUCCEEDED' || final === 'PARTIALLY_SUCCEEDED') await refund(ctx, run, path, note, expect);
  } catch (error) {
    if (!(error instanceof NoAnswerError)) throw error;
    run.breaches.push(error.message);
    note(error.message);
  }
  return run;
}

/** Polls the checkout until the condition holds or the client's patience ends; answers the status last seen. */
async function waitForStatus(ctx: WorkloadContext, run: CheckoutRun, path: string, done: (status: string) => boolean): Promise<string | undefined> {
  const deadline = Date.now() + ctx.patienceMs;
  for (;;) {
    const answer = await ctx.client.get(path);
    if (answer.status !== 200) {
      run.breaches.push(`GET ${path} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      return undefined;
    }
    const status = String(answer.body.status);
    if (status !== run.lastStatus) run.steps.push(`${((Date.now() - ctx.startedAt) / 1000).toFixed(1)}s status ${status}`);
    run.lastStatus = status;
    if (done(status)) return status;
    if (Date.now() > deadline) {
      run.steps.push(`${((Date.now() - ctx.startedAt) / 1000).toFixed(1)}s client stopped waiting at ${status}`);
      return status;
    }
    await sleep(2_000);
  }
}

async function refund(
  ctx: WorkloadContext,
  run: CheckoutRun,
  path: string,
  note: (what: string) => void,
  expect: (what: string, answer: Answer, allowed: number[]) => void,
): Promise<void> {
  const { plan } = run;
  if (plan.refund === 'none') return;
  const view = (await ctx.client.get(path)).body;
  const order = (view.orders as Array<{ orderId: string; status: string; amount: number }>).find((o) => o.status === 'SUCCEEDED');
  if (!order) return;
  const refundPath = `/v1/payment-orders/${order.orderId}/refunds`;
  let n = 0;
  const key = () => `${plan.idempotencyKey}-refund-${++n}`;
  const part = Math.max(1, Math.min(order.amount - 1, Math.round(order.amount * plan.refundShare)));

  /** One refund request; a 202 must accept exactly what was asked (everything left, when no amount is given). */
  const request = async (amount: number | undefined, idempotencyKey: string, allowed: number[]) => {
    const answer = await ctx.client.post(refundPath, { idempotencyKey, ...(amount === undefined ? {} : { json: { amount } }) });
    const what = `refund ${amount ?? 'the rest'} of ${order.orderId} (key ${idempotencyKey})`;
    expect(what, answer, allowed);
    if (answer.status !== 202) return undefined;
    if (amount !== undefined && answer.body.amount !== amount) run.breaches.push(`${what} was accepted for ${answer.body.amount}`);
    if (!run.refunds.some((r) => r.refundId === answer.body.refundId)) run.refunds.push({ refundId: answer.body.refundId, amount: answer.body.amount });
    return String(answer.body.refundId);
  };

  switch (plan.refund) {
    case 'full':
      await request(undefined, key(), [202]);
      break;
    case 'partialThenRest': {
      const first = await request(part, key(), [202]);
      const settled = first ? await waitForRefund(ctx, run, first) : undefined;
      // Once the first has settled, the rest is refundable; while it is pending, what is left is less.
      await request(undefined, key(), settled && settled !== 'PENDING' ? [202] : [202, 400]);
      break;
    }
    case 'racing':
      // Two refunds at once with their own keys: what both ask exceeds the order, so at most one is whole.
      await Promise.all([request(part, key(), [202, 400]), request(undefined, key(), [202, 400, 409])]);
      break;
    case 'duplicateKey': {
      const same = key();
      const ids = await Promise.all([request(part, same, [202]), request(part, same, [202])]);
      if (ids[0] && ids[1] && ids[0] !== ids[1]) run.breaches.push(`one refund Idempotency-Key answered two refunds: ${ids.join(', ')}`);
      break;
    }
  }
  for (const refundRecord of run.refunds) refundRecord.status = await waitForRefund(ctx, run, refundRecord.refundId);
  note(`refunds ${run.refunds.map((r) => `${r.refundId} ${r.amount} ${r.status}`).join(', ')}`);
}

async function waitForRefund(ctx: WorkloadContext, run: CheckoutRun, refundId: string): Promise<string | undefined> {
  const deadline = Date.now() + ctx.patienceMs;
  for (;;) {
    const answer = await ctx.client.get(`/v1/refunds/${refundId}`);
    if (answer.status !== 200) {
      run.breaches.push(`GET /v1/refunds/${refundId} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      return undefined;
    }
    if (answer.body.status !== 'PENDING' || Date.now() > deadline) return String(answer.body.status);
    await sleep(1_000);
  }
}

/** Runs the plans with at most `concurrency` checkouts under way at once. */
export async function runWorkload(ctx: WorkloadContext, plans: CheckoutPlan[], concurrency: number): Promise<CheckoutRun[]> {
  const runs: CheckoutRun[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < plans.length) {
        const plan = plans[next++]!;
        runs[plan.index] = await runCheckout(ctx, plan);
      }
    }),
  );
  return runs;
}
