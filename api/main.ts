import { Client } from '@temporalio/client';
import pino from 'pino';
import { ConfigError, loadConfig, requireSharedServices } from '../config';
import { createPool } from '../db/pool';
import { connectClient } from '../temporalConnection';
import { createApp } from './app';
import { stripeAmountRule } from '../psp/stripeAmounts';
import { stripeWebhooksFor } from './webhooks';
import { listen } from './listen';

/**
 * `npm run api`: one API process of many, against a shared PostgreSQL (DATABASE_URL) and Temporal
 * (TEMPORAL_ADDRESS); workers run elsewhere (`npm run worker`). SIGINT/SIGTERM stop taking requests and let
 * those under way finish.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const { databaseUrl, temporalAddress } = requireSharedServices(config, 'an API');
  const logger = pino({ level: config.logLevel });
  const pool = createPool(databaseUrl, config.databasePoolSize, config.apiDatabase);
  const connection = await connectClient(config, temporalAddress);
  const app = createApp({
    pool,
    temporal: new Client({ connection, namespace: config.temporal.namespace }),
    taskQueue: config.temporal.taskQueue,
    authorizationWindowMs: config.authorizationWindowMs,
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    logger,
    stripeWebhooks: stripeWebhooksFor(config.psp),
    amountRule: config.psp.kind === 'stripe' ? stripeAmountRule : undefined,
    webhookEndpoints: config.webhooks,
  });
  const server = await listen(app, config.port);
  logger.info({ port: config.port, temporal: temporalAddress }, 'Settle API listening');
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await new Promise((resolve) => server.close(resolve));
  await connection.close();
  await pool.end();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
