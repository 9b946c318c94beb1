import { migrate } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { formatReport, verifyBooks } from '../db/verify';
import { startBenchDatabase, seedLedgerAccounts } from './database';

/**
 * `npm run bench:verify`: how long `npm run verify` takes on books of BENCH_ORDERS payment orders (1,000,000 by
 * default), three to a checkout, with every check's time. DATABASE_URL names an existing, empty database (an
 * embedded PostgreSQL in a temporary folder otherwise); BENCH_KEEP=1 keeps a database already seeded and only
 * verifies it again.
 */
async function main(): Promise<void> {
  const orders = Number(process.env.BENCH_ORDERS ?? 1_000_000);
  const database = await startBenchDatabase('settle-bench-verify-', 54398);
  const pool = createPool(database.url, 2);
  try {
    await migrate(pool);
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM payment_orders');
    if (Number(rows[0]!.n) === 0) {
      const started = Date.now();
      await seedBooks(pool, orders);
      console.log(`seeded ${orders.toLocaleString('en')} payment orders with their books in ${seconds(started)} s`);
    } else if (!process.env.BENCH_KEEP) {
      throw new Error('the database already holds payment orders: give an empty one, or BENCH_KEEP=1 to verify what it holds');
    }

    const started = Date.now();
    const results = await verifyBooks(pool);
    const elapsed = Date.now() - started;
    console.log(formatReport(results));
    for (const check of results) console.log(`${String(check.ms).padStart(7)} ms  ${check.name}`);
    const breaches = results.reduce((sum, check) => sum + check.breaches, 0);
    console.log(`verified ${orders.toLocaleString('en')} payment orders in ${(elapsed / 1000).toFixed(1)} s, ${breaches} breach(es)`);
    if (breaches > 0) process.exitCode = 1;
  } finally {
    await pool.end();
    await database.stop();
  }
}

/**
 * Books as Settle writes them, set-based: checkouts of three orders across 1,000 sellers, one in twenty failed
 * and one in twenty partly failed, one captured order in ten refunded in part, each capture and refund with its
 * balanced ledger transaction, wallet movement and simulated PSP record. Triggers are off for the load only,
 * every row being consistent by construction; the verification that follows says so.
 */
async function seedBooks(pool: Pool, n: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL session_replication_role = replica`);
    // Order i (0-based) is the (i % 3)th of checkout i / 3; checkout g fails whole when g % 20 = 0, and its first
    // order fails when g % 20 = 1. A captured order i is refunded 100 when i % 10 = 0.
    await client.query(
      `CREATE TEMPORARY TABLE seed ON COMMIT DROP AS
       SELECT i, i / 3 AS g, 1000 + i % 5000 AS amount, 30 + i % 7 AS fee, 'seller_' || i % 1000 AS seller,
              NOT ((i / 3) % 20 = 0 OR ((i / 3) % 20 = 1 AND i % 3 = 0)) AS captured,
              CASE WHEN i % 10 = 0 THEN 100 ELSE 0 END AS refunded
         FROM generate_series(0, $1 - 1) i`,
      [n],
    );
    await client.query(`UPDATE seed SET refunded = 0 WHERE NOT captured`);
    await client.query(
      `INSERT INTO checkouts (id, customer_id, currency, total_amount, capture_mode, status, created_at, updated_at)
       SELECT 'chk_' || g, 'cus_' || g % 10000, 'USD', sum(amount), 'automatic',
              CASE WHEN g % 20 = 0 THEN 'FAILED' WHEN g % 20 = 1 THEN 'PARTIALLY_SUCCEEDED' ELSE 'SUCCEEDED' END,
              now() - interval '2 days', now() - interval '2 days'
         FROM seed GROUP BY g`,
    );
    await client.query(
      `INSERT INTO payment_orders (id, checkout_id, position, seller_id, amount, currency, payment_method, status, psp_reference,
                                   fee_amount, refunded_amount, created_at, updated_at)
       SELECT 'po_' || i, 'chk_' || g, i % 3 + 1, seller, amount, 'USD', 'pm_card_visa',
              CASE WHEN NOT captured THEN 'FAILED' WHEN refunded > 0 THEN 'PARTIALLY_REFUNDED' ELSE 'SUCCEEDED' END,
              'pi_' || i, CASE WHEN captured THEN fee ELSE 0 END, refunded, now() - interval '2 days', now() - interval '2 days'
         FROM seed`,
    );
    await client.query(
      `INSERT INTO psp_simulator_payments (id, payment_order_id, amount, currency, payment_method, status, amount_captured, amount_refunded, fee)
       SELECT 'pi_' || i, 'po_' || i, amount, 'USD', 'pm_card_visa', CASE WHEN captured THEN 'succeeded' ELSE 'declined' END,
              CASE WHEN captured THEN amount ELSE 0 END, refunded, CASE WHEN captured THEN fee ELSE 0 END
         FROM seed`,
    );
    await client.query(
      `INSERT INTO refunds (id, payment_order_id, checkout_id, amount, currency, reason, status, created_at, updated_at)
       SELECT 're_' || i, 'po_' || i, 'chk_' || g, refunded, 'USD', 'requested_by_customer', 'SUCCEEDED',
              now() - interval '1 day', now() - interval '1 day'
         FROM seed WHERE refunded > 0`,
    );
    await seedLedgerAccounts(client);
    // Capture transactions take the order's number as their id; refund transactions follow them.
    await client.query(
      `INSERT INTO ledger_transactions (id, payment_order_id, step, description, created_at) OVERRIDING SYSTEM VALUE
       SELECT i + 1, 'po_' || i, 'capture', 'capture', now() - interval '2 days' FROM seed WHERE captured
       UNION ALL
       SELECT $1 + i + 1, 'po_' || i, 'refund:re_' || i, 'refund', now() - interval '1 day' FROM seed WHERE refunded > 0`,
      [n],
    );
    await client.query(
      `INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency)
       SELECT i + 1, e.account_id, e.direction, e.amount, 'USD' FROM seed,
              LATERAL (VALUES ('psp_clearing:USD', 'debit', seed.amount - seed.fee),
                              ('psp_fees:USD', 'debit', seed.fee),
                              ('seller_payable:' || seed.seller || ':USD', 'credit', seed.amount)) e (account_id, direction, amount)
        WHERE captured
       UNION ALL
       SELECT $1 + i + 1, e.account_id, e.direction, refunded, 'USD' FROM seed,
              LATERAL (VALUES ('seller_payable:' || seed.seller || ':USD', 'debit'), ('psp_clearing:USD', 'credit')) e (account_id, direction)
        WHERE refunded > 0`,
      [n],
    );
    await client.query(`SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'), $1)`, [2 * n + 1]);
    await client.query(
      `INSERT INTO wallet_movements (payment_order_id, step, seller_id, currency, amount)
       SELECT 'po_' || i, 'capture', seller, 'USD', amount FROM seed WHERE captured
       UNION ALL
       SELECT 'po_' || i, 'refund:re_' || i, seller, 'USD', -refunded FROM seed WHERE refunded > 0`,
    );
    await client.query(
      `INSERT INTO wallets (seller_id, currency, balance) SELECT seller_id, currency, sum(amount) FROM wallet_movements GROUP BY 1, 2`,
    );
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } finally {
    client.release();
  }
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
