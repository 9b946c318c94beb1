import type { CheckoutView } from '../domain/checkout';
import { isCheckoutId, isPaymentOrderId } from '../domain/ids';
import { amountFromDb, type Currency } from '../domain/money';
import { isRefundId } from '../domain/refund';
import type { RefundView } from '../domain/refund';
import type { CheckoutStatus, PaymentOrderStatus, RefundStatus } from '../domain/status';
import { CHECKOUT_COLUMNS, checkoutViews, PAYMENT_ORDER_COLUMNS, type CheckoutRow, type PaymentOrderRow } from './checkouts';
import { paymentOrderResources, type PaymentOrderResource } from './paymentOrders';
import type { Pool, Queryable } from './pool';
import { REFUND_COLUMNS, refundViews, type RefundRow } from './refunds';

/** A creation-time range: from `gte` (included) to `lt` (excluded), ISO 8601 timestamps. */
export interface CreatedRange {
  gte?: string;
  lt?: string;
}

export interface ListRequest {
  /** 1 to 100. */
  limit: number;
  /** The id of the last item of the previous page. */
  startingAfter?: string;
  created?: CreatedRange;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

/** Answered instead of a page when starting_after names no item of the list. */
export const UNKNOWN_CURSOR = 'unknown_cursor';
export type Listed<T> = Page<T> | typeof UNKNOWN_CURSOR;

/** A query's parameters, numbered as they are added. */
export class Parameters {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * One page of a table, newest first by (created_at, id), after the cursor row. Each page is a keyset read: the
 * cursor's own (created_at, id) is looked up in the database (never rounded through a JS Date) and the page is
 * the next `limit` rows below it in an index ordered the same way, so a page costs the same on the millionth
 * row as on the first, and rows created while a client pages land above its cursor and are not met twice.
 */
export async function keysetPage<Row>(
  db: Queryable,
  table: string,
  columns: string,
  isId: (value: string) => boolean,
  request: ListRequest,
  where: (params: Parameters) => string[],
  /** A list within one parent (an endpoint's deliveries): a cursor must be one of its rows, too. */
  scope?: { column: string; value: string },
): Promise<Listed<Row>> {
  const params = new Parameters();
  const conditions = where(params);
  if (scope) conditions.push(`${scope.column} = ${params.add(scope.value)}`);
  if (request.created?.gte !== undefined) conditions.push(`created_at >= ${params.add(request.created.gte)}::timestamptz`);
  if (request.created?.lt !== undefined) conditions.push(`created_at < ${params.add(request.created.lt)}::timestamptz`);
  if (request.startingAfter !== undefined) {
    const cursorId = request.startingAfter;
    if (!isId(cursorId)) return UNKNOWN_CURSOR;
    const found = await db.query(`SELECT 1 FROM ${table} WHERE id = $1${scope ? ` AND ${scope.column} = $2` : ''}`, [
      cursorId,
      ...(scope ? [scope.value] : []),
    ]);
    if (found.rowCount === 0) return UNKNOWN_CURSOR;
    const cursor = params.add(cursorId);
    conditions.push(`(created_at, id) < ((SELECT created_at FROM ${table} WHERE id = ${cursor}), ${cursor})`);
  }
  const limit = params.add(request.limit + 1);
  const { rows } = await db.query(
    `SELECT ${columns} FROM ${table}
      ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC
      LIMIT ${limit}`,
    params.values,
  );
  return { data: rows.slice(0, request.limit) as Row[], hasMore: rows.length > request.limit };
}

export interface CheckoutFilter {
  status?: CheckoutStatus;
  customerId?: string;
}

export async function listCheckouts(db: Queryable, filter: CheckoutFilter, request: ListRequest): Promise<Listed<CheckoutView>> {
  const page = await keysetPage<CheckoutRow>(db, 'checkouts', CHECKOUT_COLUMNS, isCheckoutId, request, (params) => [
    ...(filter.status !== undefined ? [`status = ${params.add(filter.status)}`] : []),
    ...(filter.customerId !== undefined ? [`customer_id = ${params.add(filter.customerId)}`] : []),
  ]);
  if (page === UNKNOWN_CURSOR) return page;
  return { data: await checkoutViews(db, page.data), hasMore: page.hasMore };
}

export interface PaymentOrderFilter {
  status?: PaymentOrderStatus;
  checkoutId?: string;
  sellerId?: string;
  /** The customer of the order's checkout. */
  customerId?: string;
}

export async function listPaymentOrders(
  db: Queryable,
  filter: PaymentOrderFilter,
  request: ListRequest,
): Promise<Listed<PaymentOrderResource>> {
  const page = await keysetPage<PaymentOrderRow>(db, 'payment_orders', PAYMENT_ORDER_COLUMNS, isPaymentOrderId, request, (params) => [
    ...(filter.status !== undefined ? [`status = ${params.add(filter.status)}`] : []),
    ...(filter.checkoutId !== undefined ? [`checkout_id = ${params.add(filter.checkoutId)}`] : []),
    ...(filter.sellerId !== undefined ? [`seller_id = ${params.add(filter.sellerId)}`] : []),
    ...(filter.customerId !== undefined
      ? [`checkout_id IN (SELECT id FROM checkouts WHERE customer_id = ${params.add(filter.customerId)})`]
      : []),
  ]);
  if (page === UNKNOWN_CURSOR) return page;
  return { data: paymentOrderResources(page.data), hasMore: page.hasMore };
}

export interface RefundFilter {
  status?: RefundStatus;
  paymentOrderId?: string;
}

export async function listRefunds(db: Queryable, filter: RefundFilter, request: ListRequest): Promise<Listed<RefundView>> {
  const page = await keysetPage<RefundRow>(db, 'refunds', REFUND_COLUMNS, isRefundId, request, (params) => [
    ...(filter.status !== undefined ? [`status = ${params.add(filter.status)}`] : []),
    ...(filter.paymentOrderId !== undefined ? [`payment_order_id = ${params.add(filter.paymentOrderId)}`] : []),
  ]);
  if (page === UNKNOWN_CURSOR) return page;
  return { data: refundViews(page.data), hasMore: page.hasMore };
}

/** How many, and how much, of one status in one currency. */
export interface StatusTotal {
  status: string;
  currency: Currency;
  count: number;
  /** Minor units of `currency`: never summed with another currency. */
  amount: number;
}

export interface Stats {
  checkouts: StatusTotal[];
  paymentOrders: StatusTotal[];
  refunds: StatusTotal[];
}

/**
 * Counts and amounts by status and currency of what was created in the range, all three read in one statement
 * (one snapshot): a checkout's orders are counted with it or not at all. A checkout's amount is its total.
 */
export async function statsOver(db: Queryable, range: Required<CreatedRange>): Promise<Stats> {
  const { rows } = await db.query<{ resource: keyof Stats; status: string; currency: Currency; count: string; amount: string }>(
    `SELECT 'checkouts' AS resource, status, currency, count(*) AS count, sum(total_amount) AS amount
       FROM checkouts WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz GROUP BY status, currency
     UNION ALL
     SELECT 'paymentOrders', status, currency, count(*), sum(amount)
       FROM payment_orders WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz GROUP BY status, currency
     UNION ALL
     SELECT 'refunds', status, currency, count(*), sum(amount)
       FROM refunds WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz GROUP BY status, currency
     ORDER BY resource, status, currency`,
    [range.gte, range.lt],
  );
  const stats: Stats = { checkouts: [], paymentOrders: [], refunds: [] };
  for (const row of rows) {
    stats[row.resource].push({ status: row.status, currency: row.currency, count: Number(row.count), amount: amountFromDb(row.amount) });
  }
  return stats;
}

export interface LedgerAccountView {
  id: string;
  kind: 'asset' | 'liability' | 'revenue' | 'expense';
  currency: Currency;
  /**
   * The sum of every entry, on the account's normal side: debits less credits for an asset or an expense,
   * credits less debits for a liability or revenue (what the platform owes a seller is positive).
   */
  balance: number;
}

export interface LedgerEntryView {
  /** The entry's id: its place in the order the ledger posted entries. */
  id: string;
  transactionId: string;
  direction: 'debit' | 'credit';
  amount: number;
  currency: Currency;
  paymentOrderId: string;
  step: string;
  /** When its transaction was posted. */
  createdAt: string;
}

export type LedgerEntries = { account: LedgerAccountView } & Page<LedgerEntryView>;

const ENTRY_ID = /^[1-9][0-9]{0,18}$/;
const MAX_ENTRY_ID = 2n ** 63n - 1n;

function isEntryId(value: string): boolean {
  return ENTRY_ID.test(value) && BigInt(value) <= MAX_ENTRY_ID;
}

/**
 * An account's entries newest first (by entry id, the order of posting: an entry has no time of its own,
 * its transaction has), and the account's balance over every entry, both read in one snapshot so that the
 * first page's entries are the newest the balance counts. Undefined for an account the ledger has never used.
 * The balance is summed from the entries' index alone.
 */
export async function listLedgerEntries(
  pool: Pool,
  accountId: string,
  request: Omit<ListRequest, 'created'>,
): Promise<LedgerEntries | typeof UNKNOWN_CURSOR | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const accounts = await client.query<{ id: string; kind: LedgerAccountView['kind']; currency: Currency; debits_less_credits: string }>(
      `SELECT a.id, a.kind, a.currency,
              (SELECT coalesce(sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END), 0)
                 FROM ledger_entries e WHERE e.account_id = a.id) AS debits_less_credits
         FROM ledger_accounts a WHERE a.id = $1`,
      [accountId],
    );
    const account = accounts.rows[0];
    if (!account) return undefined;
    if (request.startingAfter !== undefined) {
      if (!isEntryId(request.startingAfter)) return UNKNOWN_CURSOR;
      const found = await client.query('SELECT 1 FROM ledger_entries WHERE id = $1 AND account_id = $2', [request.startingAfter, accountId]);
      if (found.rowCount === 0) return UNKNOWN_CURSOR;
    }
    const { rows } = await client.query<{
      entry_id: string;
      transaction_id: string;
      direction: LedgerEntryView['direction'];
      amount: string;
      currency: Currency;
      payment_order_id: string;
      step: string;
      created_at: Date;
    }>(
      `SELECT e.id::text AS entry_id, e.transaction_id::text AS transaction_id, e.direction, e.amount, e.currency,
              t.payment_order_id, t.step, t.created_at
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = $1 AND ($2::bigint IS NULL OR e.id < $2::bigint)
        ORDER BY e.id DESC
        LIMIT $3`,
      [accountId, request.startingAfter ?? null, request.limit + 1],
    );
    const debitNormal = account.kind === 'asset' || account.kind === 'expense';
    const debitsLessCredits = amountFromDb(account.debits_less_credits);
    return {
      account: { id: account.id, kind: account.kind, currency: account.currency, balance: debitNormal ? debitsLessCredits : -debitsLessCredits },
      data: rows.slice(0, request.limit).map((row) => ({
        id: row.entry_id,
        transactionId: row.transaction_id,
        direction: row.direction,
        amount: amountFromDb(row.amount),
        currency: row.currency,
        paymentOrderId: row.payment_order_id,
        step: row.step,
        createdAt: row.created_at.toISOString(),
      })),
      hasMore: rows.length > request.limit,
    };
  } finally {
    await client.query('COMMIT').catch(() => undefined);
    client.release();
  }
}
