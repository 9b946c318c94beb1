import type { PspFault, PspOperation } from '../../psp/faults';
import { Random } from '../support/random';

/**
 * A scenario: one checkout, the PSP's answers to each of its operations, and what the client does and when.
 * Drawn whole from a seed, so a seed names a scenario.
 */
export interface Scenario {
  seed: number;
  /** One currency per checkout; where Stripe's unit and ISO's agree. */
  currency: 'USD' | 'EUR' | 'GBP' | 'JPY';
  capture: 'automatic' | 'manual';
  allowPartial: boolean;
  /** The window a manual-capture checkout waits for its capture (the Settle the scenario runs on is started with it). */
  authorizationWindowMs: number;
  /** Payment methods, each with the faults the PSP meets on it; index 0 is the checkout's own. */
  paymentMethods: PaymentMethodPlan[];
  orders: OrderPlan[];
  /** Further POSTs of the checkout with the same Idempotency-Key and body: alongside the first, or after it. */
  duplicatePosts: { copies: number; when: 'alongside' | 'after' };
  actions: ClientAction[];
}

/** requires_authentication: Stripe's 3-D Secure card (on the simulator, which has none, a visa). */
export type Card = 'visa' | 'declines' | 'requires_authentication';

export interface PaymentMethodPlan {
  card: Card;
  faults: Array<{ operation: PspOperation; fault: PspFault }>;
  /**
   * For a 3-D Secure card: the buyer authenticates this long after the payment starts waiting for them,
   * and Stripe's webhook comes before that, after it, twice after it, or never (Settle then asks again on its own).
   */
  authentication?: { delayMs: number; webhook: 'before' | 'after' | 'twice' | 'none' };
}

export interface OrderPlan {
  amount: number;
  /** Which payment method pays it; 0 is the checkout's (the order names none of its own). */
  paymentMethod: number;
}

/** A moment in the checkout's life, observed from its events; the action waits for it (or for the end), then delayMs. */
export type Moment =
  | { after: 'accepted' }
  | { after: 'order'; order: number; status: 'AUTHORIZED' | 'SUCCEEDED' }
  | { after: 'checkout'; status: 'REQUIRES_CAPTURE' | 'CAPTURING' | 'finished' };

export type ClientAction = { at: Moment; delayMs: number } & (
  | { kind: 'cancel'; via: 'api' | 'cli'; reason: string }
  | { kind: 'capture'; via: 'api' | 'cli' }
  /** amount: undefined refunds what is left; copies: the same request again with the same key, alongside. */
  | { kind: 'refund'; order: number; amount: number | undefined; copies: number }
  /** Ask a finished checkout whose void or refund the PSP refused to try again now. */
  | { kind: 'retryCompensation'; via: 'api' | 'cli' }
);

export const OPERATIONS: readonly PspOperation[] = ['authorize', 'capture', 'void', 'refund'];

/** Longer than the PSP activities' 30 s start-to-close timeout. */
const BEYOND_ACTIVITY_TIMEOUT = { min: 31_000, max: 34_000 };

