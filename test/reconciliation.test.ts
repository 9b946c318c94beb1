import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createReconciliationActivities, type ReconciliationActivities } from '../activities/reconciliation';
import type pg from 'pg';
import { classifyDiscrepancies, loadSettlementLines, summarizeBookedCaptures } from '../db/reconciliation';
import { withTransaction, type Pool } from '../db/pool';
import { SETTLEMENT_HEADER, type SettlementRow } from '../domain/settlement';
import { writeSettlementFile } from '../psp/settlementFile';
import type { Psp } from '../psp/types';
import { ensureReconciliationSchedule, RECONCILIATION_SCHEDULE_ID } from '../workers/schedules';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

// A database of its own: "a clean day" must mean this file's checkouts, not other test files'.
let settle: TestSettle;
const today = new Date().toISOString().slice(0, 10);
let captured: Array<{ orderId: string; amount: number; fee: number }>;
let declinedOrderId: string;

beforeAll(async () => {
  settle = await startSettle({ isolatedDatabase: true });
  const amounts = [1000, 2000, 3000, 4000, 5000];
  const result = await settle.checkoutResult(
    await settle.createCheckout({ orders: amounts.map((amount) => ({ sellerId: uniqueId('seller'), amount })) }),
  );
  captured = result.orders.map((order) => ({ orderId: order.orderId, amount: order.amount, fee: order.feeAmount }));
  const refund = await settle.post(`/v1/payment-orders/${captured[0]!.orderId}/refunds`, { amount: 250 }, { 'Idempotency-Key': uniqueId('key') });
  await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
  const declined = await settle.checkoutResult(
    await settle.createCheckout({ paymentMethod: 'pm_card_chargeCustomerFail', orders: [{ sellerId: uniqueId('seller'), amount: 700 }] }),
  );
  declinedOrderId = declined.orders[0]!.orderId;
});
afterAll(() => settle?.stop());

async function reconcileFile(file: string) {
  const id = `rec_${randomBytes(8).toString('hex')}`;
  const outcome = await settle.temporal.workflow.execute('reconciliationWorkflow', {
    workflowId: id,
    taskQueue: settle.taskQueue,
    args: [{ date: today, file }],
  });
  return { id, outcome: outcome as any };
}

async function ledgerRows(): Promise<number> {
  const { rows } = await settle.pool.query('SELECT (SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM ledger_transactions) AS n');
  return Number(rows[0].n);
}

const tmpFile = (name: string) => path.join(os.tmpdir(), `${uniqueId(name)}.csv`);

