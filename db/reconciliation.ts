import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import {
  DISCREPANCY_CLASSES,
  MalformedSettlementLine,
  parseSettlementLine,
  SETTLEMENT_HEADER,
  settlementDay,
  type DiscrepancyClass,
} from '../domain/settlement';
import type { Queryable } from './pool';

/** Records a run (once: the workflow may start it again after a crash). */
export async function startRun(db: Queryable, runId: string, date: string): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_runs (id, settlement_day, status) VALUES ($1, $2, 'RUNNING') ON CONFLICT (id) DO NOTHING`,
    [runId, date],
  );
}

/** How a run already finished, or undefined while it has not (a retry then redoes it whole). */
export async function findRunOutcome(db: Queryable, runId: string): Promise<ReconciliationOutcome | undefined> {
  const { rows } = await db.query(
    `SELECT status, lines, counts, failure_line, failure_reason FROM reconciliation_runs WHERE id = $1 AND status <> 'RUNNING'`,
    [runId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return row.status === 'COMPLETED'
    ? { status: 'COMPLETED', lines: Number(row.lines), counts: row.counts }
    : { status: 'FAILED', line: row.failure_line === null ? null : Number(row.failure_line), reason: row.failure_reason };
}

/** Lines loaded per COPY: each batch commits on its own, so no transaction stays open while the PSP is read. */
const LOAD_BATCH = 10_000;

/**
 * Streams a settlement file's lines (header first) into reconciliation_lines with COPY, validating every line
 * on the way: memory stays flat however long the file is. A malformed line throws MalformedSettlementLine.
 * The run's lines are replaced, batch by batch, each batch committed on its own: a caller that fails half-way
 * must call again (or clear the lines) before matching. Answers the number of data lines.
 */
export async function loadSettlementLines(
  client: pg.PoolClient,
  runId: string,
  lines: AsyncIterable<string>,
  onBatch: (loaded: number) => void = () => undefined,
): Promise<number> {
  await client.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
  let copy: CopyStreamQuery | undefined;
  let inBatch = 0;
  let lineNo = 0;
  let rows = 0;
  let blankAt = 0;
  const endBatch = async () => {
    if (!copy) return;
    copy.end();
    await finished(copy);
    copy = undefined;
    inBatch = 0;
    onBatch(rows);
  };
  try {
    for await (const line of lines) {
      lineNo += 1;
      if (lineNo === 1) {
        if (line.trim() !== SETTLEMENT_HEADER) throw new MalformedSettlementLine(1, `bad header: expected '${SETTLEMENT_HEADER}'`);
        continue;
      }
      if (line === '') {
        blankAt ||= lineNo;
        continue;
      }
      if (blankAt) throw new MalformedSettlementLine(blankAt, 'blank line inside the file');
      const row = parseSettlementLine(line, lineNo);
      // Validated fields hold no tabs, newlines or backslashes: COPY's text format needs no escaping.
      const copyLine = [
        runId,
        lineNo,
        row.balanceTransactionId,
        row.createdUtc.toISOString(),
        row.currency,
        row.gross,
        row.fee,
        row.net,
        row.reportingCategory,
        row.paymentIntentId,
        row.paymentOrderId,
      ].join('\t');
      copy ??= client.query(
        copyFrom(`COPY reconciliation_lines (run_id, line_no, balance_transaction_id, created_utc, currency, gross, fee, net,
                    reporting_category, payment_intent_id, payment_order_id) FROM STDIN`),
      );
      if (!copy.write(`${copyLine}\n`)) await once(copy, 'drain');
      rows += 1;
      inBatch += 1;
      if (inBatch === LOAD_BATCH) await endBatch();
    }
    if (lineNo === 0) throw new MalformedSettlementLine(1, 'the file is empty: no header');
    await endBatch();
  } catch (error) {
    if (copy) {
      // Aborting the COPY makes the server cancel it, reported as the stream's own error: expected here,
      // and awaited, so that the connection is back in step before it is used again.
      const aborted = copy;
      aborted.on('error', () => undefined);
      aborted.destroy();
      await finished(aborted).catch(() => undefined);
    }
    throw error;
  }
  return rows;
}

/** The number of lines loaded for a run: a crash of PostgreSQL empties the (unlogged) table, and matching then must not start. */
export async function loadedLines(db: Queryable, runId: string): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM reconciliation_lines WHERE run_id = $1', [runId]);
  return rows[0].n;
}

const SELLER_PAYABLE = `e.account_id LIKE 'seller\\_payable:%'`;

/**
 * Matches a loaded file against the ledger for its day and records every discrepancy, by class. Set-based:
 * a handful of statements whatever the number of lines. The ledger is only read.
 */
export async function classifyDiscrepancies(tx: Queryable, runId: string, date: string): Promise<Record<DiscrepancyClass, number>> {
  const { start, end } = settlementDay(date);
  const insert = `INSERT INTO reconciliation_discrepancies (run_id, class, line_no, payment_order_id, balance_transaction_id, detail)`;
  const firstLines = `
    SELECT l.*, row_number() OVER (PARTITION BY payment_order_id, reporting_category = 'charge' ORDER BY line_no) AS charge_rank
      FROM (SELECT l.*, row_number() OVER (PARTITION BY balance_transaction_id ORDER BY line_no) AS seen
              FROM reconciliation_lines l WHERE run_id = $1) l
     WHERE seen = 1`;

  // A balance transaction listed twice, or a second charge for one payment order.
  await tx.query(
    `${insert}
     SELECT $1, 'duplicate', line_no, payment_order_id, balance_transaction_id, 'balance transaction ' || balance_transaction_id || ' is listed again'
       FROM (SELECT *, row_number() OVER (PARTITION BY balance_transaction_id ORDER BY line_no) AS seen FROM reconciliation_lines WHERE run_id = $1) l
      WHERE seen > 1
     UNION ALL
     SELECT $1, 'duplicate', line_no, payment_order_id, balance_transaction_id, 'a second charge for payment order ' || payment_order_id
       FROM (${firstLines}) l WHERE reporting_category = 'charge' AND charge_rank > 1`,
    [runId],
  );

  // Each charge against its payment order and capture transaction, whatever day the capture was booked.
  await tx.query(
    `${insert}
     SELECT $1, class, line_no, payment_order_id, balance_transaction_id, detail FROM (
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
           SELECT sum(e.amount) FILTER (WHERE ${SELLER_PAYABLE} AND e.direction = 'credit') AS gross,
                  coalesce(sum(e.amount) FILTER (WHERE e.account_id LIKE 'psp\\_fees:%'), 0) AS fee,
                  min(e.currency) AS currency
             FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE t.payment_order_id = l.payment_order_id AND t.step = 'capture') c ON true
        WHERE l.reporting_category = 'charge' AND l.charge_rank = 1) checked
      WHERE class IS NOT NULL`,
    [runId],
  );

  // Captures the ledger booked that day which the PSP does not list.
  await tx.query(
    `${insert}
     SELECT $1, 'missing_in_psp', NULL, t.payment_order_id, NULL,
            'the ledger captured ' || e.amount || ' ' || e.currency || ' for payment order ' || t.payment_order_id || ', absent from the settlement file'
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id AND ${SELLER_PAYABLE}
      WHERE t.step = 'capture' AND t.created_at >= $2 AND t.created_at < $3
        AND NOT EXISTS (SELECT 1 FROM reconciliation_lines l
                         WHERE l.run_id = $1 AND l.payment_order_id = t.payment_order_id AND l.reporting_category = 'charge')`,
    [runId, start, end],
  );

  // Refunds, paired by payment order and amount: the file's against the ledger's reversals of that day.
  await tx.query(
    `${insert}
     SELECT $1, CASE WHEN f.line_no IS NULL THEN 'missing_in_psp' ELSE 'missing_in_ledger' END,
            f.line_no, coalesce(f.payment_order_id, b.payment_order_id), f.balance_transaction_id,
            CASE WHEN f.line_no IS NULL THEN 'the ledger refunded ' || b.amount || ' of payment order ' || b.payment_order_id || ', absent from the settlement file'
                 ELSE 'the PSP refunded ' || f.amount || ' of payment order ' || f.payment_order_id || ', absent from the ledger' END
       FROM (SELECT line_no, payment_order_id, balance_transaction_id, -gross AS amount,
                    row_number() OVER (PARTITION BY payment_order_id, gross ORDER BY line_no) AS n
               FROM (${firstLines}) l WHERE reporting_category = 'refund') f
       FULL JOIN (SELECT t.payment_order_id, e.amount, row_number() OVER (PARTITION BY t.payment_order_id, e.amount ORDER BY t.id) AS n
                    FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id AND ${SELLER_PAYABLE} AND e.direction = 'debit'
                   WHERE t.step LIKE 'refund:%' AND t.created_at >= $2 AND t.created_at < $3) b
              ON b.payment_order_id = f.payment_order_id AND b.amount = f.amount AND b.n = f.n
      WHERE f.line_no IS NULL OR b.payment_order_id IS NULL`,
    [runId, start, end],
  );

  const { rows } = await tx.query<{ class: DiscrepancyClass; n: string }>(
    'SELECT class, count(*) AS n FROM reconciliation_discrepancies WHERE run_id = $1 GROUP BY class',
    [runId],
  );
  const counts = Object.fromEntries(DISCREPANCY_CLASSES.map((name) => [name, 0])) as Record<DiscrepancyClass, number>;
  for (const row of rows) counts[row.class] = Number(row.n);
  return counts;
}

export type ReconciliationOutcome =
  | { status: 'COMPLETED'; lines: number; counts: Record<DiscrepancyClass, number> }
  | { status: 'FAILED'; line: number | null; reason: string };

/**
 * Records how a run ended, with its event (reconciliation.completed or reconciliation.failed), together; once:
 * a run already finished stays as it ended.
 */
export async function finishRun(tx: Queryable, runId: string, outcome: ReconciliationOutcome): Promise<void> {
  const { rows } = await tx.query(
    outcome.status === 'COMPLETED'
      ? `UPDATE reconciliation_runs SET status = 'COMPLETED', lines = $2, counts = $3, completed_at = now()
          WHERE id = $1 AND status = 'RUNNING' RETURNING *`
      : `UPDATE reconciliation_runs SET status = 'FAILED', failure_line = $2, failure_reason = $3, completed_at = now()
          WHERE id = $1 AND status = 'RUNNING' RETURNING *`,
    outcome.status === 'COMPLETED' ? [runId, outcome.lines, JSON.stringify(outcome.counts)] : [runId, outcome.line, outcome.reason],
  );
  if (rows.length === 0) return;
  await tx.query(`INSERT INTO events (type, reconciliation_id, data) VALUES ($1, $2, $3)`, [
    `reconciliation.${outcome.status.toLowerCase()}`,
    runId,
    JSON.stringify(rows[0]),
  ]);
}

export interface ReconciliationView {
  reconciliationId: string;
  date: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  lines: number | null;
  counts: Record<string, number>;
  failure: { line: number | null; reason: string } | null;
  discrepancies: Array<{ id: string; class: DiscrepancyClass; lineNo: number | null; paymentOrderId: string | null; balanceTransactionId: string | null; detail: string }>;
  nextCursor: string | null;
}

export async function findReconciliationView(
  db: Queryable,
  runId: string,
  page: { after?: string; limit: number; class?: DiscrepancyClass },
): Promise<ReconciliationView | undefined> {
  const run = await db.query(
    `SELECT id, to_char(settlement_day, 'YYYY-MM-DD') AS day, status, lines, counts, failure_line, failure_reason
       FROM reconciliation_runs WHERE id = $1`,
    [runId],
  );
  const row = run.rows[0];
  if (!row) return undefined;
  const { rows } = await db.query(
    `SELECT d.id::text AS discrepancy_id, d.class, d.line_no, d.payment_order_id, d.balance_transaction_id, d.detail
       FROM reconciliation_discrepancies d
      WHERE d.run_id = $1 AND d.id > $2 AND ($4::text IS NULL OR d.class = $4) ORDER BY d.id LIMIT $3`,
    [runId, page.after ?? '0', page.limit + 1, page.class ?? null],
  );
  const items = rows.slice(0, page.limit);
  return {
    reconciliationId: row.id,
    date: row.day,
    status: row.status,
    lines: row.lines === null ? null : Number(row.lines),
    counts: row.counts,
    failure: row.status === 'FAILED' ? { line: row.failure_line === null ? null : Number(row.failure_line), reason: row.failure_reason } : null,
    discrepancies: items.map((d) => ({
      id: d.discrepancy_id,
      class: d.class,
      lineNo: d.line_no === null ? null : Number(d.line_no),
      paymentOrderId: d.payment_order_id,
      balanceTransactionId: d.balance_transaction_id,
      detail: d.detail,
    })),
    nextCursor: rows.length > page.limit ? items[items.length - 1]!.discrepancy_id : null,
  };
}
