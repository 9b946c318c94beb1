import { ConfigError, loadConfig, requireSharedServices } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { connectTemporal } from '../temporalConnection';
import { prepareNamespace } from './namespace';
import { installWorkerRuntime } from './telemetry';
import { createConfiguredWorker } from './worker';
import { withinMs } from './deadline';

/**
 * `npm run worker`: one worker process of many, against a shared PostgreSQL (DATABASE_URL) and Temporal
 * (TEMPORAL_ADDRESS). Applies migrations (processes starting together take turns), makes sure the nightly
 * schedule exists, and polls until SIGINT/SIGTERM, letting running activities finish.
 */
/** How long each connection may take to close once the worker has stopped. */
const CLOSE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const { databaseUrl, temporalAddress } = requireSharedServices(config, 'a worker');
  installWorkerRuntime(config);
  const pool = createPool(databaseUrl, config.databasePoolSize);
  const temporal = await connectTemporal(config, temporalAddress);
  const { connection, nativeConnection } = temporal;
  try {
    await migrate(pool);
    await prepareNamespace(connection, config, (message) => console.log(`[settle] ${message}`));
    const worker = await createConfiguredWorker(config, { connection: nativeConnection, pool });
    console.log(`[settle] worker polling task queue '${config.temporal.taskQueue}' at ${temporalAddress}`);
    if (config.workerMetricsAddress) console.log(`[settle] worker metrics for Prometheus at http://${config.workerMetricsAddress}/metrics`);
    await worker.run();
  } finally {
    // An activity that ignored cancellation past the worker's force time may still hold a pool connection, and
    // pool.end() waits for every one: the waits are bounded, and the database drops what is left at exit.
    await withinMs(CLOSE_MS, temporal.close());
    await withinMs(CLOSE_MS, pool.end());
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