describe('reconciliation against the settlement file', () => {
  it('finds nothing wrong on a clean day, run on demand through the API', async () => {
    const started = await settle.post('/v1/reconciliations', { date: today });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ reconciliationId: expect.stringMatching(/^rec_/), date: today, status: 'RUNNING' });
    await settle.temporal.workflow.getHandle(started.body.reconciliationId).result();

    const run = await settle.get(`/v1/reconciliations/${started.body.reconciliationId}`);
    expect(run.body).toMatchObject({ status: 'COMPLETED', date: today, lines: 6, failure: null, discrepancies: [], nextCursor: null });
    expect(Object.values(run.body.counts)).toEqual([0, 0, 0, 0, 0, 0, 0]);

    const events = await settle.pool.query('SELECT type FROM events WHERE reconciliation_id = $1', [started.body.reconciliationId]);
    expect(events.rows).toEqual([{ type: 'reconciliation.completed' }]);
  });

  it('finds exactly one discrepancy of each class seeded into the file', async () => {
    const file = tmpFile('seeded');
    await writeSettlementFile(settle.psp.psp, today, file);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const [a, b, c, d, e] = captured.map((order) => order.orderId);
    const chargeOf = (orderId: string) => lines.findIndex((line) => line.endsWith(`,charge,${line.split(',')[7]},${orderId}`));
    const edit = (orderId: string, change: (fields: string[]) => void) => {
      const index = chargeOf(orderId);
      const fields = lines[index]!.split(',');
      change(fields);
      fields[5] = String(Number(fields[3]) - Number(fields[4]));
      lines[index] = fields.join(',');
    };
    edit(b!, (f) => (f[3] = String(Number(f[3]) + 1))); // amount_mismatch
    edit(c!, (f) => (f[4] = String(Number(f[4]) + 5))); // fee_mismatch
    edit(d!, (f) => (f[2] = 'eur')); // currency_mismatch
    lines.push(lines[chargeOf(e!)]!); // duplicate
    lines.push(`txn_extra_1,${today}T12:00:00Z,usd,999,59,940,charge,pi_unknown,po_${'f'.repeat(32)}`); // missing_in_ledger
    lines.push(`txn_extra_2,${today}T12:00:00Z,usd,700,50,650,charge,pi_declined,${declinedOrderId}`); // status_mismatch
    lines.splice(chargeOf(a!), 1); // missing_in_psp
    await writeFile(file, `${lines.join('\n')}\n`);

    // The run's discrepancy ids cross a power of ten: paging must follow them as numbers.
    const { rows: last } = await settle.pool.query(`SELECT coalesce(max(id), 0)::text AS id FROM reconciliation_discrepancies`);
    await settle.pool.query(`SELECT setval(pg_get_serial_sequence('reconciliation_discrepancies', 'id'), $1)`, [10 ** last[0].id.length - 4]);

    const before = await ledgerRows();
    const { id, outcome } = await reconcileFile(file);
    expect(outcome.status).toBe('COMPLETED');
    expect(outcome.counts).toEqual({
      missing_in_ledger: 1,
      missing_in_psp: 1,
      amount_mismatch: 1,
      fee_mismatch: 1,
      currency_mismatch: 1,
      duplicate: 1,
      status_mismatch: 1,
    });
    const all: any[] = [];
    for (let cursor = ''; ; ) {
      const page = await settle.get(`/v1/reconciliations/${id}?limit=3${cursor && `&after=${cursor}`}`);
      expect(page.body.discrepancies.length).toBeLessThanOrEqual(3);
      all.push(...page.body.discrepancies);
      if (!page.body.nextCursor) break;
      cursor = page.body.nextCursor;
    }
    expect(all).toHaveLength(7);
    expect(Object.fromEntries(all.map((found: any) => [found.class, found.paymentOrderId]))).toEqual({
      missing_in_psp: a,
      amount_mismatch: b,
      fee_mismatch: c,
      currency_mismatch: d,
      duplicate: e,
      missing_in_ledger: `po_${'f'.repeat(32)}`,
      status_mismatch: declinedOrderId,
    });
    const onlyFees = await settle.get(`/v1/reconciliations/${id}?class=fee_mismatch`);
    expect(onlyFees.body.discrepancies).toEqual([expect.objectContaining({ paymentOrderId: c, detail: expect.stringMatching(/^PSP fee \d+, ledger \d+$/) })]);
    expect(await ledgerRows()).toBe(before);
  });

  it.each([
    ['a bad header', (header: string, row: string) => [header.replace('gross', 'amount'), row], 1, /bad header/],
    ['a bad number', (header: string, row: string) => [header, row.replace(/,(\d+),(\d+),(-?\d+),charge/, ',12.50,$2,$3,charge')], 2, /gross is not an integer/],
    ['an unknown currency', (header: string, row: string) => [header, row.replace(',usd,', ',xyz,')], 2, /unknown currency 'xyz'/],
    ['a truncated line', (header: string, row: string) => [header, row, row.slice(0, 30)], 3, /expected 9 fields/],
  ])('fails cleanly on %s, naming the line, and changes nothing', async (_name, build, line, reason) => {
    const source = tmpFile('source');
    await writeSettlementFile(settle.psp.psp, today, source);
    const [header, firstRow] = (await readFile(source, 'utf8')).split('\n') as [string, string];
    const file = tmpFile('malformed');
    await writeFile(file, `${build(header, firstRow).join('\n')}\n`);
    const before = await ledgerRows();
    const { id, outcome } = await reconcileFile(file);
    expect(outcome).toEqual({ status: 'FAILED', line, reason: expect.stringMatching(reason) });
    const run = await settle.get(`/v1/reconciliations/${id}`);
    expect(run.body).toMatchObject({ status: 'FAILED', failure: { line, reason: expect.stringMatching(reason) }, discrepancies: [] });
    expect(await ledgerRows()).toBe(before);
  });

  it('ends a run FAILED, saying why, when the file it was given is not on the worker', async () => {
    const file = tmpFile('absent');
    const { id, outcome } = await reconcileFile(file);
    const reason = expect.stringMatching(/^the settlement file .*absent.* cannot be read on worker .* \(ENOENT\)$/);
    expect(outcome).toEqual({ status: 'FAILED', line: null, reason });
    expect((await settle.get(`/v1/reconciliations/${id}`)).body).toMatchObject({ status: 'FAILED', failure: { line: null, reason } });
  });

  it('records a run once, however often its step is retried', async () => {
    const activities = createReconciliationActivities({ pool: settle.pool, psp: settle.psp.psp });
    const runId = `rec_${randomBytes(8).toString('hex')}`;
    const first = await activities.reconcileSettlementFile(runId, today);
    expect(first).toMatchObject({ status: 'COMPLETED', lines: 6 });
    expect(await activities.reconcileSettlementFile(runId, today)).toEqual(first);
    const events = await settle.pool.query('SELECT type FROM events WHERE reconciliation_id = $1', [runId]);
    expect(events.rows).toEqual([{ type: 'reconciliation.completed' }]);
  });

  it('refuses a bad date and answers 404 for an unknown run', async () => {
    for (const date of ['2026-02-30', 'yesterday', '2999-01-01']) {
      const answer = await settle.post('/v1/reconciliations', { date });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details[0].field).toBe('date');
    }
    expect((await settle.get('/v1/reconciliations/rec_nope')).status).toBe(404);
  });

  it('refuses a discrepancy cursor beyond the range of the ids it hands out', async () => {
    const started = await settle.post('/v1/reconciliations', { date: today });
    await settle.temporal.workflow.getHandle(started.body.reconciliationId).result();
    for (const after of ['9223372036854775808', '9999999999999999999']) {
      const answer = await settle.get(`/v1/reconciliations/${started.body.reconciliationId}?after=${after}`);
      expect({ after, status: answer.status }).toEqual({ after, status: 400 });
      expect(answer.body.error.details[0].field).toBe('after');
    }
    const last = await settle.get(`/v1/reconciliations/${started.body.reconciliationId}?after=9223372036854775807`);
    expect(last.body).toMatchObject({ discrepancies: [], nextCursor: null });
  });
});

