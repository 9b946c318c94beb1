import { Client } from '@temporalio/client';
import { ConfigError, loadConfig, requireSharedServices } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { connectTemporal } from '../temporalConnection';
import { ensureReconciliationSchedule } from './schedules';
import { ensureSearchAttributes } from './searchAttributes';
import { createConfiguredWorker } from './worker';

/**
 * `npm run worker`: one worker process of many, against a shared PostgreSQL (DATABASE_URL) and Temporal
 * (TEMPORAL_ADDRESS). Applies migrations (processes starting together take turns), makes sure the nightly
 * schedule exists, and polls until SIGINT/SIGTERM, letting running activities finish.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const { databaseUrl, temporalAddress } = requireSharedServices(config, 'a worker');
  const pool = createPool(databaseUrl, config.databasePoolSize);
  const temporal = await connectTemporal(config, temporalAddress);
  const { connection, nativeConnection } = temporal;
  try {
    await migrate(pool);
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    if (added.length > 0) console.log(`[settle] registered search attributes ${added.join(', ')} in namespace '${config.temporal.namespace}'`);
    const worker = await createConfiguredWorker(config, { connection: nativeConnection, pool });
    await ensureReconciliationSchedule(
      new Client({ connection, namespace: config.temporal.namespace }),
      config.temporal.taskQueue,
      config.reconciliationTime,
    );
    console.log(`[settle] worker polling task queue '${config.temporal.taskQueue}' at ${temporalAddress}`);
    await worker.run();
  } finally {
    await temporal.close();
    await pool.end();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
