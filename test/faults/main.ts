import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiKey } from '../../db/apiKeys';
import { createPool, type Pool } from '../../db/pool';
import { formatReport, verifyBooks } from '../../db/verify';
import { resolveTemporalCli } from '../../dev/temporalCli';
import { freePorts, RESERVED_PORTS } from '../../dev/ports';
import { resolveTemporalServer, serverPorts, TEMPORAL_SERVER_VERSION } from '../../dev/temporalCluster';
import { parseFaultRates } from '../../psp/faultRates';
import { SimulatedPsp } from '../../psp/simulated';
import { checkInvariants, readEventFeed } from '../support/invariants';
import { SettleClient } from './client';
import { killEverythingUnder, RestartablePostgres, SupervisedProcess, TemporalServer } from './cluster';
import { describeViolations, summarize, type ChaosKind, type ChaosRecord, type InjectedFaultLine } from './report';
import { Random } from '../support/random';
import { planCheckout, runWorkload, type CheckoutRun } from './workload';
import { workByWorker } from './workShares';

/**
 * `npm run test:faults`: Settle as it is deployed (a separate API process and two worker processes against
 * PostgreSQL and a file-backed Temporal server), driven through its HTTP API by a few hundred checkouts
 * while the workers are killed with kill -9 three times, the API and the Temporal server once each,
 * PostgreSQL is shut down immediately and started again, and the simulated PSP fails at random
 * (SIMULATED_PSP_FAULTS). Then every checkout must end, and the explorer's invariant checker and
 * `npm run verify`'s checks must find nothing. Exit 0 when they do, 1 on any violation, 2 when the suite
 * itself could not run.
 *
 * FAULTS_TEMPORAL=cluster (`npm run test:cluster`) runs it against a real Temporal server instead of the dev
 * server: on the same PostgreSQL as Settle (so the PostgreSQL restart hits Temporal too), with 4 history
 * shards and only the namespace set up (Settle's workers register their search attributes). There, two of
 * the worker deaths take one worker each while the others go on, and one takes them all. FAULTS_WORKERS sets
 * how many worker processes run (2 by default).
 */

const DEFAULT_FAULTS = 'transient=0.05,lost=0.02,slow=0.01:40000,decline=0.02';
const TERMINAL = ['SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED', 'CANCELED'];

