import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DURABLE_SQLITE_PRAGMAS, startTemporalDevServer } from '../dev/temporalServer';
import { freePort } from './support/ports';

/** `npm start`'s Temporal: the dev server on a SQLite file, in write-ahead-log mode. */
describe('the dev server of npm start', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'settle-devserver-'));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  it('keeps its SQLite file in WAL mode, and a workflow started before a kill -9 is there after it', async () => {
    const dbFilename = path.join(folder, 'temporal.sqlite');
    const port = await freePort();
    const start = () => startTemporalDevServer({ cliPath: process.env.SETTLE_TEST_TEMPORAL_CLI, dbFilename, port, sqlitePragmas: DURABLE_SQLITE_PRAGMAS });
    const workflowId = `durable-${randomUUID()}`;

    const first = await start();
    const connection = await Connection.connect({ address: first.address });
    try {
      await new Client({ connection }).workflow.start('checkoutWorkflow', { workflowId, taskQueue: `unpolled-${randomUUID()}`, args: [] });
    } finally {
      await connection.close();
    }
    const mode = execFileSync('python3', ['-c', 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode").fetchone()[0])', dbFilename]);
    expect(mode.toString().trim()).toBe('wal');
    expect(existsSync(`${dbFilename}-wal`)).toBe(true);

    // A crash of the server process: no shutdown, no checkpoint.
    execFileSync('pkill', ['-KILL', '-f', `db-filename ${dbFilename}`]);
    await first.stop().catch(() => undefined);

    const second = await start();
    const again = await Connection.connect({ address: second.address });
    try {
      const description = await new Client({ connection: again }).workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('RUNNING');
      await new Client({ connection: again }).workflow.getHandle(workflowId).terminate('test over');
    } finally {
      await again.close();
      await second.stop();
    }
  }, 120_000);
});
