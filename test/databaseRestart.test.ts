import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import type { CheckoutView } from '../domain/checkout';
import { checkoutWorkflowId } from '../domain/ids';
import { SETTLEMENT_HEADER } from '../domain/settlement';
import { migrate } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { loadSettlementLines, startRun } from '../db/reconciliation';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../dev/postgres';
import { startTemporalDevServer, type DevServer } from '../dev/temporalServer';
import { expectBooksAgree } from './support/agreement';
import { buildSettle, type Build } from './support/build';
import { createTestPsp, type TestPsp } from './support/psps';
import { eventually } from './support/settle';
import { freePort } from './support/ports';
import { createCheckout, SettleProcesses, type SettleApiProcess, type SettleProcess } from './support/processes';

/**
 * A worker process, as `npm run worker` starts it, against a PostgreSQL of this file's own that is shut down
 * immediately and started again (every session cut, as in a crash or a failover): the worker lives on, and
 * finishes the checkouts it had and the ones that come after.
 */
const WORKER_APPLICATION = 'settle-worker';

let build: Build;
let postgres: RestartablePostgres;
let temporalServer: DevServer;
let connection: Connection;
let temporal: Client;
let pool: Pool;
let psp: TestPsp;
let env: NodeJS.ProcessEnv;
let processes: SettleProcesses;

beforeAll(async () => {
  build = await buildSettle();
  postgres = new RestartablePostgres(await freePort());
  await postgres.start();
  temporalServer = await startTemporalDevServer({ cliPath: process.env.SETTLE_TEST_TEMPORAL_CLI });
  connection = await Connection.connect({ address: temporalServer.address });
  temporal = new Client({ connection });
  pool = createPool(postgres.url, 2);
  psp = await createTestPsp('simulated', pool, randomUUID());
  const workerUrl = new URL(postgres.url);
  workerUrl.searchParams.set('application_name', WORKER_APPLICATION);
  env = {
    ...build.env,
    DATABASE_URL: workerUrl.toString(),
    TEMPORAL_ADDRESS: temporalServer.address,
    TEMPORAL_TASK_QUEUE: 'settle',
    SETTLE_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'settle-db-restart-')),
    LOG_LEVEL: 'warn',
  };
  processes = new SettleProcesses(build, env);
}, 180_000);

afterAll(async () => {
  await processes?.killAll();
  await pool?.end();
  await connection?.close();
  await temporalServer?.stop();
  await postgres?.remove();
  if (env?.SETTLE_DATA_DIR) await rm(env.SETTLE_DATA_DIR, { recursive: true, force: true });
});

describe('a worker process when PostgreSQL restarts', () => {
  it('lives through a restart while idle and while a checkout holds a connection, and finishes every checkout', async () => {
    const worker = await processes.worker();
    const api = await processes.api(pool, { DATABASE_URL: postgres.url });

    const alive = <T>(work: Promise<T>) => whileAlive(worker, work);

    const before = await alive(checkout(api));
    expect(before.status).toBe('SUCCEEDED');

    // Idle: every connection the worker keeps is cut.
    await postgres.restart();
    const afterIdle = await alive(checkout(api));
    expect(afterIdle.status).toBe('SUCCEEDED');
    expect(worker.child.exitCode).toBeNull();

    // Working: a PSP call holds a connection in its transaction, waiting on a lock this test holds, when the
    // server goes down.
    const locker = new pg.Client({ connectionString: postgres.url });
    locker.on('error', () => undefined); // cut by the restart, as intended
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE psp_simulator_idempotency IN ACCESS EXCLUSIVE MODE');
    const { checkoutId } = await createCheckout(api);
    await eventually(
      'a worker connection to wait on the lock',
      async () => {
        if (worker.child.exitCode !== null) throw new Error(`the worker exited:\n${worker.output()}`);
        const waiting = await pool.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [
          WORKER_APPLICATION,
        ]);
        return waiting.rowCount! > 0;
      },
      60_000,
    );
    await postgres.restart();
    await locker.end().catch(() => undefined);
    const during: CheckoutView = await alive(temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).result());
    expect(during.status).toBe('SUCCEEDED');
    await expectBooksAgree(pool, psp, during);

    // And the next checkout, on the same worker process.
    const after = await alive(checkout(api));
    expect(after.status).toBe('SUCCEEDED');
    await expectBooksAgree(pool, psp, after);
    expect(worker.child.exitCode).toBeNull();
  }, 300_000);
});

describe('a settlement load whose connection is cut while it waits for the next line', () => {
  it('fails the load, and the process lives on', async () => {
    await migrate(pool);
    const loader = createPool(postgres.url, 1);
    const client = await loader.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const runId = `rec_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      await startRun(client, runId, '2026-11-21');
      async function* source() {
        yield SETTLEMENT_HEADER;
        yield 'txn_cut_1,2026-11-21T12:00:00Z,usd,1000,59,941,charge,pi_cut_1,po_cut_1';
        // The batch's COPY is open on the connection: its session is ended, and the loader hears of it
        // before it reads on.
        const lost = new Promise((resolve) => client.once('error', resolve));
        await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await lost;
        yield 'txn_cut_2,2026-11-21T12:00:01Z,usd,2000,88,1912,charge,pi_cut_2,po_cut_2';
      }
      // The load fails with the server's word for a session ended by an administrator.
      await expect(loadSettlementLines(client, runId, source())).rejects.toMatchObject({ code: '57P01' });
    } finally {
      client.release(true);
      await loader.end();
    }
  }, 60_000);
});

/**
 * The embedded PostgreSQL on a folder and port of its own, restarted as an operator's `pg_ctl stop -m
 * immediate` and start would: no session is told first, no checkpoint is written.
 */
class RestartablePostgres {
  private database: EmbeddedDatabase | undefined;
  private folder: string | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    if (!this.database) throw new Error('PostgreSQL is not running');
    return this.database.url;
  }

  private get dataDir(): string {
    return path.join(this.folder!, 'postgres');
  }

  async start(): Promise<void> {
    if (!this.folder) {
      this.folder = await mkdtemp(path.join(os.tmpdir(), 'settle-db-restart-pg-'));
      await chmod(this.folder, 0o755); // PostgreSQL runs as the 'postgres' user and must reach its data folder
    }
    this.database = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.port, database: 'settle' });
  }

  async restart(): Promise<void> {
    const postmaster = Number(readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGQUIT');
    const database = this.database;
    this.database = undefined;
    await database?.stop();
    await this.start();
  }

  async remove(): Promise<void> {
    await this.database?.stop();
    this.database = undefined;
    if (this.folder) await rm(this.folder, { recursive: true, force: true });
  }
}

/** What work answers, unless the worker process exits first: then a failure with the worker's output. */
function whileAlive<T>(worker: SettleProcess, work: Promise<T>): Promise<T> {
  return Promise.race([
    work,
    worker.exited.then((code) => {
      throw new Error(`the worker exited (code ${code}):\n${worker.output()}`);
    }),
  ]);
}

/** A checkout created through the API and run to its end by the worker. */
async function checkout(api: SettleApiProcess): Promise<CheckoutView> {
  const { checkoutId } = await createCheckout(api);
  return temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).result();
}
