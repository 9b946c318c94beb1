import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../db/migrate';
import { createPool } from '../../db/pool';
import { startEmbeddedPostgres } from '../../dev/postgres';
import { resolveTemporalCli } from '../../dev/temporalCli';
import { startTemporalDevServer } from '../../dev/temporalServer';
import { writeWorkflowBundle } from '../../workers/bundle';
import { startLocalstripe } from './localstripe';
import { freePort } from '../support/ports';


/**
 * Once per test run: a real PostgreSQL (migrated), a real Temporal dev server, the Stripe API stand-in, and
 * the workflow bundle.
 * Test files find them through the SETTLE_TEST_* variables and bring their own worker and task queue.
 */
export default async function globalSetup(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'settle-test-'));
  await chmod(root, 0o755); // PostgreSQL runs as the 'postgres' user and must reach its data folder
  const log = (message: string) => process.stderr.write(`[test setup] ${message}\n`);

  const toolsDir = path.resolve(__dirname, '..', '..', '.tools');
  const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI || undefined, toolsDir, log });
  const [database, temporal, bundlePath, stripe] = await Promise.all([
    freePort().then((port) =>
      startEmbeddedPostgres({ dataDir: path.join(root, 'postgres'), port, database: 'settle_test', ephemeral: true }),
    ),
    cli.then((cliPath) => {
      // The cancel-from-a-shell test runs the real `temporal` command.
      if (cliPath) process.env.SETTLE_TEST_TEMPORAL_CLI = cliPath;
      return startTemporalDevServer({ cliPath });
    }),
    writeWorkflowBundle(path.join(root, 'workflow-bundle.js')),
    // After the CLI: both may install into the same virtualenv.
    cli.then(() => freePort()).then((port) => startLocalstripe(toolsDir, port, log)),
  ]);

  const pool = createPool(database.url, 2);
  await migrate(pool);
  await pool.end();

  process.env.SETTLE_TEST_DATABASE_URL = database.url;
  process.env.SETTLE_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.SETTLE_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.SETTLE_TEST_STRIPE_PORT = String(stripe.port);
  (globalThis as { __settleStop?: () => Promise<void> }).__settleStop = async () => {
    await stripe.stop();
    await temporal.stop();
    await database.stop();
  };
}