interface Settings {
  seed: string;
  checkouts: number;
  concurrency: number;
  faults: string;
  settleTimeoutMs: number;
  keep: boolean;
  temporal: 'dev' | 'cluster';
  workers: number;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const integer = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, not '${text}'`);
    return value;
  };
  const faults = env.SIMULATED_PSP_FAULTS || DEFAULT_FAULTS;
  try {
    parseFaultRates(faults);
  } catch (error) {
    throw new Error(`SIMULATED_PSP_FAULTS: ${(error as Error).message}`);
  }
  const temporal = env.FAULTS_TEMPORAL || 'dev';
  if (temporal !== 'dev' && temporal !== 'cluster') throw new Error(`FAULTS_TEMPORAL must be 'dev' or 'cluster', not '${temporal}'`);
  const seed = env.FAULTS_SEED || randomBytes(4).toString('hex');
  if (!/^[\x21-\x7e]{1,100}$/.test(seed)) throw new Error('FAULTS_SEED must be 1-100 printable characters without spaces');
  return {
    seed,
    checkouts: integer('FAULTS_CHECKOUTS', 300, 1),
    concurrency: integer('FAULTS_CONCURRENCY', 16, 1),
    faults,
    settleTimeoutMs: integer('FAULTS_SETTLE_TIMEOUT_MS', 600_000, 0),
    keep: env.FAULTS_KEEP === '1',
    temporal,
    workers: integer('FAULTS_WORKERS', 2, 1),
  };
}

const FAULT_LINE = /simulated PSP fault: (\S+) (\S+) (\S+) \(call (\d+)\)/;

async function main(): Promise<number> {
  const settings = readSettings(process.env);
  const repo = path.resolve(__dirname, '..', '..', '..');
  const startedAt = Date.now();
  const elapsed = () => ((Date.now() - startedAt) / 1000).toFixed(1);
  const say = (message: string) => console.log(`[faults ${elapsed()}s] ${message}`);
  const runId = `${settings.seed}-${randomBytes(3).toString('hex')}`;

  const root = await mkdtemp(path.join(os.tmpdir(), 'settle-faults-'));
  await chmod(root, 0o755); // PostgreSQL runs as the 'postgres' user and must reach its data folder
  const logs = path.join(root, 'logs');
  await mkdir(logs);
  // Whatever happens to this process, nothing it started outlives it.
  process.on('exit', () => killEverythingUnder(root));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`[faults] ${signal}: stopping everything under ${root}`);
      killEverythingUnder(root);
      process.exit(2);
    });
  }

  say(`seed ${settings.seed}: ${settings.checkouts} checkouts, ${settings.concurrency} at a time, SIMULATED_PSP_FAULTS=${settings.faults}`);
  say(`${settings.workers} workers against ${settings.temporal === 'cluster' ? `a real Temporal server ${TEMPORAL_SERVER_VERSION} on PostgreSQL` : "the Temporal CLI's dev server"}`);
  say(`run folder ${root} (logs in ${logs})`);

  // The build this run started with, copied: a rebuild in the tree mid-run cannot change a restarted process's code.
  const app = path.join(root, 'app');
  await cp(path.join(repo, 'dist'), path.join(app, 'dist'), { recursive: true });
  await symlink(path.join(repo, 'node_modules'), path.join(app, 'node_modules'), 'dir');

  const [pgPort, temporalPort, apiPort] = await freePorts(3, RESERVED_PORTS);
  const postgres = new RestartablePostgres(path.join(root, 'postgres'), pgPort!, path.join(logs, 'postgres.log'));
  let temporal: TemporalServer;
  if (settings.temporal === 'cluster') {
    const binDir = path.join(repo, '.tools', 'temporal-server');
    await resolveTemporalServer({ binDir, log: say });
    // The same ports at every start: a restarted server answers where the clients and its own records look.
    const ports = await serverPorts({ frontend: temporalPort }, new Set([...RESERVED_PORTS, pgPort!, apiPort!]));
    // Temporal keeps its databases beside Settle's: PostgreSQL must be up before the server starts.
    await postgres.start();
    const serverRoot = path.join(root, 'temporal');
    await mkdir(serverRoot);
    temporal = new TemporalServer(
      path.join(app, 'dist', 'test', 'faults', 'temporalClusterHost.js'),
      serverRoot,
      temporalPort!,
      { cwd: app, env: process.env, logFile: path.join(logs, 'temporal.log'), args: [serverRoot, postgres.url, JSON.stringify(ports), binDir] },
      'PostgreSQL databases and ports',
    );
    await temporal.start();
    say(`PostgreSQL on ${pgPort}, Temporal server on ${temporalPort} (its log: ${path.join(serverRoot, 'temporal-server.log')})`);
  } else {
    const cliPath = await resolveTemporalCli({ configured: process.env.TEMPORAL_CLI || undefined, toolsDir: path.join(repo, '.tools'), log: say });
    temporal = new TemporalServer(path.join(app, 'dist', 'test', 'faults', 'temporalHost.js'), path.join(root, 'temporal.sqlite'), temporalPort!, {
      cwd: app,
      env: { ...process.env, FAULTS_TEMPORAL_CLI: cliPath ?? '' },
      logFile: path.join(logs, 'temporal.log'),
    });
    await Promise.all([postgres.start(), temporal.start()]);
    say(`PostgreSQL on ${pgPort}, Temporal on ${temporalPort} (${path.join(root, 'temporal.sqlite')})`);
  }
  const processes: SupervisedProcess[] = [temporal.host];

  let pool: Pool | undefined;
  let succeeded = false;
  try {
    const env: NodeJS.ProcessEnv = {
      ...withoutSettleSettings(process.env),
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: `faults-${runId}`,
      PSP: 'simulated',
      SIMULATED_PSP_FAULTS: settings.faults,
      SIMULATED_PSP_SEED: settings.seed,
      SETTLE_DATA_DIR: path.join(root, 'data'),
      // Manual-capture checkouts that are never captured run out of time during the run.
      AUTHORIZATION_WINDOW_MS: '60000',
      LOG_LEVEL: 'warn',
    };
    const faults: InjectedFaultLine[] = [];
    const workers = Array.from({ length: settings.workers }, (_, i) => `worker-${i + 1}`).map(
      (name) =>
        new SupervisedProcess(name, path.join(app, 'dist', 'workers', 'main.js'), {
          cwd: app,
          env,
          logFile: path.join(logs, `${name}.log`),
          onLine: (line) => {
            const match = FAULT_LINE.exec(line);
            if (match) faults.push({ at: Date.now() - startedAt, worker: name, kind: match[1]!, operation: match[2]!, key: match[3]! });
          },
        }),
    );
    const api = new SupervisedProcess('api', path.join(app, 'dist', 'api', 'main.js'), {
      cwd: app,
      env: { ...env, PORT: String(apiPort) },
      logFile: path.join(logs, 'api.log'),
    });
    processes.push(...workers, api);

    const polling = workers.map((worker) => worker.waitForLine(/worker polling task queue/, 180_000));
    workers.forEach((worker) => worker.start());
    await Promise.all(polling);
    api.start();
    const baseUrl = `http://127.0.0.1:${apiPort}`;
    await waitUntilHealthy(baseUrl, 120_000);
    say(`API on ${apiPort}, workers polling task queue faults-${runId}`);

