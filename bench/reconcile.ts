import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { createReconciliationActivities } from '../activities/reconciliation';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { SETTLEMENT_HEADER } from '../domain/settlement';
import type { Psp } from '../psp/types';
import { startBenchDatabase, seedLedgerAccounts } from './database';

/**
 * `npm run bench:reconcile`: lines per second for reconciling one day's settlement file against a ledger
 * holding every one of its captures. BENCH_LINES sets the size (1,000,000 by default); DATABASE_URL an
 * existing, empty database (an embedded PostgreSQL in a temporary folder otherwise).
 */
async function main(): Promise<void> {
  const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
  const database = await startBenchDatabase('settle-bench-', 54399);
  const pool = createPool(database.url, 4);
  try {
    await migrate(pool);
    const day = new Date().toISOString().slice(0, 10);
    const at = `${day}T12:00:00Z`;

    let started = Date.now();
    await seedLedger(pool, lines, at);
    console.log(`seeded ${lines.toLocaleString('en')} captured payment orders in ${seconds(started)} s`);

    const file = path.join(database.root, `settlement-${day}.csv`);
    await writeMatchingFile(file, lines, at);

    const activities = createReconciliationActivities({ pool, psp: {} as Psp });
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    started = Date.now();
    const outcome = await activities.reconcileSettlementFile('rec_bench', day, file);
    const elapsed = (Date.now() - started) / 1000;
    clearInterval(sampler);

    if (outcome.status !== 'COMPLETED') throw new Error(`the run failed: ${JSON.stringify(outcome)}`);
    const found = Object.values(outcome.counts).reduce((sum, n) => sum + n, 0);
    console.log(
      `reconciled ${outcome.lines.toLocaleString('en')} lines in ${elapsed.toFixed(1)} s: ` +
        `${Math.round(outcome.lines / elapsed).toLocaleString('en')} lines/s, ${found} discrepancies, ` +
        `process memory grew ${Math.round((peakRss - rssBefore) / 1e6)} MB`,
    );
  } finally {
    await pool.end();
    await database.stop();
  }
}

/** A day of captures, written set-based; triggers are off for the load only, every row being balanced by construction. */
async function seedLedger(pool: ReturnType<typeof createPool>, n: number, at: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL session_replication_role = replica`);
    await client.query(
      `INSERT INTO checkouts (id, customer_id, currency, total_amount, capture_mode, status)
       SELECT 'chk_bench_' || g, 'cus_bench', 'USD', 1, 'automatic', 'SUCCEEDED' FROM generate_series(0, ($1 - 1) / 100) g`,
      [n],
    );
    await client.query(
      `INSERT INTO payment_orders (id, checkout_id, position, seller_id, amount, currency, payment_method, status, fee_amount)
       SELECT 'po_bench_' || g, 'chk_bench_' || ((g - 1) / 100), (g - 1) % 100 + 1, 'seller_' || (g % 1000),
              1000 + g % 5000, 'USD', 'pm_card_visa', 'SUCCEEDED', 30 + g % 7
         FROM generate_series(1, $1) g`,
      [n],
    );
    await seedLedgerAccounts(client);
    await client.query(
      `INSERT INTO ledger_transactions (id, payment_order_id, step, description, created_at) OVERRIDING SYSTEM VALUE
       SELECT g, 'po_bench_' || g, 'capture', 'bench capture', $2::timestamptz FROM generate_series(1, $1) g`,
      [n, at],
    );
    await client.query(
      `INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency)
       SELECT g, 'psp_clearing:USD', 'debit', 1000 + g % 5000 - (30 + g % 7), 'USD' FROM generate_series(1, $1) g
       UNION ALL SELECT g, 'psp_fees:USD', 'debit', 30 + g % 7, 'USD' FROM generate_series(1, $1) g
       UNION ALL SELECT g, 'seller_payable:seller_' || (g % 1000) || ':USD', 'credit', 1000 + g % 5000, 'USD' FROM generate_series(1, $1) g`,
      [n],
    );
    await client.query(`SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'), $1)`, [n]);
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } finally {
    client.release();
  }
}

async function writeMatchingFile(file: string, n: number, at: string): Promise<void> {
  const out = createWriteStream(file);
  const write = async (line: string) => {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  await write(SETTLEMENT_HEADER);
  for (let g = 1; g <= n; g += 1) {
    const gross = 1000 + (g % 5000);
    const fee = 30 + (g % 7);
    await write(`txn_bench_${g},${at},usd,${gross},${fee},${gross - fee},charge,pi_bench_${g},po_bench_${g}`);
  }
  out.end();
  await once(out, 'finish');
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
