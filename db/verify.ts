import type { Queryable } from './pool';

export interface Check {
  name: string;
  /** What holds when the check passes, for the report. */
  claim: string;
  breaches: number;
  /** Up to a few breaching rows, to name the problem. */
  examples: string[];
  /** How long the check took. */
  ms: number;
}

/** Orders whose checkout has finished and which have no refund in flight: their books must be final. */
const SETTLED_ORDERS = `
  SELECT o.* FROM payment_orders o JOIN checkouts c ON c.id = o.checkout_id
   WHERE c.status IN ('SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED', 'CANCELED')
     AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_order_id = o.id AND r.status = 'PENDING')`;

const CAPTURED = `('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')`;

/**
 * Each check is one set-based query answering the rows that break it. Invariants that hold at every
 * commit (balanced transactions, wallets equal to the ledger) are checked over everything; facts that settle
 * as a checkout finishes (one capture per captured order, agreement with the PSP) over finished checkouts.
 */
const checks: Array<{ name: string; claim: string; sql: string }> = [
  {
    name: 'ledger_unbalanced',
    claim: 'every ledger transaction balances in each currency',
    sql: `SELECT 'transaction ' || transaction_id || ' ' || currency || ': debits - credits = ' ||
                 sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) AS example
            FROM ledger_entries GROUP BY transaction_id, currency
          HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0`,
  },
  {
    name: 'wallet_movements_mismatch',
    claim: "every wallet equals the sum of its movements",
    sql: `SELECT w.seller_id || ' ' || w.currency || ': wallet ' || w.balance || ', movements ' || coalesce(m.total, 0) AS example
            FROM wallets w
            LEFT JOIN (SELECT seller_id, currency, sum(amount) AS total FROM wallet_movements GROUP BY 1, 2) m
                   ON m.seller_id = w.seller_id AND m.currency = w.currency
           WHERE w.balance <> coalesce(m.total, 0)`,
  },
  {
    name: 'wallet_ledger_mismatch',
    claim: "every wallet equals what the ledger says the platform owes that seller",
    sql: `WITH payable AS (
            SELECT a.id, a.currency, sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END) AS owed
              FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id
             WHERE a.id LIKE 'seller\\_payable:%'
             GROUP BY a.id, a.currency)
          SELECT coalesce(w.seller_id, p.id) || ' ' || coalesce(w.currency, p.currency) || ': wallet ' ||
                 coalesce(w.balance, 0) || ', ledger ' || coalesce(p.owed, 0) AS example
            FROM wallets w
            FULL JOIN payable p ON p.id = 'seller_payable:' || w.seller_id || ':' || w.currency
           WHERE coalesce(w.balance, 0) <> coalesce(p.owed, 0)`,
  },
  {
    name: 'capture_transaction_mismatch',
    claim: 'every captured payment order has exactly one capture transaction, and no other order has one',
    // (payment order, step) is unique in the ledger: an order has one capture transaction or none.
    sql: `SELECT o.id || ' (' || o.status || '): ' || CASE WHEN t.id IS NULL THEN 0 ELSE 1 END || ' capture transactions' AS example
            FROM (${SETTLED_ORDERS}) o
            LEFT JOIN ledger_transactions t ON t.payment_order_id = o.id AND t.step = 'capture'
           WHERE (t.id IS NOT NULL) <> (o.status IN ${CAPTURED})`,
  },
  {
    name: 'refund_reversal_mismatch',
    claim: 'every succeeded refund has exactly one ledger reversal, and no other refund has one',
    sql: `SELECT r.id || ' (' || r.status || '): ' || count(t.id) || ' reversals' AS example
            FROM refunds r
            LEFT JOIN ledger_transactions t ON t.payment_order_id = r.payment_order_id AND t.step = 'refund:' || r.id
           GROUP BY r.id, r.status
          HAVING count(t.id) <> CASE WHEN r.status = 'SUCCEEDED' THEN 1 ELSE 0 END`,
  },
  {
    name: 'refunded_amount_mismatch',
    claim: "every payment order's refunded amount is the sum of its succeeded refunds",
    sql: `SELECT o.id || ': refunded_amount ' || o.refunded_amount || ', refunds ' || coalesce(r.total, 0) AS example
            FROM payment_orders o
            LEFT JOIN (SELECT payment_order_id, sum(amount) AS total FROM refunds WHERE status = 'SUCCEEDED' GROUP BY payment_order_id) r
                   ON r.payment_order_id = o.id
           WHERE o.refunded_amount <> coalesce(r.total, 0)`,
  },
  {
    name: 'checkout_stalled',
    claim: 'no checkout stands unfinished an hour after all its orders finished (a checkout workflow terminated by hand)',
    sql: `SELECT c.id || ' (' || c.status || ') unchanged since ' || c.updated_at AS example
            FROM checkouts c
           WHERE c.status IN ('PENDING', 'PROCESSING', 'REQUIRES_CAPTURE', 'CAPTURING')
             AND c.updated_at < now() - interval '1 hour'
             AND EXISTS (SELECT 1 FROM payment_orders o WHERE o.checkout_id = c.id)
             AND NOT EXISTS (SELECT 1 FROM payment_orders o WHERE o.checkout_id = c.id AND o.status IN ('PENDING', 'AUTHORIZED'))`,
  },
  {
    name: 'refund_stalled',
    claim: 'no refund has waited an hour for the PSP (its workflow ended without an answer: replay its request or retry the compensation)',
    sql: `SELECT r.id || ' of ' || r.payment_order_id || ' (' || r.amount || ' ' || r.currency || ') pending since ' || r.created_at AS example
            FROM refunds r WHERE r.status = 'PENDING' AND r.updated_at < now() - interval '1 hour'`,
  },
  {
    name: 'held_without_record',
    claim: 'every finished checkout that still holds money its outcome gave back records how much, and why',
    // Only an authorized order, or a captured one in a failed or canceled checkout, holds money: any other
    // checkout holds none, and breaks this only if its record says it holds some.
    sql: `WITH held AS (
            SELECT c.id, c.held_amount, c.attention_code,
                   sum(CASE WHEN o.status = 'AUTHORIZED' THEN o.amount
                            WHEN c.status IN ('FAILED', 'CANCELED') AND o.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')
                              THEN o.amount - o.refunded_amount
                            ELSE 0 END) AS held
              FROM checkouts c JOIN payment_orders o ON o.checkout_id = c.id
             WHERE c.status IN ('SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED', 'CANCELED')
               AND (c.held_amount <> 0 OR c.status IN ('FAILED', 'CANCELED')
                    OR c.id IN (SELECT checkout_id FROM payment_orders WHERE status = 'AUTHORIZED'))
               AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.checkout_id = c.id AND r.status = 'PENDING')
             GROUP BY c.id, c.held_amount, c.attention_code)
          SELECT id || ': holds ' || held || ', its record says ' || held_amount || coalesce(' (' || attention_code || ')', ' (no record)') AS example
            FROM held WHERE held <> held_amount`,
  },
  {
    name: 'psp_mismatch',
    claim: "the simulated PSP's records agree with ours: captured, refunded and fee amounts",
    sql: `SELECT o.id || ': ours captured ' || CASE WHEN o.status IN ${CAPTURED} THEN o.amount ELSE 0 END ||
                 ' refunded ' || o.refunded_amount || ' fee ' || o.fee_amount || '; PSP captured ' ||
                 coalesce(p.amount_captured, 0) || ' refunded ' || coalesce(p.amount_refunded, 0) || ' fee ' || coalesce(p.fee, 0) AS example
            FROM (${SETTLED_ORDERS}) o
            LEFT JOIN psp_simulator_payments p ON p.payment_order_id = o.id AND p.status <> 'declined'
           WHERE o.id IN (SELECT payment_order_id FROM psp_simulator_payments)
             AND (CASE WHEN o.status IN ${CAPTURED} THEN o.amount ELSE 0 END <> coalesce(p.amount_captured, 0)
                  OR o.refunded_amount <> coalesce(p.amount_refunded, 0)
                  OR o.fee_amount <> coalesce(p.fee, 0))`,
  },
];

