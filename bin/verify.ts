import { ConfigError, loadConfig } from '../config';
import { pendingMigrations } from '../db/migrate';
import { formatReport, verifyBooks } from '../db/verify';
import { openOperatorDatabase } from './database';

/**
 * `npm run verify`: checks the books (see db/verify.ts), prints a short report, exits 1 on any breach.
 * Uses DATABASE_URL, else the embedded database of `npm start` (started for the check if it is not running).
 */
async function main(): Promise<number> {
  const database = await openOperatorDatabase(loadConfig(), 2);
  const { pool } = database;
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
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : `verify could not run: ${(error as Error).message}`);
    process.exit(2);
  },
);
