import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiKey } from '../db/apiKeys';
import { createPool } from '../db/pool';
import { DEFAULT_BUNDLE_PATH } from '../workers/bundle';
import { freePort, RESERVED_PORTS } from './ports';
import { startEmbeddedPostgres } from './postgres';
import { postgresAccountFromUrl, resolveTemporalServer, startTemporalCluster, TEMPORAL_SERVER_VERSION } from './temporalCluster';

/**
 * `npm run cluster`: Settle as it runs in production, on one machine. An embedded PostgreSQL holds Settle's
 * database and Temporal's two; a real Temporal server (built from Temporal's Go module on first use) runs on
 * it with several history shards; CLUSTER_WORKERS worker processes (3 by default) and one API process run
 * against both, as separate processes. Everything lives in a fresh folder under the system's temporary folder
 * and is removed at Ctrl-C (kept with CLUSTER_KEEP=1). Ports are free ones; CLUSTER_API_PORT fixes the API's.
 */

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a positive integer, not '${text}'`);
  return value;
}

/** A Settle process, kept running as a process supervisor would: one that exits on its own is started again. */
class SettleProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private readonly log: WriteStream;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
    private readonly say: (message: string) => void,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it; resolves when it writes a line matching `ready`. */
  start(ready: RegExp, timeoutMs: number): Promise<void> {
    const child = spawn(process.execPath, [this.script], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} was not ready within ${timeoutMs / 1000}s (see ${this.logFile})`)), timeoutMs);
      for (const stream of [child.stdout!, child.stderr!]) {
        readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
          this.log.write(`${line}\n`);
          if (ready.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited at start-up (code ${code}, signal ${signal}; see ${this.logFile})`));
      });
    });
    child.once('exit', (code, signal) => {
      if (this.stopping || this.child !== child) return;
      this.say(`${this.name} (pid ${child.pid}) exited (code ${code}, signal ${signal}); starting it again (see ${this.logFile})`);
      setTimeout(() => {
        if (!this.stopping) this.start(ready, timeoutMs).catch((error: Error) => this.say(error.message));
      }, 1_000).unref();
    });
    return seen;
  }

  /** SIGTERM, as a deployment stops it: a worker lets its running activities finish. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    await new Promise((resolve) => this.log.end(resolve));
  }
}

async function main(): Promise<void> {
  const repo = path.resolve(__dirname, '..', '..');
  const say = (message: string) => console.log(`[cluster] ${message}`);
  const workerCount = positiveInteger('CLUSTER_WORKERS', 3);
  const keep = process.env.CLUSTER_KEEP === '1';
  if (!existsSync(DEFAULT_BUNDLE_PATH)) throw new Error('the workflow bundle is missing: run `npm run build` first');

  const binaries = await resolveTemporalServer({ binDir: path.join(repo, '.tools', 'temporal-server'), log: say });
  const root = await mkdtemp(path.join(os.tmpdir(), 'settle-cluster-'));
  await chmod(root, 0o755); // PostgreSQL may run as the 'postgres' user, who must reach its data folder
  const logs = path.join(root, 'logs');
  await mkdir(logs);

  const stops: Array<() => Promise<unknown>> = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) await stop().catch((error: Error) => say(`while stopping: ${error.message}`));
      if (keep) say(`kept ${root}`);
      else await rm(root, { recursive: true, force: true });
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping the API, the workers, Temporal and PostgreSQL ...`);
      void stopAll().then(() => process.exit(0));
    });
  }

  try {
    const taken = new Set(RESERVED_PORTS);
    const take = async () => {
      const port = await freePort(taken);
      taken.add(port);
      return port;
    };
    const pgPort = await take();
    const pgLog = createWriteStream(path.join(logs, 'postgres.log'), { flags: 'a' });
    const database = await startEmbeddedPostgres({
      dataDir: path.join(root, 'postgres'),
      port: pgPort,
      database: 'settle',
      onLog: (line) => pgLog.write(line.endsWith('\n') ? line : `${line}\n`),
    });
    stops.push(database.stop);
    say(`PostgreSQL on port ${pgPort} (Settle's database 'settle', Temporal's 'temporal' and 'temporal_visibility')`);

    const temporalRoot = path.join(root, 'temporal');
    await mkdir(temporalRoot);
    say(`starting Temporal server ${TEMPORAL_SERVER_VERSION} on PostgreSQL (schema set up with its SQL tool, 4 history shards) ...`);
    const temporal = await startTemporalCluster({
      binaries,
      postgres: postgresAccountFromUrl(database.url),
      root: temporalRoot,
      avoidPorts: taken,
      numHistoryShards: 4,
    });
    stops.push(() => temporal.stop());
    Object.values(temporal.ports).forEach((port) => taken.add(port));
    void temporal.exited.then(({ code, signal }) => {
      if (!stopping) say(`the Temporal server exited (code ${code}, signal ${signal}); see ${path.join(temporalRoot, 'temporal-server.log')}`);
    });
    say(`Temporal on ${temporal.address}, namespace '${temporal.namespace}' (pid ${temporal.pid})`);

    const apiPort = process.env.CLUSTER_API_PORT ? positiveInteger('CLUSTER_API_PORT', 0) : await take();
    // Settle's own settings from this shell pass through (PSP, LOG_LEVEL, ...); where its services are does not.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PORT|DATABASE_URL|TEMPORAL_.*)$/.test(name) || name === 'TEMPORAL_TASK_QUEUE'));
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      SETTLE_DATA_DIR: path.join(root, 'data'),
    };
    const workers = Array.from(
      { length: workerCount },
      (_, i) => new SettleProcess(`worker-${i + 1}`, path.join(repo, 'dist', 'workers', 'main.js'), env, path.join(logs, `worker-${i + 1}.log`), say),
    );
    stops.push(() => Promise.all(workers.map((worker) => worker.stop(30_000))));
    // Started together, as a deployment starts them: they race to register Settle's search attributes.
    await Promise.all(workers.map((worker) => worker.start(/worker polling task queue/, 180_000)));
    say(`${workerCount} workers polling (pids ${workers.map((worker) => worker.pid).join(', ')})`);
    // The workers have migrated the database: a key for whoever uses this cluster's API.
    const keys = createPool(database.url, 1);
    const { key: apiKey } = await createApiKey(keys, 'cluster').finally(() => keys.end());

    const api = new SettleProcess('api', path.join(repo, 'dist', 'api', 'main.js'), { ...env, PORT: String(apiPort) }, path.join(logs, 'api.log'), say);
    stops.push(() => api.stop(15_000));
    const listening = api.start(/Settle API listening/, 120_000);
    listening.catch(() => undefined); // at LOG_LEVEL=warn it says nothing: its health check answers instead
    await untilHealthy(apiPort, 120_000);

    say('');
    say(`API:        http://localhost:${apiPort}  (pid ${api.pid}; try GET /readyz)`);
    // On a line of its own, as npm start prints its key.
    console.log(`API key: ${apiKey}`);
    say(`Temporal:   ${temporal.address}  namespace '${temporal.namespace}'  (e.g. temporal workflow list --address ${temporal.address})`);
    say(`PostgreSQL: ${database.url}`);
    say(`workers:    ${workers.map((worker) => `${worker.name} pid ${worker.pid}`).join(', ')}`);
    say(`logs:       ${logs} (Temporal's: ${path.join(temporalRoot, 'temporal-server.log')})`);
    say(`Ctrl-C stops everything${keep ? '' : ` and removes ${root}`}.`);
    await new Promise(() => undefined);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function healthy(port: number): Promise<boolean> {
  const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, () => 0);
  return status === 200;
}

async function untilHealthy(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await healthy(port))) {
    if (Date.now() > deadline) throw new Error(`the API on port ${port} was not healthy within ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

main().catch((error) => {
  console.error(`[cluster] ${(error as Error).message}`);
  process.exit(1);
});
