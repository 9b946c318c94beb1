import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pg from 'pg';
import { freePort, freePortBetween } from './ports';
import { isExecutable } from './pythonTools';

const run = promisify(execFile);

/**
 * A real Temporal server (not the dev server) on PostgreSQL: the server and its SQL schema tool, built from
 * Temporal's Go module at a pinned release, its two databases set up by that tool, the server's own config
 * file, and the namespace. Settle's search attributes are not registered here: Settle's workers register
 * them on a cluster that has never seen Settle, and a cluster set up this way is where that is proven.
 */

export const TEMPORAL_SERVER_VERSION = '1.29.1';
const MODULE = 'go.temporal.io/server';

/** Temporal's schema for PostgreSQL 12 and later, embedded in the SQL tool. */
const SCHEMAS = { temporal: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;

export interface TemporalServerBinaries {
  server: string;
  sql: string;
}

export const TEMPORAL_SERVER_NEEDS_GO = `The Temporal server is built from source, from Temporal's Go module (${MODULE} v${TEMPORAL_SERVER_VERSION}),
and that needs Go (https://go.dev/dl/, 1.25 or later; an older go fetches its own toolchain) on PATH.
Install Go and run again; the first build takes about 10 minutes and is kept in .tools/temporal-server/.`;

async function answeredVersion(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
    return /version (\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** The server and the SQL tool in the folder, when both are there at the pinned release. */
export async function findTemporalServer(binDir: string): Promise<TemporalServerBinaries | undefined> {
  const binaries = { server: path.join(binDir, 'server'), sql: path.join(binDir, 'sql') };
  if (!isExecutable(binaries.server) || !isExecutable(binaries.sql)) return undefined;
  const versions = await Promise.all([answeredVersion(binaries.server), answeredVersion(binaries.sql)]);
  return versions.every((version) => version === TEMPORAL_SERVER_VERSION) ? binaries : undefined;
}

/**
 * The server and the SQL tool at the pinned release, from the folder (.tools/temporal-server), or built
 * into it with `go install` from the Go module proxy when they are not there (about 10 minutes on two cores).
 * The SQL tool carries Temporal's schema files inside it, so a later run needs neither Go nor the module cache.
 */
export async function resolveTemporalServer(options: { binDir: string; log: (message: string) => void }): Promise<TemporalServerBinaries> {
  const found = await findTemporalServer(options.binDir);
  if (found) return found;
  try {
    await run('go', ['version'], { env: process.env, timeout: 60_000 });
  } catch {
    throw new Error(TEMPORAL_SERVER_NEEDS_GO);
  }
  await mkdir(options.binDir, { recursive: true });
  for (const command of ['cmd/server', 'cmd/tools/sql']) {
    const target = `${MODULE}/${command}@v${TEMPORAL_SERVER_VERSION}`;
    options.log(`building ${target} into ${options.binDir} with go install (the first build takes about 10 minutes) ...`);
    const started = Date.now();
    try {
      await run('go', ['install', target], { env: { ...process.env, GOBIN: options.binDir }, timeout: 60 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`go install ${target} failed:\n${(e.stderr || e.message).trim().split('\n').slice(-20).join('\n')}`);
    }
    options.log(`built ${path.basename(command)} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  }
  const built = await findTemporalServer(options.binDir);
  if (!built) throw new Error(`go install finished, but ${options.binDir} does not hold the server and sql tool at ${TEMPORAL_SERVER_VERSION}`);
  return built;
}

/** Where the server keeps its state: an account on a PostgreSQL that may create databases. */
export interface PostgresAccount {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function postgresAccountFromUrl(url: string): PostgresAccount {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** Each of the server's four services listens for gRPC and for membership (ringpop) on a port of its own. */
export interface ServerPorts {
  frontend: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

export const SERVER_PORT_NAMES: Array<keyof ServerPorts> = [
  'frontend',
  'frontendMembership',
  'history',
  'historyMembership',
  'matching',
  'matchingMembership',
  'worker',
  'workerMembership',
];

export interface ServerConfigOptions {
  postgres: PostgresAccount;
  databases: { temporal: string; visibility: string };
  /** Fixed for the life of the cluster's database: the server refuses to start on a different count. */
  numHistoryShards: number;
  ports: ServerPorts;
  dynamicConfigFile: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * The server's config file (config/development.yaml under its root), modelled on Temporal's own
 * config/development-postgres12.yaml: every service in one process, bound to 127.0.0.1, no metrics or pprof
 * listener, no archival. JSON, which the server's YAML reader reads as it is.
 */
export function serverConfig(options: ServerConfigOptions): string {
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${options.postgres.host}:${options.postgres.port}`,
      connectProtocol: 'tcp',
      user: options.postgres.user,
      password: options.postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number) => ({ rpc: { grpcPort, membershipPort, bindOnLocalHost: true } });
  const { ports } = options;
  const config = {
    log: { stdout: true, level: options.logLevel },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: options.numHistoryShards,
      datastores: {
        'postgres-default': datastore(options.databases.temporal, 20),
        'postgres-visibility': datastore(options.databases.visibility, 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(ports.frontend, ports.frontendMembership),
      history: service(ports.history, ports.historyMembership),
      matching: service(ports.matching, ports.matchingMembership),
      worker: service(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: options.dynamicConfigFile, pollInterval: '10s' },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The server's dynamic config: its defaults, but for workflow ids as long as Settle's own (as in Temporal's SQL sample). */
export function dynamicConfig(): string {
  return `${JSON.stringify({ 'limit.maxIDLength': [{ value: 255, constraints: {} }] }, null, 2)}\n`;
}

/** The arguments that start every service of the server in one process, with its config under `root`/config. */
export function serverArgs(root: string): string[] {
  return ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'];
}

/**
 * Temporal's SQL schema keeps a service's membership port in a SMALLINT column (cluster_membership.rpc_port),
 * so a membership port above 32767 stops the server at start-up. The system hands out ports from 32768 up,
 * so these are drawn from below that, and checked free.
 */
export const MAX_MEMBERSHIP_PORT = 32767;

async function freeMembershipPort(avoid: ReadonlySet<number>): Promise<number> {
  const port = await freePortBetween(20_000, MAX_MEMBERSHIP_PORT, avoid);
  if (port !== undefined) return port;
  throw new Error(`no free port between 20000 and ${MAX_MEMBERSHIP_PORT} for the Temporal server's membership`);
}

/** The ports given, and a free port, none of those to avoid, for each service not given one. */
export async function serverPorts(given: Partial<ServerPorts>, avoid: ReadonlySet<number>): Promise<ServerPorts> {
  const taken = new Set([...avoid, ...Object.values(given)]);
  const ports: Partial<ServerPorts> = {};
  for (const name of SERVER_PORT_NAMES) {
    const membership = name.endsWith('Membership');
    const chosen = given[name];
    if (chosen !== undefined && membership && chosen > MAX_MEMBERSHIP_PORT) {
      throw new Error(`the Temporal server's ${name} port ${chosen} is above ${MAX_MEMBERSHIP_PORT}, which its SQL schema cannot store`);
    }
    const port = chosen ?? (membership ? await freeMembershipPort(taken) : await freePort(taken));
    taken.add(port);
    ports[name] = port;
  }
  return ports as ServerPorts;
}

async function runSqlTool(sql: string, account: PostgresAccount, database: string, args: string[]): Promise<void> {
  const global = ['--plugin', 'postgres12', '--endpoint', account.host, '--port', String(account.port), '--user', account.user, '--password', account.password, '--database', database];
  try {
    await run(sql, [...global, ...args], { timeout: 5 * 60_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`temporal-sql-tool ${args.join(' ')} on database ${database} failed:\n${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

/**
 * Creates the two databases if missing and brings their schema to the release's latest with the SQL tool,
 * as Temporal's admin-tools do: `setup-schema -v 0.0` (versioning tables only), then `update-schema` through
 * every versioned step. Both steps are no-ops on a database already at the latest version.
 */
export async function setUpTemporalDatabases(sql: string, account: PostgresAccount, databases: { temporal: string; visibility: string }): Promise<void> {
  const admin = new pg.Client({ host: account.host, port: account.port, user: account.user, password: account.password, database: 'postgres' });
  await admin.connect();
  let existing: Set<string>;
  try {
    existing = new Set((await admin.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((row) => row.datname));
  } finally {
    await admin.end();
  }
  for (const [kind, database] of Object.entries(databases) as Array<[keyof typeof SCHEMAS, string]>) {
    if (!existing.has(database)) await runSqlTool(sql, account, database, ['create-database', '--defaultdb', 'postgres']);
    await runSqlTool(sql, account, database, ['setup-schema', '--version', '0.0']);
    await runSqlTool(sql, account, database, ['update-schema', '--schema-name', SCHEMAS[kind]]);
  }
}

export interface TemporalClusterOptions {
  binaries: TemporalServerBinaries;
  postgres: PostgresAccount;
  /** Holds config/ and the server's log; the same folder again restarts the same cluster. */
  root: string;
  /**
   * The services' ports (the frontend's is clients' TEMPORAL_ADDRESS); a free one for each not given. A
   * restart given the same ports comes back at the same addresses.
   */
  ports?: Partial<ServerPorts>;
  /** Every other port the server takes is free and none of these. */
  avoidPorts?: ReadonlySet<number>;
  numHistoryShards?: number;
  namespace?: string;
  databases?: { temporal: string; visibility: string };
  logLevel?: ServerConfigOptions['logLevel'];
  /** Each line the server writes (JSON log lines); also kept in `root`/temporal-server.log. */
  onLine?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface TemporalCluster {
  address: string;
  namespace: string;
  ports: ServerPorts;
  /** The server's process id. */
  pid: number;
  /** Resolves when the server exits, for whatever reason. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** SIGTERM (the server hands its shards back and stops), SIGKILL after the grace period. */
  stop(graceMs?: number): Promise<void>;
}

const DEFAULT_DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' };

/**
 * Sets up the databases, writes the config, starts the server, waits until its frontend answers and
 * registers the namespace (an existing one is kept). Answers once the namespace can be used.
 */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const databases = options.databases ?? DEFAULT_DATABASES;
  const namespace = options.namespace ?? 'default';
  await setUpTemporalDatabases(options.binaries.sql, options.postgres, databases);

  const ports = await serverPorts(options.ports ?? {}, options.avoidPorts ?? new Set());
  const configDir = path.join(options.root, 'config');
  await mkdir(configDir, { recursive: true });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
  await writeFile(dynamicConfigFile, dynamicConfig());
  await writeFile(
    path.join(configDir, 'development.yaml'),
    serverConfig({
      postgres: options.postgres,
      databases,
      numHistoryShards: options.numHistoryShards ?? 4,
      ports,
      dynamicConfigFile,
      logLevel: options.logLevel ?? 'info',
    }),
  );

  const log = createWriteStream(path.join(options.root, 'temporal-server.log'), { flags: 'a' });
  const child: ChildProcess = spawn(options.binaries.server, serverArgs(options.root), { cwd: options.root, stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      log.write(`${line}\n`);
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.onLine?.(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let running = true;
  void exited.then(() => {
    running = false;
    log.end();
  });
  const stop = async (graceMs = 30_000) => {
    if (running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  };

  const address = `127.0.0.1:${ports.frontend}`;
  try {
    await untilReady(address, namespace, options.readyTimeoutMs ?? 180_000, () => {
      if (!running) throw new Error(`the Temporal server exited at start-up; its last lines:\n${recent.join('\n')}`);
    });
  } catch (error) {
    await stop(5_000);
    throw error;
  }
  return { address, namespace, ports, pid: child.pid!, exited, stop };
}

/** gRPC status codes the registration and the readiness probe tell apart. */
const ALREADY_EXISTS = 6;

/**
 * Registers the namespace as soon as the frontend takes the call, then waits until the namespace answers a
 * visibility query: by then every service has it in its namespace cache, and the server is ready for Settle.
 */
async function untilReady(address: string, namespace: string, timeoutMs: number, check: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let registered = false;
  while (Date.now() < deadline) {
    check();
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 5_000 });
      if (!registered) {
        try {
          await connection.workflowService.registerNamespace({
            namespace,
            workflowExecutionRetentionPeriod: msToTs('3 days'),
          });
        } catch (error) {
          if ((error as { code?: number }).code !== ALREADY_EXISTS) throw error;
        }
        registered = true;
      }
      await connection.workflowService.countWorkflowExecutions({ namespace });
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await sleep(1_000);
  }
  throw new Error(`the Temporal server at ${address} was not ready with namespace '${namespace}' within ${timeoutMs} ms: ${(lastError as Error)?.message ?? lastError}`);
}
