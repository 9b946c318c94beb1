import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../dev/postgres';

export interface BenchDatabase {
  /** The run's own temporary folder. */
  root: string;
  url: string;
  /** Stops the embedded PostgreSQL, if one was started, and removes the run's folder. */
  stop(): Promise<void>;
}

/**
 * A temporary folder for the run and a database: DATABASE_URL's, an existing and empty one, or else an
 * embedded PostgreSQL in that folder on `port`.
 */
export async function startBenchDatabase(prefix: string, port: number): Promise<BenchDatabase> {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(root, 0o755); // PostgreSQL may run as the 'postgres' user, who must reach its data folder
  const database = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => undefined }
    : await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), port, database: 'bench', ephemeral: true });
  return {
    root,
    url: database.url,
    async stop() {
      await database.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The ledger accounts of the seeded data: 1,000 sellers (seller_0 ... seller_999) and the platform's, in USD. */
export async function seedLedgerAccounts(db: { query(text: string): Promise<unknown> }): Promise<void> {
  await db.query(
    `INSERT INTO ledger_accounts (id, kind, currency)
     SELECT 'seller_payable:seller_' || s || ':USD', 'liability', 'USD' FROM generate_series(0, 999) s
     UNION ALL VALUES ('psp_clearing:USD', 'asset', 'USD'), ('psp_fees:USD', 'expense', 'USD')`,
  );
}
