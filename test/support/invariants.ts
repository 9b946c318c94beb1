import type { CheckoutView } from '../../domain/checkout';
import {
  CHECKOUT_STATUSES,
  PAYMENT_ORDER_STATUSES,
  REFUND_STATUSES,
  canTransitionCheckout,
  canTransitionPaymentOrder,
  canTransitionRefund,
  isTerminalCheckoutStatus,
  type CheckoutStatus,
  type PaymentOrderStatus,
  type RefundStatus,
} from '../../domain/status';
import { findCheckoutView } from '../../db/checkouts';
import type { EventRecord } from '../../db/events';
import { withTransaction, type Pool } from '../../db/pool';
import { verifyBooks, type Check } from '../../db/verify';
import type { PspCharge } from './psps';

/**
 * The invariants every checkout keeps, whatever the PSP answered, whatever the client asked and whenever,
 * checked from the PSP's own record and the database. Each breach is returned as data, never thrown, so a
 * run reports all of them.
 */

export type Invariant =
  /** The checkout (and every refund of it) ended within the bound. */
  | 'terminal'
  /** What the PSP kept for an order is what the order, the seller's wallet and the ledger say it kept. */
  | 'agreement'
  /** No authorization is left holding the buyer's funds on a finished checkout, unless the checkout says so. */
  | 'hold'
  /** At most one payment was ever confirmed at the PSP for one order. */
  | 'double_charge'
  /** A FAILED or CANCELED checkout kept nothing, or records what it still holds and why. */
  | 'kept_without_record'
  /** Every state change is in the outbox once, in an order the status rules allow. */
  | 'events'
  /** The event feed, read from the start, holds every event of the checkout exactly once. */
  | 'feed'
  /** `npm run verify` holds for the checkout's rows. */
  | 'verify'
  /** The API never answers a 5xx to a well-formed request. */
  | 'api'
  /** One Idempotency-Key with one body answers one resource. */
  | 'idempotency'
  /** The checkout ended as the PSP's answers and the client's accepted requests call for. */
  | 'outcome'
  /** The explorer itself could not play the scenario: a bug in the explorer, to be fixed there. */
  | 'explorer';

export interface Violation {
  invariant: Invariant;
  /** The checkout, order or refund the breach is about. */
  subject: string;
  /** One readable line, starting with the caller's label (e.g. the scenario's seed). */
  message: string;
}

/** The record a finished checkout carries of money it still holds (captured and not refunded, or authorized), and why. */
export interface Attention {
  code: string;
  message: string;
  heldAmount: number;
}

export interface InvariantInput {
  pool: Pool;
  /** The PSP's own record of what it charged for an order (TestPsp.chargesFor, or SimulatedPsp.chargesFor). */
  psp: { chargesFor(paymentOrderId: string): Promise<PspCharge[]> };
  checkoutIds: string[];
  /** Starts every message, e.g. "seed 1234 (stripe)", so a breach names how to replay it. */
  label?: string;
  /**
   * How long a checkout may still take to finish (and its refunds to settle) before that is a breach
   * itself. Default 0: it must already have finished.
   */
  settleWithinMs?: number;
  /** The whole event feed read from the start (readEventFeed); when given, it must hold each of these checkouts' events once. */
  feed?: EventRecord[];
  /**
   * verifyBooks over the database: 'scoped' (default) reports the breaches that name these checkouts' rows,
   * 'all' every breach (a database only these checkouts used), false skips it.
   */
  verify?: 'scoped' | 'all' | false;
  /** verifyBooks' answer already at hand (one run over the database for many checkers), instead of running it again. */
  verified?: Check[];
}

const CAPTURED: readonly PaymentOrderStatus[] = ['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED'];

