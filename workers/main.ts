import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig, requireSharedServices } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
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
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
  const connection = await Connection.connect({ address: temporalAddress });
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
    await connection.close();
    await nativeConnection.close();
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
