import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { pendingMigrations } from '../db/migrate';
import { createPool } from '../db/pool';
import { formatReport, verifyBooks } from '../db/verify';
import { embeddedDatabaseUrl, startEmbeddedPostgres } from '../dev/postgres';

/**
 * `npm run verify`: checks the books (see db/verify.ts), prints a short report, exits 1 on any breach.
 * Uses DATABASE_URL, else the embedded database of `npm start` (started for the check if it is not running).
 */
async function main(): Promise<number> {
  const config = loadConfig();
  let url = config.databaseUrl ?? embeddedDatabaseUrl(config.embeddedPostgresPort, 'settle');
  let stop: (() => Promise<void>) | undefined;
  const probe = createPool(url, 1);
  const reachable = await probe.query('SELECT 1').then(() => true, () => false);
  await probe.end();
  if (!reachable) {
    if (config.databaseUrl) throw new Error(`cannot reach DATABASE_URL`);
    const embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'postgres'),
      port: config.embeddedPostgresPort,
      database: 'settle',
    });
    url = embedded.url;
    stop = embedded.stop;
  }
  const pool = createPool(url, 2);
  try {
    const pending = await pendingMigrations(pool);
    if (pending.length > 0) {
      throw new Error(`the database is missing migrations ${pending.join(', ')}; start Settle once (it migrates), then verify`);
    }
    const started = Date.now();
    const results = await verifyBooks(pool);
    console.log(formatReport(results));
    const breaches = results.reduce((sum, check) => sum + check.breaches, 0);
    console.log(breaches === 0 ? `books verified in ${Date.now() - started} ms` : `${breaches} breach(es) found`);
    return breaches === 0 ? 0 : 1;
  } finally {
    await pool.end();
    await stop?.();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : `verify could not run: ${(error as Error).message}`);
    process.exit(2);
  },
);