export async function checkInvariants(input: InvariantInput): Promise<Violation[]> {
  const violations: Violation[] = [];
  const prefix = input.label ? `[${input.label}] ` : '';
  const report = (invariant: Invariant, subject: string, text: string) =>
    violations.push({ invariant, subject, message: `${prefix}${invariant}: ${subject}: ${text}` });

  const deadline = Date.now() + (input.settleWithinMs ?? 0);
  const scopeIds: string[] = [...input.checkoutIds];
  for (const checkoutId of input.checkoutIds) {
    const view = await settledView(input.pool, checkoutId, deadline);
    if (!view) {
      report('terminal', checkoutId, 'no such checkout in the database');
      continue;
    }
    const refunds = await refundsOf(input.pool, checkoutId);
    scopeIds.push(...view.orders.flatMap((order) => [order.orderId, order.sellerId]), ...refunds.map((refund) => refund.id));
    await checkCheckout(input, view, refunds, report);
  }

  if (input.verify !== false) {
    for (const check of input.verified ?? (await verifyBooks(input.pool, 1_000))) {
      if (check.breaches === 0) continue;
      const mine = input.verify === 'all' ? check.examples : check.examples.filter((example) => scopeIds.some((id) => example.includes(id)));
      for (const example of mine) report('verify', check.name, `${check.claim}: ${example}`);
    }
    // Its examples name only a transaction id: find this checkout's own unbalanced transactions directly.
    if (input.verify !== 'all') {
      for (const row of await unbalancedTransactionsOf(input.pool, input.checkoutIds)) {
        report('verify', row.paymentOrderId, `ledger transaction ${row.transactionId} (${row.step}) does not balance in ${row.currency}`);
      }
    }
  }
  return violations;
}

type Report = (invariant: Invariant, subject: string, text: string) => void;

interface RefundRow {
  id: string;
  paymentOrderId: string;
  amount: number;
  status: RefundStatus;
  reason: string;
}

async function checkCheckout(input: InvariantInput, view: CheckoutView, refunds: RefundRow[], report: Report): Promise<void> {
  const checkoutId = view.checkoutId;
  if (!isTerminalCheckoutStatus(view.status)) {
    report('terminal', checkoutId, `still ${view.status} after the bound (orders: ${view.orders.map((o) => `${o.orderId} ${o.status}`).join(', ')})`);
  }
  for (const refund of refunds.filter((r) => r.status === 'PENDING')) {
    report('terminal', refund.id, `refund of ${refund.amount} (${refund.reason}) for ${refund.paymentOrderId} still PENDING after the bound`);
  }
  const attention = ((view as CheckoutView & { attention?: Attention | null }).attention ?? null) as Attention | null;

  let keptAtPsp = 0;
  let heldAtPsp = 0;
  for (const order of view.orders) {
    const charges = await input.psp.chargesFor(order.orderId);
    if (charges.length > 1) {
      report('double_charge', order.orderId, `${charges.length} payments confirmed at the PSP: ${charges.map(describeCharge).join('; ')}`);
    }
    const captured = sum(charges.map((c) => c.amountCaptured));
    const refunded = sum(charges.map((c) => c.amountRefunded));
    const held = sum(charges.filter((c) => c.status === 'requires_capture').map((c) => c.amount));
    const kept = captured - refunded;
    keptAtPsp += kept;
    heldAtPsp += held;

    const books = await orderBooks(input.pool, order.orderId);
    const settleKept = CAPTURED.includes(order.status) ? order.amount - order.refundedAmount : 0;
    if (settleKept !== kept || books.wallet !== kept || books.payable !== kept) {
      report(
        'agreement',
        order.orderId,
        `the PSP kept ${kept} (captured ${captured}, refunded ${refunded}; ${charges.map(describeCharge).join('; ') || 'no payment'}); ` +
          `Settle's order says ${settleKept} (${order.status}, amount ${order.amount}, refunded ${order.refundedAmount}), ` +
          `wallet movements ${books.wallet}, ledger seller_payable ${books.payable}`,
      );
    }
    if (books.captureTransactions !== (captured > 0 ? 1 : 0)) {
      report('agreement', order.orderId, `${books.captureTransactions} capture transactions in the ledger; the PSP captured ${captured}`);
    }
    const fee = sum(charges.filter((c) => c.amountCaptured > 0).map((c) => c.fee));
    if (captured > 0 && CAPTURED.includes(order.status) && order.feeAmount !== fee) {
      report('agreement', order.orderId, `the PSP's fee is ${fee}, Settle's order says ${order.feeAmount}`);
    }
    const succeededRefunds = sum(refunds.filter((r) => r.paymentOrderId === order.orderId && r.status === 'SUCCEEDED').map((r) => r.amount));
    if (succeededRefunds !== refunded) {
      report('agreement', order.orderId, `the PSP refunded ${refunded}; Settle's succeeded refunds add up to ${succeededRefunds}`);
    }
    if (held > 0 && order.status !== 'AUTHORIZED') {
      report('hold', order.orderId, `the PSP holds ${held} but Settle's order is ${order.status}`);
    }
    if (held === 0 && order.status === 'AUTHORIZED' && isTerminalCheckoutStatus(view.status)) {
      report('hold', order.orderId, `Settle's order is AUTHORIZED but the PSP holds nothing (${charges.map(describeCharge).join('; ') || 'no payment'})`);
    }
    if (order.status === 'PENDING' && isTerminalCheckoutStatus(view.status)) {
      report('terminal', order.orderId, `order still PENDING on a ${view.status} checkout`);
    }
  }

  if (isTerminalCheckoutStatus(view.status)) {
    // What the outcome gave back but the PSP still has: on a FAILED or CANCELED checkout everything kept or
    // held; on a successful one the holds only (what it captured it was meant to keep).
    const gaveBack = view.status === 'FAILED' || view.status === 'CANCELED';
    const stillHeld = gaveBack ? keptAtPsp + heldAtPsp : heldAtPsp;
    if (stillHeld !== 0 && !attention) {
      report(
        gaveBack ? 'kept_without_record' : 'hold',
        checkoutId,
        `${view.status} but the PSP still has ${keptAtPsp} captured and not refunded and ${heldAtPsp} authorized, with no attention record`,
      );
    }
    if (attention && attention.heldAmount !== stillHeld) {
      report(
        gaveBack ? 'kept_without_record' : 'hold',
        checkoutId,
        `${view.status} with attention ${attention.code} saying ${attention.heldAmount} is held, but the PSP has ${keptAtPsp} captured and not refunded and ${heldAtPsp} authorized`,
      );
    }
  }

  if (view.status === 'SUCCEEDED' || view.status === 'PARTIALLY_SUCCEEDED') {
    // A compensation gives back what a failed or canceled checkout took; a successful one keeps its captures.
    for (const refund of refunds.filter((r) => r.reason === 'checkout_canceled' || r.reason === 'sibling_failed')) {
      report('outcome', refund.id, `a ${view.status} checkout has a compensation refund of ${refund.amount} (${refund.reason}, ${refund.status}) for ${refund.paymentOrderId}`);
    }
  }
  await checkEvents(input, view, refunds, report);
}