    pool = createPool(postgres.url, 4);
    const { key: apiKey } = await createApiKey(pool, 'fault suite');
    const client = new SettleClient(baseUrl, apiKey);

    // The workload and, alongside it, the deaths and restarts, each once a share of the checkouts exists.
    const chaosRandom = new Random(`${settings.seed}:chaos`);
    const kinds: ChaosKind[] =
      settings.temporal === 'cluster'
        ? ['kill -9 one worker', 'kill -9 one worker', 'kill -9 workers', 'kill -9 API', 'restart PostgreSQL', 'kill -9 Temporal']
        : ['kill -9 workers', 'kill -9 workers', 'kill -9 workers', 'kill -9 API', 'restart PostgreSQL', 'kill -9 Temporal'];
    for (let i = kinds.length - 1; i > 0; i -= 1) {
      const j = chaosRandom.int(0, i);
      [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
    }
    // One event in each sixth of 8 %..85 % of the checkouts, so that they are spread over the run.
    const thresholds = kinds.map((_, i) => Math.ceil(settings.checkouts * (0.08 + (0.77 * (i + chaosRandom.next())) / kinds.length)));
    let created = 0;
    let workloadDone = false;
    const chaosLog: ChaosRecord[] = [];
    const chaos = (async () => {
      for (const [i, kind] of kinds.entries()) {
        while (created < thresholds[i]! && !workloadDone) await sleep(100);
        const at = Date.now() - startedAt;
        const pauseMs = chaosRandom.int(0, 3_000);
        const victim = kind === 'kill -9 one worker' ? workers[chaosRandom.int(0, workers.length - 1)]! : undefined;
        const detail = await inflict(kind, { workers, victim, api, postgres, temporal, pauseMs });
        chaosLog.push({ at, kind, afterCheckouts: created, detail });
        say(`${kind} after ${created} checkouts: ${detail}`);
      }
    })();
    chaos.catch(() => undefined); // awaited below, once the workload is done
    const progress = setInterval(() => {
      const retried = client.retried.connection + client.retried.timeout + client.retried.serverError;
      say(`${created}/${settings.checkouts} checkouts created, ${client.requests} requests (${retried} retried), ${faults.length} PSP faults injected`);
    }, 30_000);
    const plans = Array.from({ length: settings.checkouts }, (_, index) => planCheckout(settings.seed, runId, index));
    let runs: CheckoutRun[];
    try {
      runs = await runWorkload(
        { client, runId, startedAt, patienceMs: 240_000, onCreated: () => (created += 1) },
        plans,
        settings.concurrency,
      );
    } finally {
      workloadDone = true;
      await chaos;
      clearInterval(progress);
    }
    const workloadSeconds = elapsed();
    say(`workload done: ${created} checkouts created; waiting up to ${settings.settleTimeoutMs / 1000}s for every checkout and refund to end`);

    // Every checkout in the database, not only those the client was told of: a key answered twice shows here.
    const known = new Set(runs.flatMap((run) => (run.checkoutId ? [run.checkoutId] : [])));
    const unfinished = await waitUntilSettled(pool, settings.settleTimeoutMs, say);
    const checkoutIds = (await pool.query<{ id: string }>('SELECT id FROM checkouts ORDER BY created_at')).rows.map((row) => row.id);
    const strangers = checkoutIds.filter((id) => !known.has(id));

    const feed = await readEventFeed({ baseUrl, authHeaders: { Authorization: `Bearer ${apiKey}` } });
    const violations = await checkInvariants({
      pool,
      psp: new SimulatedPsp(pool),
      checkoutIds,
      label: `faults seed ${settings.seed}`,
      feed,
      verify: 'all',
    });
    const verifyReport = formatReport(await verifyBooks(pool));
    const workShares = await workByWorker({ address: temporal.address, namespace: 'default', taskQueue: `faults-${runId}`, workers }).catch(
      (error: Error) => [`work by worker: the histories could not be read (${error.message})`],
    );
    const apiBreaches = [
      ...runs.flatMap((run) => run.breaches.map((breach) => `checkout #${run.plan.index} ${run.checkoutId ?? '(none)'}: ${breach}`)),
      ...strangers.map((id) => `checkout ${id} exists but no answer to the client named it (a request made two checkouts?)`),
    ];

    const summary = await summarize({
      pool,
      seed: settings.seed,
      repeat: repeatCommand(settings),
      started: startedAt,
      workloadSeconds,
      runs,
      faults,
      chaosLog,
      exits: processes.flatMap((p) => p.unexpectedExits),
      client,
      feedLength: feed.length,
      unfinished,
      verifyReport,
      violations,
      apiBreaches,
      workShares,
    });
    const dossiers = await describeViolations(pool, violations, runs, faults, chaosLog);
    const violationsFile = path.join(root, 'violations.txt');
    await writeFile(violationsFile, `${summary}\n\n${dossiers}\n`);
    console.log(summary);
    const total = violations.length + apiBreaches.length;
    if (total > 0) console.log(`\nevery violation, with each checkout's story (client steps, events, PSP record, faults met): ${violationsFile}`);
    console.log(`\ntest:faults: ${checkoutIds.length} checkouts (seed ${settings.seed}) in ${elapsed()}s: ${total} violations`);
    succeeded = total === 0;
    return succeeded ? 0 : 1;
  } finally {
    await pool?.end().catch(() => undefined);
    await Promise.all(processes.filter((p) => p !== temporal.host).map((p) => p.stop(10_000).catch(() => undefined)));
    await temporal.stop().catch(() => undefined);
    await postgres.stop().catch(() => undefined);
    killEverythingUnder(root);
    if (succeeded && !settings.keep) await rm(root, { recursive: true, force: true });
    else console.log(`run folder kept: ${root}`);
  }
}

