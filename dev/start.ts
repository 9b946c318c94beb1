import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config';
import { createApp } from '../api/app';
import { stripeWebhooksFor } from '../api/webhooks';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { stripeAmountRule } from '../psp/stripeAmounts';
import { DEFAULT_BUNDLE_PATH } from '../workers/bundle';
import { prepareNamespace } from '../workers/namespace';
import { installWorkerRuntime } from '../workers/telemetry';
import { createConfiguredWorker } from '../workers/worker';
import { startApiKey } from './apiKey';
import { startEmbeddedPostgres } from './postgres';
import { resolveTemporalCli, TEMPORAL_CLI_MISSING } from './temporalCli';
import { DURABLE_SQLITE_PRAGMAS, startTemporalDevServer } from './temporalServer';
import { listen } from '../api/listen';
import { connectTemporal } from '../temporalConnection';
import { withinMs } from '../workers/deadline';

/**
 * `npm start`: Settle on one machine with nothing else installed. Brings up PostgreSQL (embedded, unless
 * DATABASE_URL is set) and the Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS is set), applies
 * migrations, then runs the worker and the HTTP API in this process. Ctrl-C stops everything; data stays
 * under .data/ for the next start.
 */
async function main(): Promise<void> {
  // On one developer's machine, webhook receivers run on localhost: allowed unless the environment says no.
  const config = loadConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...process.env });
  const logger = pino({ level: config.logLevel });
  installWorkerRuntime(config);
  const say = (message: string) => console.log(`[settle] ${message}`);
  const stops: Array<{ what: string; stop: () => Promise<unknown> }> = [];
  // Each part gets a bounded time to stop: one that never answers must not keep the rest (PostgreSQL, the dev
  // server) running, nor the process alive.
  const stopAll = async () => {
    for (const { what, stop } of stops.reverse()) {
      const outcome = await withinMs(STOP_EACH_MS, stop()).catch((error) => {
        logger.warn({ err: error }, `error while stopping ${what}`);
        return 'stopped' as const;
      });
      if (outcome === 'timed out') say(`${what} did not stop within ${STOP_EACH_MS / 1000} s; going on`);
    }
  };

  // The Temporal runtime shuts the worker down on the first SIGINT/SIGTERM and then stops listening, which
  // would leave a second Ctrl-C to Node's default: the process killed at once, PostgreSQL and the dev server
  // left running. Settle keeps listening for as long as it runs: a further signal lets the stop go on.
  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) say(`${signal} again: still stopping (PostgreSQL and the Temporal dev server stop last) ...`);
    stopping = true;
    stopRequested!();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (!existsSync(DEFAULT_BUNDLE_PATH)) throw new Error('the workflow bundle is missing: run `npm run build` first');
    await mkdir(config.dataDir, { recursive: true });

    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      say(`starting embedded PostgreSQL on port ${config.embeddedPostgresPort} (data in ${path.join(config.dataDir, 'postgres')})`);
      const pgLog = createWriteStream(path.join(config.dataDir, 'postgres.log'), { flags: 'a' });
      const database = await startEmbeddedPostgres({
        dataDir: path.join(config.dataDir, 'postgres'),
        port: config.embeddedPostgresPort,
        database: 'settle',
        onLog: (line) => pgLog.write(line.endsWith('\n') ? line : `${line}\n`),
      });
      stops.push({ what: 'PostgreSQL', stop: database.stop });
      databaseUrl = database.url;
    }
    // Told to stop while starting: what started so far stops, and nothing more starts.
    if (stopping) return;
    const pool = createPool(databaseUrl, config.databasePoolSize);
    stops.push({ what: "the worker's database pool", stop: () => pool.end() });
    const applied = await migrate(pool);
    if (applied.length > 0) say(`applied migrations: ${applied.join(', ')}`);
    const apiKey = await startApiKey(pool, { configured: config.apiKey, dataDir: config.dataDir });
    if (apiKey.note) say(apiKey.note);

    let temporalAddress = config.temporal.address;
    if (!temporalAddress) {
      const cliPath = await resolveTemporalCli({
        configured: config.temporal.cliPath,
        toolsDir: path.resolve('.tools'),
        log: say,
      });
      if (!cliPath) say(`${TEMPORAL_CLI_MISSING}\nTrying the Temporal SDK's own download of the CLI ...`);
      say(`starting the Temporal dev server on port ${config.temporal.devServerPort}`);
      const server = await startTemporalDevServer({
        cliPath,
        dbFilename: path.join(config.dataDir, 'temporal.sqlite'),
        port: config.temporal.devServerPort,
        uiPort: config.temporal.uiPort,
        sqlitePragmas: DURABLE_SQLITE_PRAGMAS,
      });
      stops.push({ what: 'the Temporal dev server', stop: server.stop });
      temporalAddress = server.address;
    }
    if (stopping) return;

    const connections = await connectTemporal(config, temporalAddress);
    stops.push({ what: 'the connections to Temporal', stop: () => connections.close() });
    const { connection, nativeConnection } = connections;
    const temporal = new Client({ connection, namespace: config.temporal.namespace });

    await prepareNamespace(connection, config, say);
    if (stopping) return;
    const worker = await createConfiguredWorker(config, { connection: nativeConnection, pool });

    // The API's own pool: its statements and its waits for a connection are bounded, the worker's are not.
    const apiPool = createPool(databaseUrl, config.databasePoolSize, config.apiDatabase);
    stops.push({ what: "the API's database pool", stop: () => apiPool.end() });
    const app = createApp({
      pool: apiPool,
      temporal,
      taskQueue: config.temporal.taskQueue,
      authorizationWindowMs: config.authorizationWindowMs,
      idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
      logger,
      stripeWebhooks: stripeWebhooksFor(config.psp),
      amountRule: config.psp.kind === 'stripe' ? stripeAmountRule : undefined,
      webhookEndpoints: config.webhooks,
    });
    const server = await listen(app, config.port);
    stops.push({
      what: 'the API',
      stop: () =>
        new Promise((resolve) => {
          server.close(resolve);
          server.closeIdleConnections();
        }),
    });

    say(`API:             http://localhost:${config.port}  (try GET /readyz)`);
    if (config.workerMetricsAddress) say(`Worker metrics:  http://${config.workerMetricsAddress}/metrics`);
    // On a line of its own, without the prefix, for a person to copy and a script to read.
    if (apiKey.print) console.log(`API key: ${apiKey.key}`);
    else say('API key:         SETTLE_API_KEY');
    if (!config.temporal.address) say(`Temporal Web UI: http://localhost:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows`);
    say('Ctrl-C stops Settle; checkouts are kept for the next start.');

    // The Temporal runtime shuts the worker down on SIGINT/SIGTERM, letting running activities finish (up to
    // its shutdown grace time); should it still not have returned well after that, the rest stops anyway.
    const running = worker.run();
    const stopped = await Promise.race([running.then(() => 'stopped' as const), stopSignal.then(() => withinMs(WORKER_STOP_MS, running))]);
    if (stopped === 'timed out') say(`the worker did not stop within ${WORKER_STOP_MS / 1000} s; stopping the rest`);
    say('stopping ...');
  } finally {
    await stopAll();
  }
}

/** Longer than the worker's shutdown grace time (30 s), in which running activities finish. */
const WORKER_STOP_MS = 45_000;
const STOP_EACH_MS = 20_000;

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