/**
 * The statements matching ran before it was made set-based in one pass: the specification its results are
 * held to. They read the run's loaded lines and the ledger, and answer every discrepancy.
 */
async function discrepanciesAsSpecified(db: pg.PoolClient | Pool, runId: string, date: string) {
  const start = new Date(`${date}T00:00:00Z`);
  const end = new Date(start.getTime() + 86_400_000);
  const sellerPayable = `e.account_id LIKE 'seller\\_payable:%'`;
  const firstLines = `
    SELECT l.*, row_number() OVER (PARTITION BY payment_order_id, reporting_category = 'charge' ORDER BY line_no) AS charge_rank
      FROM (SELECT l.*, row_number() OVER (PARTITION BY balance_transaction_id ORDER BY line_no) AS seen
              FROM reconciliation_lines l WHERE run_id = $1) l
     WHERE seen = 1`;
  const { rows } = await db.query(
    `SELECT 'duplicate' AS class, line_no, payment_order_id, balance_transaction_id, 'balance transaction ' || balance_transaction_id || ' is listed again' AS detail
       FROM (SELECT *, row_number() OVER (PARTITION BY balance_transaction_id ORDER BY line_no) AS seen FROM reconciliation_lines WHERE run_id = $1) l
      WHERE seen > 1
     UNION ALL
     SELECT 'duplicate', line_no, payment_order_id, balance_transaction_id, 'a second charge for payment order ' || payment_order_id
       FROM (${firstLines}) l WHERE reporting_category = 'charge' AND charge_rank > 1
     UNION ALL
     SELECT class, line_no, payment_order_id, balance_transaction_id, detail FROM (
       SELECT l.line_no, l.payment_order_id, l.balance_transaction_id,
              unnest(ARRAY[
                CASE WHEN o.id IS NULL THEN 'missing_in_ledger'
                     WHEN o.status NOT IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN 'status_mismatch'
                     WHEN c.gross IS NULL THEN 'missing_in_ledger'
                     WHEN c.currency <> l.currency THEN 'currency_mismatch'
                     WHEN c.gross <> l.gross THEN 'amount_mismatch' END,
                CASE WHEN c.gross IS NOT NULL AND c.currency = l.currency AND c.fee <> l.fee THEN 'fee_mismatch' END]) AS class,
              unnest(ARRAY[
                CASE WHEN o.id IS NULL THEN 'the PSP charged ' || l.gross || ' ' || l.currency || ' for payment order ' || l.payment_order_id || ', unknown to the ledger'
                     WHEN o.status NOT IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN 'the PSP charged payment order ' || o.id || ', which the ledger holds as ' || o.status
                     WHEN c.gross IS NULL THEN 'no capture transaction for payment order ' || o.id
                     WHEN c.currency <> l.currency THEN 'PSP ' || l.currency || ', ledger ' || c.currency
                     WHEN c.gross <> l.gross THEN 'PSP gross ' || l.gross || ', ledger ' || c.gross END,
                'PSP fee ' || l.fee || ', ledger ' || c.fee]) AS detail
         FROM (${firstLines}) l
         LEFT JOIN payment_orders o ON o.id = l.payment_order_id
         LEFT JOIN LATERAL (
           SELECT sum(e.amount) FILTER (WHERE ${sellerPayable} AND e.direction = 'credit') AS gross,
                  coalesce(sum(e.amount) FILTER (WHERE e.account_id LIKE 'psp\\_fees:%'), 0) AS fee,
                  min(e.currency) AS currency
             FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE t.payment_order_id = l.payment_order_id AND t.step = 'capture') c ON true
        WHERE l.reporting_category = 'charge' AND l.charge_rank = 1) checked
      WHERE class IS NOT NULL
     UNION ALL
     SELECT 'missing_in_psp', NULL, t.payment_order_id, NULL,
            'the ledger captured ' || e.amount || ' ' || e.currency || ' for payment order ' || t.payment_order_id || ', absent from the settlement file'
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id AND ${sellerPayable}
      WHERE t.step = 'capture' AND t.created_at >= $2 AND t.created_at < $3
        AND NOT EXISTS (SELECT 1 FROM reconciliation_lines l
                         WHERE l.run_id = $1 AND l.payment_order_id = t.payment_order_id AND l.reporting_category = 'charge')
     UNION ALL
     SELECT CASE WHEN f.line_no IS NULL THEN 'missing_in_psp' ELSE 'missing_in_ledger' END,
            f.line_no, coalesce(f.payment_order_id, b.payment_order_id), f.balance_transaction_id,
            CASE WHEN f.line_no IS NULL THEN 'the ledger refunded ' || b.amount || ' of payment order ' || b.payment_order_id || ', absent from the settlement file'
                 ELSE 'the PSP refunded ' || f.amount || ' of payment order ' || f.payment_order_id || ', absent from the ledger' END
       FROM (SELECT line_no, payment_order_id, balance_transaction_id, -gross AS amount,
                    row_number() OVER (PARTITION BY payment_order_id, gross ORDER BY line_no) AS n
               FROM (${firstLines}) l WHERE reporting_category = 'refund') f
       FULL JOIN (SELECT t.payment_order_id, e.amount, row_number() OVER (PARTITION BY t.payment_order_id, e.amount ORDER BY t.id) AS n
                    FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id AND ${sellerPayable} AND e.direction = 'debit'
                   WHERE t.step LIKE 'refund:%' AND t.created_at >= $2 AND t.created_at < $3) b
              ON b.payment_order_id = f.payment_order_id AND b.amount = f.amount AND b.n = f.n
      WHERE f.line_no IS NULL OR b.payment_order_id IS NULL`,
    [runId, start, end],
  );
  return sorted(rows);
}