/** The checkout as recorded, once it has finished and no refund of it is pending, or at the deadline as it then is. */
async function settledView(pool: Pool, checkoutId: string, deadline: number): Promise<CheckoutView | undefined> {
  for (;;) {
    // One snapshot: a refund committing between the two reads would leave a view older than "nothing pending".
    const { view, pending } = await withTransaction(pool, async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return {
        view: await findCheckoutView(client, checkoutId),
        pending: await client.query(`SELECT 1 FROM refunds WHERE checkout_id = $1 AND status = 'PENDING' LIMIT 1`, [checkoutId]),
      };
    });
    const settled = view !== undefined && isTerminalCheckoutStatus(view.status) && pending.rowCount === 0;
    if (settled || Date.now() >= deadline) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function refundsOf(pool: Pool, checkoutId: string): Promise<RefundRow[]> {
  const { rows } = await pool.query(`SELECT id, payment_order_id, amount, status, reason FROM refunds WHERE checkout_id = $1 ORDER BY created_at, id`, [
    checkoutId,
  ]);
  return rows.map((row) => ({ id: row.id, paymentOrderId: row.payment_order_id, amount: Number(row.amount), status: row.status, reason: row.reason }));
}

interface OrderBooks {
  wallet: number;
  payable: number;
  captureTransactions: number;
}

async function orderBooks(pool: Pool, paymentOrderId: string): Promise<OrderBooks> {
  const { rows } = await pool.query(
    `SELECT
       (SELECT coalesce(sum(amount), 0) FROM wallet_movements WHERE payment_order_id = $1) AS wallet,
       (SELECT coalesce(sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END), 0)
          FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
         WHERE t.payment_order_id = $1 AND e.account_id LIKE 'seller\\_payable:%') AS payable,
       (SELECT count(*) FROM ledger_transactions WHERE payment_order_id = $1 AND step = 'capture') AS captures`,
    [paymentOrderId],
  );
  return { wallet: Number(rows[0].wallet), payable: Number(rows[0].payable), captureTransactions: Number(rows[0].captures) };
}

async function unbalancedTransactionsOf(
  pool: Pool,
  checkoutIds: string[],
): Promise<Array<{ transactionId: string; paymentOrderId: string; step: string; currency: string }>> {
  const { rows } = await pool.query(
    `SELECT t.id::text AS transaction_id, t.payment_order_id, t.step, e.currency
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
      WHERE t.payment_order_id IN (SELECT id FROM payment_orders WHERE checkout_id = ANY($1))
      GROUP BY t.id, t.payment_order_id, t.step, e.currency
     HAVING sum(CASE e.direction WHEN 'debit' THEN e.amount ELSE -e.amount END) <> 0`,
    [checkoutIds],
  );
  return rows.map((row) => ({ transactionId: row.transaction_id, paymentOrderId: row.payment_order_id, step: row.step, currency: String(row.currency).trim() }));
}

interface StoredEvent {
  id: string;
  type: string;
  paymentOrderId: string | null;
  refundId: string | null;
  data: Record<string, unknown>;
}

/**
 * The outbox holds each state change once: per checkout, order and refund, the statuses its events name
 * follow one another as domain/status.ts allows, start where the row started, and end where the row is now.
 */
async function checkEvents(input: InvariantInput, view: CheckoutView, refunds: RefundRow[], report: Report): Promise<void> {
  const { rows } = await input.pool.query(
    // Ordered by the bigint column itself: `ORDER BY id` would sort the text alias ('10' < '9').
    `SELECT e.id::text AS id, e.type, e.payment_order_id, e.refund_id, e.data FROM events e WHERE e.checkout_id = $1 ORDER BY e.id`,
    [view.checkoutId],
  );
  const events: StoredEvent[] = rows.map((row) => ({ id: row.id, type: row.type, paymentOrderId: row.payment_order_id, refundId: row.refund_id, data: row.data }));

  // Status changes only: other events (an attention record raised or resolved) are not statuses.
  const isStatusEvent = (type: string, statuses: readonly string[]) => {
    const what = type.slice(type.indexOf('.') + 1).toUpperCase();
    return what === 'CREATED' || statuses.includes(what);
  };
  const checkoutEvents = events.filter((e) => e.type.startsWith('checkout.') && isStatusEvent(e.type, CHECKOUT_STATUSES));
  checkSequence(report, view.checkoutId, checkoutEvents, {
    created: true,
    current: view.status,
    allowed: (from, to) => canTransitionCheckout(from as CheckoutStatus, to as CheckoutStatus),
  });
  for (const order of view.orders) {
    checkSequence(
      report,
      order.orderId,
      events.filter((e) => e.type.startsWith('payment_order.') && e.paymentOrderId === order.orderId && isStatusEvent(e.type, PAYMENT_ORDER_STATUSES)),
      {
        created: false,
        initial: 'PENDING',
        current: order.status,
        allowed: (from, to) => canTransitionPaymentOrder(from as PaymentOrderStatus, to as PaymentOrderStatus),
      },
    );
  }
  for (const refund of refunds) {
    checkSequence(
      report,
      refund.id,
      events.filter((e) => e.type.startsWith('refund.') && e.refundId === refund.id && isStatusEvent(e.type, REFUND_STATUSES)),
      { created: true, current: refund.status, allowed: (from, to) => canTransitionRefund(from as RefundStatus, to as RefundStatus) },
    );
  }
  const known = new Set([view.checkoutId, ...view.orders.map((o) => o.orderId), ...refunds.map((r) => r.id)]);
  for (const event of events) {
    const subject = event.refundId ?? event.paymentOrderId ?? view.checkoutId;
    if (!known.has(subject)) report('events', subject, `event ${event.id} ${event.type} names a row that does not exist`);
  }

  if (input.feed) checkFeedOf(view.checkoutId, events, input.feed, report);
}

function checkSequence(
  report: Report,
  subject: string,
  events: StoredEvent[],
  rules: { created: boolean; initial?: string; current: string; allowed: (from: string, to: string) => boolean },
): void {
  const trail = events.map((e) => e.type).join(' > ') || 'no events';
  let status = rules.initial;
  let refunded = -1;
  let rest = events;
  if (rules.created) {
    const [first, ...others] = events;
    if (!first || !first.type.endsWith('.created')) {
      report('events', subject, `does not start with a .created event (${trail})`);
      return;
    }
    status = String(first.data.status);
    rest = others;
  }
  for (const event of rest) {
    const to = event.type.slice(event.type.indexOf('.') + 1).toUpperCase();
    if (to === 'CREATED') {
      report('events', subject, `created twice (${trail})`);
      continue;
    }
    if (String(event.data.status) !== to) report('events', subject, `event ${event.id} ${event.type} carries status ${String(event.data.status)}`);
    // A status may repeat only where each repetition is a change of its own (one more partial refund).
    const repeatsRefund = to === status && to === 'PARTIALLY_REFUNDED' && Number(event.data.refunded_amount) > refunded;
    if (!rules.allowed(status!, to) || (to === status && !repeatsRefund)) {
      report('events', subject, `${status} > ${to} is not a change the status rules allow, or is recorded twice (${trail})`);
    }
    status = to;
    if (event.data.refunded_amount !== undefined) refunded = Number(event.data.refunded_amount);
  }
  if (status !== rules.current) report('events', subject, `is ${rules.current} but its events end at ${status} (${trail})`);
}

/**
 * The feed, as a consumer read it, holds each event of these checkouts exactly once and nothing else of theirs.
 * (checkInvariants does this too when given a feed; this is for a feed read once at the end of many scenarios.)
 */
export async function checkEventFeed(input: { pool: Pool; feed: EventRecord[]; checkoutIds: string[]; label?: string; feedName?: string }): Promise<Violation[]> {
  const violations: Violation[] = [];
  const prefix = `${input.label ? `[${input.label}] ` : ''}`;
  const report = (invariant: Invariant, subject: string, text: string) =>
    violations.push({ invariant, subject, message: `${prefix}${invariant}: ${subject}: ${input.feedName ? `${input.feedName}: ` : ''}${text}` });
  const { rows } = await input.pool.query(`SELECT e.id::text AS id, e.type, e.checkout_id FROM events e WHERE e.checkout_id = ANY($1) ORDER BY e.id`, [input.checkoutIds]);
  for (const checkoutId of input.checkoutIds) {
    const events = rows.filter((row) => row.checkout_id === checkoutId).map((row) => ({ id: row.id as string, type: row.type as string }));
    checkFeedOf(checkoutId, events, input.feed, report);
  }
  return violations;
}

function checkFeedOf(checkoutId: string, events: Array<{ id: string; type: string }>, feed: EventRecord[], report: Report): void {
  const inFeed = new Map<string, number>();
  for (const event of feed) {
    if (event.checkoutId === checkoutId) inFeed.set(event.id, (inFeed.get(event.id) ?? 0) + 1);
  }
  const missing = events.filter((e) => !inFeed.has(e.id));
  const repeated = [...inFeed].filter(([, count]) => count > 1).map(([id]) => id);
  const outboxIds = new Set(events.map((e) => e.id));
  const stray = [...inFeed.keys()].filter((id) => !outboxIds.has(id));
  if (missing.length > 0) {
    report('feed', checkoutId, `misses ${missing.length} of its ${events.length} events: ${missing.map((e) => `${e.id} ${e.type}`).join(', ')}`);
  }
  if (repeated.length > 0) report('feed', checkoutId, `holds events ${repeated.join(', ')} more than once`);
  if (stray.length > 0) report('feed', checkoutId, `holds events ${stray.join(', ')} that the outbox does not`);
}

/** Reads the whole event feed from the start, page by page, as a consumer of GET /v1/events would. */
export async function readEventFeed(api: { baseUrl: string; authHeaders: Record<string, string> }, pageSize = 500): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const url = `${api.baseUrl}/v1/events?limit=${pageSize}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const response = await fetch(url, { headers: api.authHeaders });
    if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as { data: EventRecord[]; nextCursor: string; hasMore: boolean };
    events.push(...page.data);
    after = page.nextCursor;
    if (!page.hasMore) return events;
  }
}

export function formatViolations(violations: Violation[]): string {
  return violations.map((violation) => violation.message).join('\n');
}

/** Every breach of the invariants for these checkouts of a Settle, once they had this long to finish ('' when none). */
export async function invariantViolations(settle: Pick<InvariantInput, 'pool' | 'psp'>, checkoutIds: string[], settleWithinMs: number): Promise<string> {
  return formatViolations(await checkInvariants({ pool: settle.pool, psp: settle.psp, checkoutIds, settleWithinMs }));
}

function describeCharge(charge: PspCharge): string {
  return `${charge.pspReference} ${charge.status} amount ${charge.amount} captured ${charge.amountCaptured} refunded ${charge.amountRefunded}`;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