export function drawScenario(seed: number, options: { authorizationWindowMs: number }): Scenario {
  const random = new Random(seed);
  const currency = random.pick(['USD', 'EUR', 'GBP', 'JPY'] as const);
  const capture = random.chance(0.4) ? 'manual' : 'automatic';
  const allowPartial = random.chance(0.4);

  const orderCount = random.weighted([
    [1, 2],
    [2, 3],
    [3, 3],
    [4, 1],
    [5, 1],
  ] as const);
  // Swarm testing: each scenario enables a few kinds of fault and meets them often, so that faults that only
  // matter together (a capture declined, then the void refused) meet in one checkout.
  const enabled = FAULT_KINDS.filter(() => random.chance(0.4));
  const faultRate = enabled.length === 0 ? 0 : random.pick([0.25, 0.5, 0.75]);
  const methodCount = random.chance(0.3) ? 1 : random.int(1, orderCount);
  const orders: OrderPlan[] = Array.from({ length: orderCount }, (_, index) => ({
    amount: currency === 'JPY' ? random.int(100, 50_000) : random.int(100, 100_000),
    // Every payment method pays at least one order.
    paymentMethod: index < methodCount ? index : random.int(0, methodCount - 1),
  }));
  const paymentMethods: PaymentMethodPlan[] = Array.from({ length: methodCount }, () => {
    const card = random.weighted<Card>([
      ['visa', 80],
      ['declines', 12],
      ['requires_authentication', 8],
    ]);
    const faults = OPERATIONS.flatMap((operation) =>
      random.chance(faultRate) ? [{ operation, fault: drawFault(random, operation, random.pick(enabled)) }] : [],
    );
    const authentication =
      card === 'requires_authentication'
        ? { delayMs: random.int(0, 3_000), webhook: random.pick(['before', 'after', 'twice', 'none'] as const) }
        : undefined;
    return { card, faults, ...(authentication ? { authentication } : {}) };
  });

  const duplicatePosts = { copies: random.chance(0.2) ? random.int(1, 2) : 0, when: random.pick(['alongside', 'after'] as const) };

  const actions: ClientAction[] = [];
  const anyOrder = () => random.int(0, orderCount - 1);
  const moment = (): Moment =>
    random.weighted<Moment>([
      [{ after: 'accepted' }, 2],
      [{ after: 'order', order: anyOrder(), status: 'AUTHORIZED' }, 3],
      [{ after: 'order', order: anyOrder(), status: 'SUCCEEDED' }, 2],
      [{ after: 'checkout', status: 'REQUIRES_CAPTURE' }, capture === 'manual' ? 3 : 0],
      [{ after: 'checkout', status: 'CAPTURING' }, 2],
      [{ after: 'checkout', status: 'finished' }, 1],
    ]);
  const shortDelay = () => random.weighted([
    [0, 3],
    [random.int(1, 300), 3],
    [random.int(300, 2_000), 2],
  ] as const);

  if (capture === 'manual' && random.chance(0.8)) {
    // Mostly well inside the window; sometimes right at its end, racing the expiry.
    const delayMs = random.chance(0.15) ? options.authorizationWindowMs + random.int(-300, 300) : shortDelay();
    actions.push({ kind: 'capture', via: random.chance(0.3) ? 'cli' : 'api', at: { after: 'checkout', status: 'REQUIRES_CAPTURE' }, delayMs });
  }
  if (random.chance(0.05)) {
    // A capture where none is due: an automatic checkout, or any stage.
    actions.push({ kind: 'capture', via: random.pick(['api', 'cli'] as const), at: moment(), delayMs: shortDelay() });
  }
  if (random.chance(0.3)) {
    const reason = random.weighted([
      ['changed my mind', 5],
      ['', 1],
      ['déjà vu ✓ 🚚', 1],
      ['a\u0000b', 1],
    ] as const);
    actions.push({ kind: 'cancel', via: random.chance(0.35) ? 'cli' : 'api', reason, at: moment(), delayMs: shortDelay() });
  }
  const refunds = random.weighted([
    [0, 6],
    [1, 3],
    [2, 1],
  ] as const);
  for (let i = 0; i < refunds; i++) {
    const order = anyOrder();
    const amount = random.chance(0.4) ? undefined : random.int(1, orders[order]!.amount);
    const at: Moment = random.weighted<Moment>([
      [{ after: 'order', order, status: 'SUCCEEDED' }, 3],
      [{ after: 'checkout', status: 'finished' }, 2],
      [moment(), 1],
    ]);
    actions.push({ kind: 'refund', order, amount, copies: random.chance(0.2) ? 1 : 0, at, delayMs: shortDelay() });
  }

  if (random.chance(0.3)) {
    // Mostly once the checkout has finished (its compensation refused); sometimes while it still runs.
    const at: Moment = random.chance(0.8) ? { after: 'checkout', status: 'finished' } : moment();
    actions.push({ kind: 'retryCompensation', via: random.chance(0.3) ? 'cli' : 'api', at, delayMs: shortDelay() });
  }

  return { seed, currency, capture, allowPartial, authorizationWindowMs: options.authorizationWindowMs, paymentMethods, orders, duplicatePosts, actions };
}