async function recordedDiscrepancies(db: pg.PoolClient | Pool, runId: string) {
  const { rows } = await db.query(
    'SELECT class, line_no, payment_order_id, balance_transaction_id, detail FROM reconciliation_discrepancies WHERE run_id = $1',
    [runId],
  );
  return sorted(rows);
}

function sorted(rows: Array<Record<string, unknown>>) {
  return rows
    .map((row) => JSON.stringify([row.class, row.line_no === null ? null : Number(row.line_no), row.payment_order_id, row.balance_transaction_id, row.detail]))
    .sort();
}

describe('loading a settlement file', () => {
  it('stores each field as the line names it: odd timestamps as JavaScript reads them, amounts as numbers, the currency as its code', async () => {
    const timestamps = [
      '2026-11-21T12:00:00Z',
      '2026-11-21 12:00:00',
      '2026-11-21T12:00:00.123456Z',
      '2026-02-30T00:00:00Z',
      '2026-11-21T24:00:00Z',
      '1999-12-31T23:59:59.999Z',
    ];
    const lines = timestamps.map((created, n) => `txn_load_${n},${created},eur,0012,-0,12,charge,pi_load_${n},po_load_${n}`);
    const runId = `rec_${randomBytes(8).toString('hex')}`;
    const client = await settle.pool.connect();
    try {
      async function* source() {
        yield SETTLEMENT_HEADER;
        yield* lines;
      }
      expect(await loadSettlementLines(client, runId, source())).toBe(lines.length);
      const { rows } = await client.query(
        `SELECT line_no, balance_transaction_id, to_char(created_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_utc,
                currency, gross, fee, net, reporting_category, payment_intent_id, payment_order_id
           FROM reconciliation_lines WHERE run_id = $1 ORDER BY line_no`,
        [runId],
      );
      expect(rows).toEqual(
        timestamps.map((created, n) => ({
          line_no: String(n + 2),
          balance_transaction_id: `txn_load_${n}`,
          created_utc: new Date(created.endsWith('Z') ? created : `${created}Z`).toISOString().replace('Z', '000Z'), // to the millisecond
          currency: 'EUR',
          gross: '12',
          fee: '0',
          net: '12',
          reporting_category: 'charge',
          payment_intent_id: `pi_load_${n}`,
          payment_order_id: `po_load_${n}`,
        })),
      );
    } finally {
      await client.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
      client.release();
    }
  });
});