/** The command that runs the same seed with the same settings. */
function repeatCommand(settings: Settings): string {
  const cluster = settings.temporal === 'cluster';
  const set = [
    `FAULTS_SEED=${settings.seed}`,
    ...(settings.checkouts !== 300 ? [`FAULTS_CHECKOUTS=${settings.checkouts}`] : []),
    ...(settings.concurrency !== 16 ? [`FAULTS_CONCURRENCY=${settings.concurrency}`] : []),
    ...(settings.workers !== (cluster ? 3 : 2) ? [`FAULTS_WORKERS=${settings.workers}`] : []),
    ...(settings.faults !== DEFAULT_FAULTS ? [`SIMULATED_PSP_FAULTS=${settings.faults}`] : []),
  ];
  return `${set.join(' ')} npm run ${cluster ? 'test:cluster' : 'test:faults'}`;
}

/** The environment without Settle's own settings, so a developer's shell cannot point a process elsewhere. */
function withoutSettleSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const settle = /^(PORT|DATABASE_URL|DATABASE_POOL_SIZE|TEMPORAL_.*|SETTLE_.*|EMBEDDED_PG_PORT|PSP|STRIPE_.*|SIMULATED_PSP_.*|AUTHORIZATION_WINDOW_MS|RECONCILIATION_TIME|WORKER_.*|LOG_LEVEL)$/;
  return Object.fromEntries(Object.entries(env).filter(([name]) => !settle.test(name) || name === 'TEMPORAL_CLI'));
}

