import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../dev/postgres';
import { freePort } from './support/ports';

/**
 * `npm start` keeps PostgreSQL's data in the clone's .data/ folder. A clone often sits in a folder only its
 * owner may enter (/root, `mktemp -d`), while PostgreSQL, which refuses to run as root, runs as another user.
 */
describe('embedded PostgreSQL with its data inside a private folder', () => {
  let privateFolder: string;
  beforeAll(async () => {
    privateFolder = await mkdtemp(path.join(os.tmpdir(), 'settle-private-'));
    expect((await stat(privateFolder)).mode & 0o777).toBe(0o700);
  });
  afterAll(() => rm(privateFolder, { recursive: true, force: true }));

  it('starts, keeps its data for the next start, and reaches it by the same path', async () => {
    const dataDir = path.join(privateFolder, 'clone', '.data', 'postgres');
    const port = await freePort();
    const query = async (url: string, sql: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    };

    const first = await startEmbeddedPostgres({ dataDir, port, database: 'settle' });
    try {
      await query(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    } finally {
      await first.stop();
    }

    const second = await startEmbeddedPostgres({ dataDir, port, database: 'settle' });
    try {
      expect(await query(second.url, 'SELECT note FROM kept')).toEqual([{ note: 'still here' }]);
    } finally {
      await second.stop();
    }

    // Its data deleted (where it really lives, when that is elsewhere): the next start makes a fresh cluster.
    await rm(await realpath(dataDir), { recursive: true, force: true });
    const third = await startEmbeddedPostgres({ dataDir, port, database: 'settle', ephemeral: true });
    try {
      expect(await query(third.url, "SELECT count(*)::int AS kept FROM pg_tables WHERE tablename = 'kept'")).toEqual([{ kept: 0 }]);
    } finally {
      await third.stop();
    }
  }, 120_000);
});