describe('matching a day in one pass', () => {
  // A day of its own, long ago, so that no other test's checkouts are on it, and the day before it.
  const day = '2001-02-03';
  const at = `${day}T12:00:00Z`;
  const dayBefore = `2001-02-02T23:59:00Z`;
  const clean = 400;

  /** Books a day of checkouts straight into the database, as a ledger holding every kind of disagreement would. */
  async function bookDay(tag: string): Promise<string[]> {
    const po = (name: string) => `po_${tag}_${name}`;
    const lines: string[] = [];
    const line = (txn: string, orderId: string, gross: number, fee: number, options: { currency?: string; category?: string } = {}) =>
      lines.push(`txn_${tag}_${txn},${at},${options.currency ?? 'usd'},${gross},${fee},${gross - fee},${options.category ?? 'charge'},pi_${tag}_${txn},${orderId}`);
    await withTransaction(settle.pool, async (tx) => {
      // As an intruder would, or a bug: some of these books break the database's own rules, and must still be matched.
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query(`INSERT INTO checkouts (id, customer_id, currency, total_amount, capture_mode, status) VALUES ($1, 'cus', 'USD', 1, 'automatic', 'SUCCEEDED')`, [`chk_${tag}`]);
      let position = 0;
      const order = (id: string, amount: number, status = 'SUCCEEDED') =>
        tx.query(
          `INSERT INTO payment_orders (id, checkout_id, position, seller_id, amount, currency, payment_method, status) VALUES ($1, $2, $3, $4, $5, 'USD', 'pm_card_visa', $6)`,
          [id, `chk_${tag}`, (position += 1), `seller_${tag}_${position}`, amount, status],
        );
      const book = async (orderId: string, step: string, when: string, entries: Array<[string, 'debit' | 'credit', number, string?]>) => {
        const { rows } = await tx.query(`INSERT INTO ledger_transactions (payment_order_id, step, description, created_at) VALUES ($1, $2, 'test', $3) RETURNING id`, [orderId, step, when]);
        for (const [account, direction, amount, currency] of entries) {
          await tx.query(`INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency) VALUES ($1, $2, $3, $4, $5)`, [rows[0].id, account, direction, amount, currency ?? 'USD']);
        }
      };
      const capture = (orderId: string, gross: number, fee: number, when = at) =>
        book(orderId, 'capture', when, [
          ['psp_clearing:USD', 'debit', gross - fee],
          ['psp_fees:USD', 'debit', fee],
          [`seller_payable:${orderId}:USD`, 'credit', gross],
        ]);
      const refund = (orderId: string, id: string, amount: number) =>
        book(orderId, `refund:${id}`, at, [
          [`seller_payable:${orderId}:USD`, 'debit', amount],
          ['psp_clearing:USD', 'credit', amount],
        ]);

      for (let n = 0; n < clean; n += 1) {
        await order(po(`ok${n}`), 1000 + n, ['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED'][n % 3]);
        await capture(po(`ok${n}`), 1000 + n, 30 + (n % 7));
        line(`ok${n}`, po(`ok${n}`), 1000 + n, 30 + (n % 7));
      }
      // Amount, fee and currency mismatches; an order the ledger holds as failed; an order the ledger does not know.
      await order(po('amount'), 5000);
      await capture(po('amount'), 5000, 50);
      line('amount', po('amount'), 5001, 50);
      await order(po('fee'), 5000);
      await capture(po('fee'), 5000, 50);
      line('fee', po('fee'), 5000, 55);
      await order(po('currency'), 5000);
      await capture(po('currency'), 5000, 50);
      line('currency', po('currency'), 5000, 50, { currency: 'eur' });
      await order(po('failed'), 700, 'FAILED');
      line('failed', po('failed'), 700, 20);
      line('unknown', po('unknown'), 999, 59);
      // An order captured at the PSP but never in the ledger; captured the day before, once rightly and once not.
      await order(po('uncaptured'), 800);
      line('uncaptured', po('uncaptured'), 800, 20);
      await order(po('before'), 900);
      await capture(po('before'), 900, 25, dayBefore);
      line('before', po('before'), 900, 25);
      await order(po('before_wrong'), 900);
      await capture(po('before_wrong'), 900, 25, dayBefore);
      line('before_wrong', po('before_wrong'), 901, 25);
      // Captures the ledger wrote oddly: no seller credit, two seller credits, two currencies, an order row gone.
      await order(po('no_credit'), 600);
      await book(po('no_credit'), 'capture', at, [['psp_clearing:USD', 'debit', 600]]);
      line('no_credit', po('no_credit'), 600, 0);
      await order(po('two_credits'), 600);
      await book(po('two_credits'), 'capture', at, [
        ['psp_clearing:USD', 'debit', 600],
        [`seller_payable:a_${tag}:USD`, 'credit', 200],
        [`seller_payable:b_${tag}:USD`, 'credit', 400],
      ]);
      line('two_credits', po('two_credits'), 600, 0);
      await order(po('two_currencies'), 600);
      await book(po('two_currencies'), 'capture', at, [
        ['psp_clearing:EUR', 'debit', 600, 'EUR'],
        [`seller_payable:${tag}:USD`, 'credit', 600],
      ]);
      line('two_currencies', po('two_currencies'), 600, 0);
      await capture(po('orphan'), 650, 10);
      line('orphan', po('orphan'), 650, 10);
      await capture(po('orphan_unlisted'), 660, 10);
      // A balance transaction listed three times; a second and a third charge for one order, one of them listed twice;
      // a refund's balance transaction listed again as a charge.
      await order(po('listed_thrice'), 3000);
      await capture(po('listed_thrice'), 3000, 90);
      for (let n = 0; n < 3; n += 1) line('listed_thrice', po('listed_thrice'), 3000, 90);
      await order(po('charged_thrice'), 3100);
      await capture(po('charged_thrice'), 3100, 90);
      line('charged_1', po('charged_thrice'), 3100, 90);
      line('charged_2', po('charged_thrice'), 3100, 90);
      line('charged_2', po('charged_thrice'), 3100, 90);
      line('charged_3', po('charged_thrice'), 3105, 90);
      // Captures of the day the file does not list, one of them with two seller entries; one listed only by a repeat.
      await order(po('unlisted'), 1200);
      await capture(po('unlisted'), 1200, 40);
      await order(po('unlisted_two'), 1300);
      await book(po('unlisted_two'), 'capture', at, [
        ['psp_clearing:USD', 'debit', 1100],
        [`seller_payable:${tag}:USD`, 'credit', 1200],
        [`seller_payable:${tag}:USD`, 'debit', 100],
      ]);
      await order(po('repeat_only'), 1400);
      await capture(po('repeat_only'), 1400, 40);
      line('charged_1', po('repeat_only'), 1400, 40);
      // Refunds: one on both sides, one only in the file, one only in the ledger, two of one amount of which the
      // file lists one, and one listed twice.
      await refund(po('ok1'), `re_${tag}_1`, 100);
      line('refund_1', po('ok1'), -100, 0, { category: 'refund' });
      line('refund_psp_only', po('ok2'), -50, 0, { category: 'refund' });
      await refund(po('ok3'), `re_${tag}_3`, 70);
      await refund(po('ok4'), `re_${tag}_4a`, 40);
      await refund(po('ok4'), `re_${tag}_4b`, 40);
      line('refund_4', po('ok4'), -40, 0, { category: 'refund' });
      await refund(po('ok5'), `re_${tag}_5`, 30);
      line('refund_5', po('ok5'), -30, 0, { category: 'refund' });
      line('refund_5', po('ok5'), -30, 0, { category: 'refund' });
      line('refund_1', po('ok6'), 1006, 36);
    });
    return lines;
  }

  /** Books a day as bookDay does and reconciles its settlement file, written as `fileName`. */
  async function reconcileBookedDay(tag: string, fileName: string) {
    const lines = await bookDay(tag);
    const file = tmpFile(fileName);
    await writeFile(file, `${[SETTLEMENT_HEADER, ...lines].join('\n')}\n`);
    const runId = `rec_${randomBytes(8).toString('hex')}`;
    const activities = createReconciliationActivities({ pool: settle.pool, psp: settle.psp.psp });
    const outcome = await activities.reconcileSettlementFile(runId, day, file);
    return { lines, runId, outcome };
  }

  it('finds what the line-by-line statements found, every kind of discrepancy among them', async () => {
    const { lines, runId, outcome } = await reconcileBookedDay('one', 'one-pass');
    expect(outcome).toMatchObject({ status: 'COMPLETED', lines: lines.length });
    const found = await recordedDiscrepancies(settle.pool, runId);
    expect(found).toEqual(await discrepanciesAsSpecified(settle.pool, runId, day));
    expect((outcome as { counts: Record<string, number> }).counts).toEqual({
      missing_in_ledger: 5,
      missing_in_psp: 6,
      amount_mismatch: 2,
      fee_mismatch: 1,
      currency_mismatch: 2,
      duplicate: 8,
      status_mismatch: 1,
    });
  });

  it('answers the same whatever the load marked: a mark is a hint, never a verdict', async () => {
    const { runId } = await reconcileBookedDay('two', 'marked');
    const specified = await discrepanciesAsSpecified(settle.pool, runId, day);
    expect(await recordedDiscrepancies(settle.pool, runId)).toEqual(specified);

    const tx = await settle.pool.connect();
    try {
      await summarizeBookedCaptures(tx, day);
      await tx.query('BEGIN');
      await tx.query(`UPDATE reconciliation_lines SET maybe_repeated = true, maybe_second_charge = reporting_category = 'charge' WHERE run_id = $1`, [runId]);
      await tx.query('DELETE FROM reconciliation_discrepancies WHERE run_id = $1', [runId]);
      await classifyDiscrepancies(tx, runId, day);
      expect(await recordedDiscrepancies(tx, runId)).toEqual(specified);
    } finally {
      await tx.query('ROLLBACK');
      tx.release(true); // with the temporary table the rollback kept
    }
  });
});