/**
 * Runs every check; pass a transaction's client to verify what that transaction sees (the checks then run in
 * turn). From a pool, two checks run at a time, each on a connection of its own: as when run in turn, each
 * check reads the books as they stand when it starts.
 */
export async function verifyBooks(db: Queryable, examples = 5): Promise<Check[]> {
  const results: Check[] = [];
  let next = 0;
  const runChecks = async () => {
    for (let at = next++; at < checks.length; at = next++) {
      const check = checks[at]!;
      const started = Date.now();
      const { rows } = await db.query<{ example: string; breaches: string }>(
        `SELECT example, count(*) OVER () AS breaches FROM (${check.sql}) breaching LIMIT $1`,
        [examples],
      );
      results[at] = {
        name: check.name,
        claim: check.claim,
        breaches: Number(rows[0]?.breaches ?? 0),
        examples: rows.map((row) => row.example),
        ms: Date.now() - started,
      };
    }
  };
  const fromPool = !('release' in db);
  await Promise.all(Array.from({ length: fromPool ? 2 : 1 }, runChecks));
  return results;
}

export function formatReport(results: Check[]): string {
  return results
    .map((check) =>
      check.breaches === 0
        ? `ok    ${check.claim}`
        : [`FAIL  ${check.claim}: ${check.breaches} breach(es) [${check.name}]`, ...check.examples.map((example) => `        ${example}`)].join('\n'),
    )
    .join('\n');
}
