import path from 'node:path';
import type { Config } from '../config';
import { createPool, type Pool } from '../db/pool';
import { embeddedDatabaseUrl, startEmbeddedPostgres } from '../dev/postgres';

export interface OperatorDatabase {
  pool: Pool;
  /** Ends the pool, and stops the embedded database if it was started for this command. */
  close(): Promise<void>;
}

/**
 * The database an operator command works on: DATABASE_URL, else the embedded database of `npm start`, started
 * for the command when it is not running (and stopped after it).
 */
export async function openOperatorDatabase(config: Config, poolSize: number): Promise<OperatorDatabase> {
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
  const pool = createPool(url, poolSize);
  return {
    pool,
    async close() {
      await pool.end();
      await stop?.();
    },
  };
}