/**
 * A worker of the test's making on its own task queue: a host running the given reconciliation activities,
 * the workflows, or both.
 */
async function startHost(taskQueue: string, runs: { activities?: ReconciliationActivities; workflows?: boolean }) {
  const connection = await NativeConnection.connect({ address: process.env.SETTLE_TEST_TEMPORAL_ADDRESS! });
  const worker = await Worker.create({
    connection,
    taskQueue,
    ...(runs.workflows ? { workflowBundle: { codePath: process.env.SETTLE_TEST_WORKFLOW_BUNDLE! } } : {}),
    ...(runs.activities ? { activities: runs.activities } : {}),
    maxHeartbeatThrottleInterval: '100ms', // every heartbeat reaches the server at once, for the test to see
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

describe('reconciliation on several worker hosts', () => {
  it('finishes a run whose first host goes away, and everything it kept locally with it, once its first step is done', async () => {
    const taskQueue = uniqueId('reconciliation-hosts');
    const activities = createReconciliationActivities({ pool: settle.pool, psp: settle.psp.psp });
    let leave!: () => void;
    const left = new Promise<void>((resolve) => (leave = resolve));
    // Host A runs the run's first step, then goes away as it reports it; host B comes up to do the rest.
    const workflows = await startHost(taskQueue, { workflows: true });
    const hostA = await startHost(taskQueue, {
      activities: Object.fromEntries(
        Object.entries(activities).map(([name, step]) => [
          name,
          async (...args: never[]) => {
            const result = await (step as (...a: never[]) => Promise<unknown>)(...args);
            hostA.worker.shutdown();
            leave();
            return result;
          },
        ]),
      ) as ReconciliationActivities,
    });
    const runId = `rec_${randomBytes(8).toString('hex')}`;
    const handle = await settle.temporal.workflow.start('reconciliationWorkflow', { workflowId: runId, taskQueue, args: [{ date: today }] });
    await left;
    await hostA.stop();
    const hostB = await startHost(taskQueue, { activities });
    try {
      const run = await eventually('the run to finish on host B', async () => {
        const view = await settle.get(`/v1/reconciliations/${runId}`);
        return view.status === 200 && view.body.status !== 'RUNNING' && view.body;
      });
      expect(run).toMatchObject({ status: 'COMPLETED', date: today, lines: 6 });
      expect(Object.values(run.counts)).toEqual([0, 0, 0, 0, 0, 0, 0]);
      await handle.result();
      // One step reads the settlement and matches it: there is no local file for a later step to miss.
      const scheduled = (await handle.fetchHistory()).events!
        .filter((event) => event.activityTaskScheduledEventAttributes)
        .map((event) => event.activityTaskScheduledEventAttributes!.activityType!.name);
      expect(scheduled).toEqual(['reconcileSettlementFile']);
    } finally {
      await hostB.stop();
      await workflows.stop();
    }
  });

  it('heartbeats while it waits on the PSP, with the lines loaded so far', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // A PSP that lists a first batch of rows quickly, then is slow to list the rest.
    const slowPsp = {
      async *settlementRows(): AsyncIterable<SettlementRow> {
        for (let n = 0; n < 10_000; n += 1) {
          yield {
            balanceTransactionId: `txn_slow_${n}`,
            createdUtc: new Date(`${today}T01:00:00Z`),
            currency: 'USD',
            gross: 100,
            fee: 3,
            net: 97,
            reportingCategory: 'charge',
            paymentIntentId: `pi_slow_${n}`,
            paymentOrderId: `po_slow_${n}`,
          };
        }
        await released;
      },
    } as unknown as Psp;
    const taskQueue = uniqueId('reconciliation-slow-psp');
    const host = await startHost(taskQueue, { workflows: true, activities: createReconciliationActivities({ pool: settle.pool, psp: slowPsp }) });
    try {
      const handle = await settle.temporal.workflow.start('reconciliationWorkflow', {
        workflowId: `rec_${randomBytes(8).toString('hex')}`,
        taskQueue,
        args: [{ date: today }],
      });
      const pending = await eventually('a heartbeat saying the first batch is loaded', async () => {
        const activity = (await handle.describe()).raw.pendingActivities?.[0];
        const details = activity?.heartbeatDetails?.payloads?.[0];
        return details && (defaultPayloadConverter.fromPayload(details) as { loaded: number }).loaded === 10_000 && activity;
      });
      expect(pending.activityType?.name).toBe('reconcileSettlementFile');
      release();
      const outcome = (await handle.result()) as any;
      expect(outcome).toMatchObject({ status: 'COMPLETED', lines: 10_000, counts: { missing_in_ledger: 10_000 } });
    } finally {
      release();
      await host.stop();
    }
  });
});

/** Midnight UTC `days` ago plus the given time of day. */
function daysAgoAt(days: number, hour: number, minute: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days, hour, minute));
}

