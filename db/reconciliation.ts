import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import {
  DISCREPANCY_CLASSES,
  MalformedSettlementLine,
  readSettlementLine,
  SETTLEMENT_HEADER,
  settlementDay,
  type DiscrepancyClass,
  type SettlementLine,
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
const COPY_LINES = `COPY reconciliation_lines (run_id, line_no, balance_transaction_id, created_utc, currency, gross, fee, net,
                     reporting_category, payment_intent_id, payment_order_id, maybe_repeated, maybe_second_charge)
                    FROM STDIN (FORMAT binary)`;

/**
 * Streams a settlement file's lines (header first) into reconciliation_lines with COPY, validating every line
 * on the way: memory stays flat however long the file is. A malformed line throws MalformedSettlementLine.
 * The run's lines are replaced, batch by batch, each batch committed on its own (onBatch hears of each, in
 * order): a caller that fails half-way must call again (or clear the lines) before matching. While PostgreSQL
 * stores one batch the next is read. Each line is marked when an earlier line may list its balance transaction
 * (maybe_repeated) or, for a charge, an earlier charge may be for its payment order (maybe_second_charge):
 * unmarked lines are certainly neither, and matching checks only the marked ones against the others.
 * Answers the number of data lines.
 */
export async function loadSettlementLines(
  client: pg.PoolClient,
  runId: string,
  lines: AsyncIterable<string>,
  onBatch: (loaded: number) => void = () => undefined,
): Promise<number> {
  await client.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
  const balanceTransactions = new SeenIds();
  const chargedOrders = new SeenIds();
  const rowsOut = new CopyRows(runId);
  let copy: CopyStreamQuery | undefined; // the batch being read
  let copyFailed: Error | undefined; // the batch being read, failed under it (its connection lost): nothing to abort
  let stored: Promise<void> | undefined; // the batch before it, which PostgreSQL is storing meanwhile
  let lineNo = 0;
  let rows = 0;
  let blankAt = 0;
  const endBatch = async () => {
    if (!copy) return;
    if (copyFailed) throw copyFailed;
    const batch = copy;
    const loaded = rows;
    copy = undefined;
    batch.end(rowsOut.end());
    await stored; // one batch stored at a time: a failure of the one before surfaces here
    stored = finished(batch).then(() => onBatch(loaded));
    stored.catch(() => undefined); // awaited at the next batch's end, or below
  };
  try {
    for await (const line of lines) {
      if (copyFailed) throw copyFailed;
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
      const row = readSettlementLine(line, lineNo);
      const repeated = balanceTransactions.add(row.balanceTransactionId);
      const secondCharge = row.reportingCategory === 'charge' && chargedOrders.add(row.paymentOrderId);
      if (!copy) {
        // The next batch's COPY waits in the connection's queue while the one before is stored: its rows are held.
        const opened = client.query(copyFrom(COPY_LINES, { highWaterMark: 1 << 24 }));
        // A COPY that fails while its rows are read (the connection lost) says so at once, maybe while this
        // loop waits for the next line: kept, and thrown at the next line or at the batch's end.
        opened.on('error', (error) => {
          if (copy === opened) copyFailed ??= error;
        });
        copy = opened;
        rowsOut.start();
      }
      rowsOut.add(lineNo, row, repeated, secondCharge);
      if (rowsOut.full) {
        if (!copy.write(rowsOut.take())) await once(copy, 'drain');
      }
      rows += 1;
      if (rows % LOAD_BATCH === 0) await endBatch();
    }
    if (lineNo === 0) throw new MalformedSettlementLine(1, 'the file is empty: no header');
    await endBatch();
    await stored;
    // Statistics that count the lines just loaded: how matching joins them to the ledger depends on how many there are.
    await client.query('ANALYZE reconciliation_lines (run_id, reporting_category, payment_order_id, balance_transaction_id)');
  } catch (error) {
    if (copy && !copyFailed) {
      // Aborting the COPY makes the server cancel it, reported as the stream's own error: expected here,
      // and awaited, so that the connection is back in step before it is used again.
      const aborted = copy;
      aborted.on('error', () => undefined);
      aborted.destroy();
      await finished(aborted).catch(() => undefined);
    }
    await stored?.catch(() => undefined);
    throw error;
  }
  return rows;
}

/** Bytes of rows sent to PostgreSQL at once: one write per line would cost more than the line. */
const SEND_BYTES = 1 << 16;
/** Room for one more row: a checked line's ids are at most 255 characters. */
const ROW_BYTES = 2_048;
const EPOCH_2000_MS = Date.UTC(2000, 0, 1);

/**
 * Settlement lines in COPY's binary format, which PostgreSQL stores without parsing text: a batch is start(),
 * rows, then end(); take() hands over what is built so far. Checked ids, currencies and categories are ASCII.
 */
class CopyRows {
  private readonly runId: Buffer;
  private buffer: Buffer;
  private at = 0;
  private lastCreated = '';
  private readonly created = Buffer.alloc(8);

  constructor(runId: string) {
    this.runId = Buffer.from(runId, 'utf8');
    this.buffer = Buffer.allocUnsafe(SEND_BYTES + ROW_BYTES + this.runId.length);
  }

  get full(): boolean {
    return this.at >= SEND_BYTES;
  }

  start(): void {
    this.at += this.buffer.write('PGCOPY\n\xff\r\n\0', this.at, 'latin1');
    this.at = this.buffer.writeInt32BE(0, this.at); // flags
    this.at = this.buffer.writeInt32BE(0, this.at); // header extension
  }

  add(lineNo: number, row: SettlementLine, repeated: boolean, secondCharge: boolean): void {
    if (row.createdUtc !== this.lastCreated) {
      // timestamptz: microseconds since 2000-01-01 UTC
      this.created.writeBigInt64BE(BigInt(Date.parse(row.createdUtc) - EPOCH_2000_MS) * 1000n);
      this.lastCreated = row.createdUtc;
    }
    this.at = this.buffer.writeInt16BE(13, this.at);
    this.bytes(this.runId);
    this.int64(lineNo);
    this.ascii(row.balanceTransactionId);
    this.bytes(this.created);
    this.ascii(row.currency);
    this.int64(row.gross);
    this.int64(row.fee);
    this.int64(row.net);
    this.ascii(row.reportingCategory);
    this.ascii(row.paymentIntentId);
    this.ascii(row.paymentOrderId);
    this.boolean(repeated);
    this.boolean(secondCharge);
  }

  /** The trailer, with what is built so far. */
  end(): Buffer {
    this.at = this.buffer.writeInt16BE(-1, this.at);
    return this.take();
  }

  take(): Buffer {
    const taken = this.buffer.subarray(0, this.at);
    this.buffer = Buffer.allocUnsafe(this.buffer.length);
    this.at = 0;
    return taken;
  }

  private bytes(value: Buffer): void {
    this.at = this.buffer.writeInt32BE(value.length, this.at);
    this.at += value.copy(this.buffer, this.at);
  }

  private ascii(value: string): void {
    this.at = this.buffer.writeInt32BE(value.length, this.at);
    // Byte by byte: for a short string, cheaper than a call into Buffer's encoder.
    for (let i = 0; i < value.length; i += 1) this.buffer[this.at + i] = value.charCodeAt(i);
    this.at += value.length;
  }

  /** A whole number of at most 15 digits (or a line number): exact in a double. */
  private int64(value: number): void {
    const high = Math.floor(value / 0x1_0000_0000);
    this.at = this.buffer.writeInt32BE(8, this.at);
    this.at = this.buffer.writeInt32BE(high, this.at);
    this.at = this.buffer.writeUInt32BE(value - high * 0x1_0000_0000, this.at);
  }

  private boolean(value: boolean): void {
    this.at = this.buffer.writeInt32BE(1, this.at);
    this.at = this.buffer.writeUInt8(value ? 1 : 0, this.at);
  }
}

/**
 * The ids a load has seen, in a fixed 4 MB (a blocked Bloom filter): `add` answers whether the id may have been
 * added before. A no is certain; a yes is wrong for about one in a thousand of a million ids, more as there are
 * more. Each id's bits lie in one 64-byte block: one memory fetch an id.
 */
class SeenIds {
  private readonly words = new Int32Array(1 << 20);

  add(id: string): boolean {
    let hash = 0x811c9dc5; // FNV-1a
    for (let i = 0; i < id.length; i += 1) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
    const block = (mix(hash) & 0xffff) << 4; // 2^16 blocks of 16 words
    const bits = mix(hash ^ 0x9e3779b9); // three 9-bit positions in the block's 512 bits
    let seen = true;
    for (let probe = 0; probe < 3; probe += 1) {
      const position = (bits >>> (9 * probe)) & 511;
      const word = block | (position >>> 5);
      const bit = 1 << (position & 31);
      if ((this.words[word]! & bit) === 0) {
        seen = false;
        this.words[word]! |= bit;
      }
    }
    return seen;
  }
}

/** MurmurHash3's finalizer: every bit of the input moves every bit of the output. */
function mix(value: number): number {
  let h = value;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The number of lines loaded for a run: a crash of PostgreSQL empties the (unlogged) table, and matching then must not start. */
export async function loadedLines(db: Queryable, runId: string): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM reconciliation_lines WHERE run_id = $1', [runId]);
  return rows[0].n;
}

const SELLER_PAYABLE = `e.account_id LIKE 'seller\\_payable:%'`;
/** A capture transaction's figures as reconciliation reads them, over its entries `e`. */
const CAPTURE_FIGURES = `
  sum(e.amount) FILTER (WHERE ${SELLER_PAYABLE} AND e.direction = 'credit') AS gross,
  coalesce(sum(e.amount) FILTER (WHERE e.account_id LIKE 'psp\\_fees:%'), 0) AS fee,
  min(e.currency) AS currency`;
const CAPTURED = `('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')`;

/** Whether a charge with these figures is other than the booked capture `c` (a booked_captures row) or has none. */
function differsFromCapture(c: string, currency: string, gross: string, fee: string): string {
  return `(${c}.id IS NULL OR ${c}.order_id IS NULL OR ${c}.status NOT IN ${CAPTURED} OR ${c}.gross IS NULL
           OR ${c}.currency <> ${currency} OR ${c}.gross <> ${gross} OR ${c}.fee <> ${fee})`;
}

/**
 * The captures the ledger booked on a day, each with its figures and its payment order's status, as the
 * temporary table booked_captures of this connection's session, which classifyDiscrepancies reads and drops.
 * It reads only the ledger, in a short transaction of its own: it may run on a second connection while the
 * day's settlement loads, and reads the day's captures as they stand when it starts.
 */
export async function summarizeBookedCaptures(client: pg.PoolClient, date: string): Promise<void> {
  const { start, end } = settlementDay(date);
  await client.query('BEGIN');
  try {
    // No parallel workers: this runs beside the load, whose parsing and COPY already keep the cores busy. The
    // entries are read in transaction order and summed as they come, with no hash of a million groups.
    await client.query('SET LOCAL max_parallel_workers_per_gather = 0');
    await client.query('DROP TABLE IF EXISTS booked_captures');
    await client.query(
      `CREATE TEMPORARY TABLE booked_captures AS
       SELECT c.*, o.id AS order_id, o.status
         FROM (SELECT t.id, t.payment_order_id, ${CAPTURE_FIGURES}
                 FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                WHERE t.step = 'capture' AND t.created_at >= $1 AND t.created_at < $2
                GROUP BY t.id) c
         LEFT JOIN payment_orders o ON o.id = c.payment_order_id`,
      [start, end],
    );
    await client.query('ANALYZE booked_captures (payment_order_id)');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Matches a loaded file against the ledger for its day and records every discrepancy, by class, in one
 * statement whatever the number of lines, in the caller's transaction; summarizeBookedCaptures must have run
 * on the same connection.
 * Each charge is paired with its payment order's capture booked that day in one pass, which also finds that
 * day's captures no line lists; a charge whose capture was booked another day (or never) is looked up alone.
 * Which line is a repeat, or a payment order's second charge, is worked out (by line number, as window
 * functions do) only among the lines the load marked and those sharing their ids: every other line is the
 * first of its kind. The ledger is only read.
 */
export async function classifyDiscrepancies(tx: Queryable, runId: string, date: string): Promise<Record<DiscrepancyClass, number>> {
  const { start, end } = settlementDay(date);
  // The day's captures and lines are hashed in memory: about 100 MB a million.
  await tx.query(`SET LOCAL work_mem = '256MB'`);
  await tx.query(
    `WITH suspects AS MATERIALIZED (
       SELECT balance_transaction_id, payment_order_id, maybe_repeated, maybe_second_charge
         FROM reconciliation_lines WHERE run_id = $1 AND (maybe_repeated OR maybe_second_charge)),
     -- One pass over the run's charges, each against the capture booked that day for its payment order, keeps
     -- what the rest needs: the charges that differ from their capture or have none, the captures no charge
     -- lists, and every charge sharing a balance transaction or a payment order with a marked line (the only
     -- lines whose rank among lines of the same id can be other than first); with them, the refunds.
     kept AS MATERIALIZED (
       SELECT l.line_no, l.payment_order_id AS line_order_id, l.balance_transaction_id, l.reporting_category,
              l.currency AS line_currency, l.gross AS line_gross, l.fee AS line_fee, c.*
         FROM (SELECT * FROM reconciliation_lines WHERE run_id = $1 AND reporting_category = 'charge') l
         FULL JOIN booked_captures c ON c.payment_order_id = l.payment_order_id
        WHERE l.line_no IS NULL OR ${differsFromCapture('c', 'l.currency', 'l.gross', 'l.fee')}
           OR l.balance_transaction_id IN (SELECT balance_transaction_id FROM suspects WHERE maybe_repeated)
           OR l.payment_order_id IN (SELECT payment_order_id FROM suspects WHERE maybe_second_charge)
       UNION ALL
       SELECT line_no, payment_order_id, balance_transaction_id, reporting_category, currency, gross, fee,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL
         FROM reconciliation_lines WHERE run_id = $1 AND reporting_category = 'refund'),
     related AS (
       SELECT line_no, balance_transaction_id, line_order_id AS payment_order_id, reporting_category
         FROM kept
        WHERE balance_transaction_id IN (SELECT balance_transaction_id FROM suspects WHERE maybe_repeated)
           OR (reporting_category = 'charge' AND line_order_id IN (SELECT payment_order_id FROM suspects WHERE maybe_second_charge))),
     ranked AS (
       SELECT l.*, CASE WHEN seen = 1 THEN row_number() OVER (PARTITION BY payment_order_id, reporting_category = 'charge', seen = 1 ORDER BY line_no) END AS charge_rank
         FROM (SELECT l.*, row_number() OVER (PARTITION BY balance_transaction_id ORDER BY line_no) AS seen FROM related l) l),
     -- A balance transaction listed twice, or a second charge for one payment order.
     duplicates AS MATERIALIZED (
       SELECT line_no, payment_order_id, balance_transaction_id, seen > 1 AS repeated,
              CASE WHEN seen > 1 THEN 'balance transaction ' || balance_transaction_id || ' is listed again'
                   ELSE 'a second charge for payment order ' || payment_order_id END AS detail
         FROM ranked WHERE seen > 1 OR (reporting_category = 'charge' AND charge_rank > 1)),
     -- Each first charge for a payment order against that order and its capture, whatever day it was booked.
     charges AS (
       SELECT u.line_no, u.line_order_id AS payment_order_id, u.balance_transaction_id, u.line_currency, u.line_gross, u.line_fee,
              CASE WHEN u.id IS NULL THEN o.id ELSE u.order_id END AS order_id,
              CASE WHEN u.id IS NULL THEN o.status ELSE u.status END AS status,
              CASE WHEN u.id IS NULL THEN c.gross ELSE u.gross END AS gross,
              CASE WHEN u.id IS NULL THEN c.fee ELSE u.fee END AS fee,
              CASE WHEN u.id IS NULL THEN c.currency ELSE u.currency END AS currency
         FROM kept u
         LEFT JOIN payment_orders o ON u.id IS NULL AND o.id = u.line_order_id
         LEFT JOIN LATERAL (
           SELECT ${CAPTURE_FIGURES}
             FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE u.id IS NULL AND t.payment_order_id = u.line_order_id AND t.step = 'capture') c ON true
        WHERE u.reporting_category = 'charge' AND u.line_no NOT IN (SELECT line_no FROM duplicates)
          AND ${differsFromCapture('u', 'u.line_currency', 'u.line_gross', 'u.line_fee')}),
     checked AS (
       SELECT line_no, payment_order_id, balance_transaction_id,
              unnest(ARRAY[
                CASE WHEN order_id IS NULL THEN 'missing_in_ledger'
                     WHEN status NOT IN ${CAPTURED} THEN 'status_mismatch'
                     WHEN gross IS NULL THEN 'missing_in_ledger'
                     WHEN currency <> line_currency THEN 'currency_mismatch'
                     WHEN gross <> line_gross THEN 'amount_mismatch' END,
                CASE WHEN gross IS NOT NULL AND currency = line_currency AND fee <> line_fee THEN 'fee_mismatch' END]) AS class,
              unnest(ARRAY[
                CASE WHEN order_id IS NULL THEN 'the PSP charged ' || line_gross || ' ' || line_currency || ' for payment order ' || payment_order_id || ', unknown to the ledger'
                     WHEN status NOT IN ${CAPTURED} THEN 'the PSP charged payment order ' || order_id || ', which the ledger holds as ' || status
                     WHEN gross IS NULL THEN 'no capture transaction for payment order ' || order_id
                     WHEN currency <> line_currency THEN 'PSP ' || line_currency || ', ledger ' || currency
                     WHEN gross <> line_gross THEN 'PSP gross ' || line_gross || ', ledger ' || gross END,
                'PSP fee ' || line_fee || ', ledger ' || fee]) AS detail
         FROM charges),
     -- Refunds, paired by payment order and amount: the file's against the ledger's reversals of that day.
     refunds AS (
       SELECT CASE WHEN f.line_no IS NULL THEN 'missing_in_psp' ELSE 'missing_in_ledger' END AS class,
              f.line_no, coalesce(f.payment_order_id, b.payment_order_id) AS payment_order_id, f.balance_transaction_id,
              CASE WHEN f.line_no IS NULL THEN 'the ledger refunded ' || b.amount || ' of payment order ' || b.payment_order_id || ', absent from the settlement file'
                   ELSE 'the PSP refunded ' || f.amount || ' of payment order ' || f.payment_order_id || ', absent from the ledger' END AS detail
         FROM (SELECT line_no, line_order_id AS payment_order_id, balance_transaction_id, -line_gross AS amount,
                      row_number() OVER (PARTITION BY line_order_id, line_gross ORDER BY line_no) AS n
                 FROM kept
                WHERE reporting_category = 'refund' AND line_no NOT IN (SELECT line_no FROM duplicates WHERE repeated)) f
         FULL JOIN (SELECT t.payment_order_id, e.amount, row_number() OVER (PARTITION BY t.payment_order_id, e.amount ORDER BY t.id) AS n
                      FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id AND ${SELLER_PAYABLE} AND e.direction = 'debit'
                     WHERE t.step LIKE 'refund:%' AND t.created_at >= $2 AND t.created_at < $3) b
                ON b.payment_order_id = f.payment_order_id AND b.amount = f.amount AND b.n = f.n
        WHERE f.line_no IS NULL OR b.payment_order_id IS NULL)
     INSERT INTO reconciliation_discrepancies (run_id, class, line_no, payment_order_id, balance_transaction_id, detail)
     SELECT $1, 'duplicate', line_no, payment_order_id, balance_transaction_id, detail FROM duplicates WHERE repeated
     UNION ALL
     SELECT $1, 'duplicate', line_no, payment_order_id, balance_transaction_id, detail FROM duplicates WHERE NOT repeated
     UNION ALL
     SELECT $1, class, line_no, payment_order_id, balance_transaction_id, detail FROM checked WHERE class IS NOT NULL
     UNION ALL
     -- Captures the ledger booked that day which the PSP does not list.
     SELECT $1, 'missing_in_psp', NULL, u.payment_order_id, NULL,
            'the ledger captured ' || e.amount || ' ' || e.currency || ' for payment order ' || u.payment_order_id || ', absent from the settlement file'
       FROM kept u JOIN ledger_entries e ON e.transaction_id = u.id AND ${SELLER_PAYABLE}
      WHERE u.line_no IS NULL
     UNION ALL
     SELECT $1, class, line_no, payment_order_id, balance_transaction_id, detail FROM refunds`,
    [runId, start, end],
  );
  await tx.query('DROP TABLE booked_captures');

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