const FAULT_KINDS = ['decline', 'transient', 'timeoutAfterCommit', 'slow', 'inUse'] as const;

function drawFault(random: Random, operation: PspOperation, kind: (typeof FAULT_KINDS)[number]): PspFault {
  switch (kind) {
    case 'decline': {
      const code = operation === 'void' ? 'payment_intent_unexpected_state' : random.pick(['card_declined', 'insufficient_funds', 'expired_card']);
      // A refused void or refund may be accepted when tried again; any decline may take a while to come.
      const times = (operation === 'void' || operation === 'refund') && random.chance(0.5) ? { times: random.int(1, 2) } : {};
      const afterMs = random.chance(0.25) ? { afterMs: random.int(100, 3_000) } : {};
      return { kind, code, ...times, ...afterMs };
    }
    case 'transient':
      return { kind, times: random.int(1, 4) };
    case 'timeoutAfterCommit':
      return { kind, times: random.int(1, 3) };
    case 'inUse':
      return { kind, times: random.int(1, 3) };
    case 'slow':
      return random.chance(0.35)
        ? { kind, ms: random.int(BEYOND_ACTIVITY_TIMEOUT.min, BEYOND_ACTIVITY_TIMEOUT.max), times: 1 }
        : { kind, ms: random.int(50, 2_500) };
  }
}

/** The scenario in one line, for a report. */
export function describeScenario(scenario: Scenario): string {
  const methods = scenario.paymentMethods.map(
    (method, index) =>
      `pm${index}=${method.card}${method.authentication ? `(+${method.authentication.delayMs}ms,webhook ${method.authentication.webhook})` : ''}${method.faults.length ? `{${method.faults.map(({ operation, fault }) => `${operation}:${describeFault(fault)}`).join(',')}}` : ''}`,
  );
  const orders = scenario.orders.map((order, index) => `o${index}=${order.amount}@pm${order.paymentMethod}`);
  const actions = scenario.actions.map((action) => {
    const when = `${describeMoment(action.at)}+${action.delayMs}ms`;
    switch (action.kind) {
      case 'cancel':
        return `cancel(${action.via},${JSON.stringify(action.reason)})@${when}`;
      case 'capture':
        return `capture(${action.via})@${when}`;
      case 'refund':
        return `refund(o${action.order},${action.amount ?? 'rest'}${action.copies ? `,x${action.copies + 1}` : ''})@${when}`;
      case 'retryCompensation':
        return `retryCompensation(${action.via})@${when}`;
    }
  });
  const duplicates = scenario.duplicatePosts.copies ? [`post x${scenario.duplicatePosts.copies + 1} ${scenario.duplicatePosts.when}`] : [];
  return [
    `${scenario.currency} ${scenario.capture}${scenario.allowPartial ? ' allowPartial' : ''}`,
    methods.join(' '),
    orders.join(' '),
    ...duplicates,
    ...actions,
  ].join(' | ');
}

function describeFault(fault: PspFault): string {
  switch (fault.kind) {
    case 'decline':
      return `decline(${fault.code}${fault.times ? `x${fault.times}` : ''}${fault.afterMs ? `,after ${fault.afterMs}ms` : ''})`;
    case 'slow':
      return `slow(${fault.ms}ms${fault.times ? `x${fault.times}` : ''})`;
    default:
      return `${fault.kind}x${fault.times}`;
  }
}

function describeMoment(moment: Moment): string {
  switch (moment.after) {
    case 'accepted':
      return 'accepted';
    case 'order':
      return `o${moment.order}.${moment.status}`;
    case 'checkout':
      return moment.status;
  }
}