async function waitUntilHealthy(baseUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`the API at ${baseUrl} was not healthy within ${timeoutMs} ms`);
    await sleep(250);
  }
}

async function inflict(
  kind: ChaosKind,
  cluster: {
    workers: SupervisedProcess[];
    victim: SupervisedProcess | undefined;
    api: SupervisedProcess;
    postgres: RestartablePostgres;
    temporal: TemporalServer;
    pauseMs: number;
  },
): Promise<string> {
  switch (kind) {
    case 'kill -9 one worker': {
      const victim = cluster.victim!;
      const pid = victim.pid;
      await victim.kill9();
      // Long enough that the others take over: its abandoned tasks and whatever arrives meanwhile.
      const downMs = 10_000 + cluster.pauseMs;
      await sleep(downMs);
      victim.start();
      return `${victim.name} (pid ${pid}) killed while ${cluster.workers.length - 1} others ran on, restarted after ${downMs} ms`;
    }
    case 'kill -9 workers': {
      const pids = cluster.workers.map((worker) => worker.pid);
      await Promise.all(cluster.workers.map((worker) => worker.kill9()));
      // No worker at all for a moment: whatever they had in flight is abandoned mid-way.
      await sleep(cluster.pauseMs);
      cluster.workers.forEach((worker) => worker.start());
      return `pids ${pids.join(', ')} killed, restarted after ${cluster.pauseMs} ms`;
    }
    case 'kill -9 API': {
      const pid = cluster.api.pid;
      await cluster.api.kill9();
      cluster.api.start();
      return `pid ${pid} killed, restarted at once`;
    }
    case 'restart PostgreSQL':
      return `down for ${await cluster.postgres.restart()} ms (immediate shutdown, started at once on the same data and port)`;
    case 'kill -9 Temporal':
      return `down for ${await cluster.temporal.killAndRestart()} ms (started again on the same ${cluster.temporal.keeps})`;
  }
}

/** Waits until no checkout is running and no refund pending; answers what is still unfinished at the bound. */
async function waitUntilSettled(pool: Pool, timeoutMs: number, say: (message: string) => void): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = 0;
  for (;;) {
    const { rows } = await pool.query<{ what: string }>(
      `SELECT 'checkout ' || id || ' ' || status AS what FROM checkouts WHERE status NOT IN (${TERMINAL.map((s) => `'${s}'`).join(', ')})
       UNION ALL
       SELECT 'refund ' || id || ' PENDING' FROM refunds WHERE status = 'PENDING'`,
    );
    if (rows.length === 0) return [];
    if (Date.now() > deadline) return rows.map((row) => row.what);
    if (Date.now() - lastReport > 30_000) {
      say(`${rows.length} unfinished: ${rows.slice(0, 5).map((row) => row.what).join(', ')}${rows.length > 5 ? ', ...' : ''}`);
      lastReport = Date.now();
    }
    await sleep(1_000);
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`test:faults could not run: ${(error as Error).stack ?? error}`);
    process.exit(2);
  },
);