describe('the nightly schedule', () => {
  const handle = () => settle.temporal.schedule.getHandle(RECONCILIATION_SCHEDULE_ID);
  afterEach(() => handle().delete().catch(() => undefined));

  it('is created once, runs reconciliation at the configured time, and is updated in place', async () => {
    await ensureReconciliationSchedule(settle.temporal, 'some-older-queue', { hour: 2, minute: 0 });
    await ensureReconciliationSchedule(settle.temporal, settle.taskQueue, { hour: 3, minute: 30 });
    const schedule = await handle().describe();
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconciliationWorkflow', taskQueue: settle.taskQueue });
    expect(schedule.spec.calendars).toEqual([expect.objectContaining({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] })]);
    // Trigger it now, as the schedule would at night: it reconciles the day before.
    await handle().trigger();
    const started = await eventually('the schedule to start a run', async () => {
      const action = (await handle().describe()).info.recentActions[0];
      return action?.action.workflow.workflowId;
    });
    const outcome = (await settle.temporal.workflow.getHandle(started).result()) as any;
    expect(outcome.status).toBe('COMPLETED');
    const run = await settle.get(`/v1/reconciliations/${started}`);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    expect(run.body).toMatchObject({ status: 'COMPLETED', date: yesterday });
  });

  it('reconciles the day before the time a run was scheduled for, however late it runs (a catch-up, a backfill)', async () => {
    await ensureReconciliationSchedule(settle.temporal, settle.taskQueue, { hour: 3, minute: 30 });
    const nominal = daysAgoAt(5, 3, 30);
    await handle().backfill([{ start: new Date(nominal.getTime() - 60_000), end: new Date(nominal.getTime() + 60_000), overlap: 'ALLOW_ALL' }]);
    const started = await eventually('the backfilled run to start', async () => {
      const actions = (await handle().describe()).info.recentActions;
      return actions.find((action) => action.scheduledAt.getTime() === nominal.getTime())?.action.workflow.workflowId;
    });
    expect(((await settle.temporal.workflow.getHandle(started).result()) as any).status).toBe('COMPLETED');
    const run = await settle.get(`/v1/reconciliations/${started}`);
    expect(run.body).toMatchObject({ status: 'COMPLETED', date: daysAgoAt(6, 0, 0).toISOString().slice(0, 10) });
  });

  it('starts every night whatever the last is doing, ends a stuck run, and brings an older schedule to this in place', async () => {
    // As an older Settle left it: a night skipped while the last run was still going.
    await settle.temporal.schedule.create({
      scheduleId: RECONCILIATION_SCHEDULE_ID,
      spec: { calendars: [{ hour: 2, minute: 0 }] },
      action: { type: 'startWorkflow', workflowType: 'reconciliationWorkflow', args: [{}], taskQueue: 'some-older-queue' },
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
    await ensureReconciliationSchedule(settle.temporal, settle.taskQueue, { hour: 3, minute: 30 });
    const schedule = await handle().describe();
    expect(schedule.policies).toMatchObject({ overlap: 'ALLOW_ALL', catchupWindow: 7 * 86_400_000 });
    expect(schedule.action).toMatchObject({ taskQueue: settle.taskQueue, workflowExecutionTimeout: 12 * 3_600_000 });
  });
});
