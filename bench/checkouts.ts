import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { freePort } from '../dev/ports';
import { startEmbeddedPostgres } from '../dev/postgres';
import { resolveTemporalCli, TEMPORAL_CLI_MISSING, temporalCliVersion } from '../dev/temporalCli';
import { temporalConnectionOptions } from '../temporalConnection';
import { DEFAULT_BUNDLE_PATH } from '../workers/bundle';
import { drawChart, type Color, type Series } from './chart';
import { closedLoop, Ends, EventFeed, floorEnded, floorSystem, historyEvents, openLoop, settleSystem, type Outcome, type System } from './load';
import { parseOptions, USAGE, type BenchOptions } from './options';
import { progressBar } from './progress';
import {
  cpuShares,
  devServerArgs,
  readCpu,
  startSettleProcesses,
  StandProcess,
  waitForTemporal,
  type CpuShares,
  type ServerProfile,
} from './stand';
import { summarize, throughput, type Summary } from './stats';

/**
 * `npm run bench`: checkouts through Settle's HTTP API at a given concurrency, then the floor (the same
 * shape of workflows with no-op activities) on the same server, so Settle's cost reads as a ratio to
 * Temporal's own. See USAGE (bench/options.ts) for the settings.
 */

const REPO = path.resolve(__dirname, '..', '..');
const TASK_QUEUE = 'settle';
const FLOOR_TASK_QUEUE = 'settle-floor';

interface PhaseResult {
  system: 'settle' | 'floor';
  server: string;
  /** In flight at once (closed loop), or undefined when checkouts arrived at a fixed rate. */
  concurrency: number | undefined;
  arrivalsPerSecond: number | undefined;
  checkouts: number;
  warmup: number;
  orders: number;
  statuses: Record<string, number>;
  checkoutsPerSecond: number;
  ordersPerSecond: number;
  overallCheckoutsPerSecond: number;
  steadyWindowMs: number;
  /** From the start's send (POST) to the terminal state, ms, warm-up left out. */
  latencyMs: Summary;
  /** How long the start took to answer: the POST for Settle, the workflow start for the floor, ms. */
  startMs: Summary;
  history: { sampled: number; perCheckout: number; perOrder: number; checkoutWorkflow: number; paymentOrderWorkflow: number } | undefined;
  cpu: CpuShares;
  /**
   * CPU time per checkout, ms, per process of the stand: its CPU over the phase divided by the checkouts
   * that ended in it. Unlike throughput, hardly moved by what else the machine is doing.
   */
  cpuMsPerCheckout: Record<string, number>;
  durationMs: number;
}

interface ServerResult {
  profile: string;
  description: string;
  phases: PhaseResult[];
  atLoad?: PhaseResult & { fraction: number; ofCheckoutsPerSecond: number };
}

const say = (message: string) => process.stderr.write(`[bench] ${message}\n`);

const stops: Array<() => Promise<unknown>> = [];
let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const stop of stops.reverse()) await stop().catch((error: Error) => say(`while stopping: ${error.message}`));
  })();
  return stopping;
}

function crash(error: Error): void {
  say(`${error.message}; stopping`);
  void stopAll().then(() => process.exit(1));
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function startServer(
  profile: ServerProfile,
  cli: string | undefined,
  root: string,
): Promise<{ address: string; pid: number | undefined; local: boolean; stop: () => Promise<void> }> {
  if (!profile.sqlite) {
    const address = process.env.TEMPORAL_ADDRESS!;
    return { address, pid: undefined, local: false, stop: async () => undefined };
  }
  if (!cli) throw new Error(TEMPORAL_CLI_MISSING);
  const port = await freePort();
  const server = new StandProcess(
    `temporal dev server (${profile.name})`,
    cli,
    devServerArgs(profile, port, path.join(root, `temporal-${profile.name}.sqlite`)),
    process.env,
    path.join(root, 'logs', `${profile.name}-temporal.log`),
    crash,
  );
  await server.start(undefined);
  const address = `127.0.0.1:${port}`;
  await waitForTemporal(address);
  return { address, pid: server.pid, local: true, stop: () => server.stop() };
}

/** Up to `count` checkouts spread over the run, among those that succeeded. */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  return Array.from({ length: count }, (_, index) => items[Math.floor((index * items.length) / count)]!);
}

async function countHistories(client: Client, system: System, outcomes: Outcome[], samples: number): Promise<PhaseResult['history']> {
  const chosen = spread(
    outcomes.filter((outcome) => outcome.status === 'SUCCEEDED' && outcome.id),
    samples,
  );
  if (chosen.length === 0) return undefined;
  const counted = await Promise.all(
    chosen.map(async (outcome) => {
      const workflowId = system.workflowId(outcome.id!);
      // The outcome is committed just before the checkout's last workflow task: wait for it to close.
      await client.workflow.getHandle(workflowId).result().catch(() => undefined);
      return historyEvents(client, workflowId);
    }),
  );
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  const perCheckout = mean(counted.map((c) => c.checkout + c.orders.reduce((sum, value) => sum + value, 0)));
  const orders = mean(counted.map((c) => c.orders.length));
  return {
    sampled: counted.length,
    perCheckout,
    perOrder: orders > 0 ? perCheckout / orders : Number.NaN,
    checkoutWorkflow: mean(counted.map((c) => c.checkout)),
    paymentOrderWorkflow: mean(counted.flatMap((c) => c.orders)),
  };
}

let phases = 0;

async function runPhase(options: {
  bench: BenchOptions;
  runId: string;
  system: System;
  client: Client;
  server: string;
  roles: Record<string, number | undefined>;
  concurrency?: number;
  perSecond?: number;
}): Promise<PhaseResult> {
  const { bench, system } = options;
  const warmup = bench.warmup ?? options.concurrency ?? Math.ceil((options.perSecond ?? 1) * 3);
  const total = bench.checkouts + warmup;
  const label = `${options.server} ${system.name} ${options.concurrency !== undefined ? `C=${options.concurrency}` : `${options.perSecond!.toFixed(2)}/s`}`;
  const progress = progressBar(label, total);
  const startedAt = Date.now();
  const load = { phase: `${options.runId}-${++phases}`, total, timeoutMs: bench.timeoutMs, progress };
  const before = await readCpu(options.roles);
  const outcomes =
    options.concurrency !== undefined
      ? await closedLoop(system, { ...load, concurrency: options.concurrency })
      : await openLoop(system, { ...load, perSecond: options.perSecond! });
  const after = await readCpu(options.roles);
  const durationMs = Date.now() - startedAt;

  const measured = outcomes.filter((outcome) => outcome.index >= warmup);
  const statuses: Record<string, number> = {};
  for (const outcome of measured) statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
  for (const outcome of outcomes.filter((o) => o.error).slice(0, 3)) say(`${system.name}: ${outcome.error}`);
  const rate = throughput(outcomes, warmup);
  // Arrivals at a fixed rate keep no number in flight, so there is no steady window: all of it counts.
  const perSecond = options.concurrency !== undefined ? rate.steady : rate.overall;
  const cpu = cpuShares(before, after, os.cpus().length);
  const ended = outcomes.filter((outcome) => outcome.endedAt !== undefined).length;
  const cpuMsPerCheckout = Object.fromEntries(
    Object.entries(cpu.roles)
      .filter(([role]) => role !== 'bench')
      .map(([role, percent]) => [role, ended > 0 ? ((percent / 100) * (after.at - before.at)) / ended : Number.NaN]),
  );
  const history = bench.historySamples > 0 ? await countHistories(options.client, system, measured, bench.historySamples) : undefined;
  return {
    system: system.name,
    server: options.server,
    concurrency: options.concurrency,
    arrivalsPerSecond: options.perSecond,
    checkouts: bench.checkouts,
    warmup,
    orders: bench.orders,
    statuses,
    checkoutsPerSecond: perSecond,
    ordersPerSecond: perSecond * bench.orders,
    overallCheckoutsPerSecond: rate.overall,
    steadyWindowMs: rate.windowMs,
    latencyMs: summarize(measured.flatMap((o) => (o.endedAt === undefined ? [] : [o.endedAt - o.startedAt]))),
    startMs: summarize(measured.flatMap((o) => (o.startMs === undefined ? [] : [o.startMs]))),
    history,
    cpu,
    cpuMsPerCheckout,
    durationMs,
  };
}

const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)}s` : '-');
const millis = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(0)}ms` : '-');
const fixed = (value: number | undefined, digits = 2) => (value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : '-');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')).join('\n');
}

const HEADER = ['', 'checkouts/s', 'orders/s', 'p50', 'p95', 'p99', 'start p50', 'start p99', 'events/checkout', 'events/order', 'not ok'];

function row(label: string, phase: PhaseResult): string[] {
  const notOk = Object.entries(phase.statuses)
    .filter(([status]) => status !== 'SUCCEEDED')
    .reduce((sum, [, count]) => sum + count, 0);
  return [
    label,
    fixed(phase.checkoutsPerSecond),
    fixed(phase.ordersPerSecond),
    seconds(phase.latencyMs.p50),
    seconds(phase.latencyMs.p95),
    seconds(phase.latencyMs.p99),
    millis(phase.startMs.p50),
    millis(phase.startMs.p99),
    fixed(phase.history?.perCheckout, 1),
    fixed(phase.history?.perOrder, 1),
    String(notOk),
  ];
}

/** CPU per checkout of the processes that serve it (not the load generator's). */
function cpuPerCheckout(phase: PhaseResult): number {
  return Object.values(phase.cpuMsPerCheckout).reduce((sum, ms) => sum + (Number.isFinite(ms) ? ms : 0), 0);
}

function cpuLine(phase: PhaseResult): string {
  const roles = Object.entries(phase.cpu.roles)
    .sort(([, a], [, b]) => b - a)
    .map(([role, percent]) => `${role} ${percent.toFixed(0)}`)
    .join(', ');
  const perCheckout = Object.entries(phase.cpuMsPerCheckout).filter(([, ms]) => ms >= 0.5);
  const total = perCheckout.reduce((sum, [, ms]) => sum + ms, 0);
  // Other work on the machine takes CPU from the stand: such a phase's figures compare with nothing.
  const busy = phase.cpu.others > 20 ? ` (! other processes used ${phase.cpu.others.toFixed(0)} % of a core: not a quiet machine)` : '';
  return (
    `  CPU during ${phase.system}, % of one core (${phase.cpu.cores} cores): ${roles}, others ${phase.cpu.others.toFixed(0)}${busy}\n` +
    `  CPU per ${phase.system} checkout: ${total.toFixed(0)} ms (${perCheckout.sort(([, a], [, b]) => b - a).map(([role, ms]) => `${role} ${ms.toFixed(0)}`).join(', ')})`
  );
}

function printLevel(server: string, concurrency: number, settle: PhaseResult, floor: PhaseResult | undefined): void {
  const rows = [HEADER, row(`settle`, settle), ...(floor ? [row('floor', floor)] : [])];
  const lines = [
    `\n${server}, ${concurrency} in flight, ${settle.orders} orders per checkout, ${settle.checkouts} checkouts (+${settle.warmup} warm-up);`,
    'latency from the start to the terminal state; start = the POST (settle) or the workflow start (floor):',
    table(rows),
  ];
  if (floor && floor.checkoutsPerSecond > 0) {
    lines.push(`settle / floor = ${(settle.checkoutsPerSecond / floor.checkoutsPerSecond).toFixed(2)} (checkouts/s); CPU per checkout, floor / settle = ${(cpuPerCheckout(floor) / cpuPerCheckout(settle)).toFixed(2)}`);
  }
  lines.push(cpuLine(settle));
  if (floor) lines.push(cpuLine(floor));
  process.stdout.write(`${lines.join('\n')}\n`);
}

const PALETTE: Record<'settle' | 'floor', Color[]> = {
  settle: [
    [31, 119, 180],
    [44, 160, 44],
    [148, 103, 189],
    [23, 190, 207],
  ],
  floor: [
    [255, 127, 14],
    [214, 39, 40],
    [140, 86, 75],
    [188, 189, 34],
  ],
};

function chart(results: ServerResult[], options: BenchOptions): Buffer {
  const throughputSeries: Series[] = [];
  const latencySeries: Series[] = [];
  results.forEach((server, index) => {
    for (const system of ['settle', 'floor'] as const) {
      const phases = server.phases.filter((phase) => phase.system === system && phase.concurrency !== undefined);
      if (phases.length === 0) continue;
      const color = PALETTE[system][index % PALETTE[system].length]!;
      const label = `${system} ${server.profile}`;
      throughputSeries.push({ label, color, points: phases.map((phase) => ({ x: phase.concurrency!, y: phase.checkoutsPerSecond })) });
      latencySeries.push({ label, color, points: phases.map((phase) => ({ x: phase.concurrency!, y: phase.latencyMs.p50 / 1000 })) });
      latencySeries.push({ label, color, dashed: true, points: phases.map((phase) => ({ x: phase.concurrency!, y: phase.latencyMs.p99 / 1000 })) });
    }
  });
  return drawChart({
    title: `Settle checkouts of ${options.orders} orders, PSP ${options.pspLatencyMs} ms`,
    xLabel: 'checkouts in flight',
    note: 'latency: solid p50, dashed p99',
    panels: [
      { title: 'throughput', yLabel: 'checkouts/s', series: throughputSeries },
      { title: 'latency, POST to terminal', yLabel: 'seconds', series: latencySeries },
    ],
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!existsSync(DEFAULT_BUNDLE_PATH)) throw new Error('the workflow bundle is missing: run `npm run build` first');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping`);
      void stopAll().then(() => process.exit(130));
    });
  }

  const startedAt = new Date();
  const runId = randomUUID().slice(0, 8);
  const root = await mkdtemp(path.join(os.tmpdir(), 'settle-bench-'));
  await chmod(root, 0o755); // PostgreSQL may run as the 'postgres' user, who must reach its data folder
  await mkdir(path.join(root, 'logs'));
  stops.push(async () => {
    if (options.keep) say(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });
  say(`run ${runId}; logs in ${path.join(root, 'logs')}${options.keep ? '' : ' (removed at the end; --keep keeps them)'}`);

  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pgLog = createWriteStream(path.join(root, 'logs', 'postgres.log'));
    const database = await startEmbeddedPostgres({
      dataDir: path.join(root, 'postgres'),
      port: await freePort(),
      database: 'settle',
      ephemeral: !options.keep,
      onLog: (line) => pgLog.write(line.endsWith('\n') ? line : `${line}\n`),
    });
    stops.push(database.stop);
    databaseUrl = database.url;
  }

  const needsCli = options.servers.some((profile) => profile.sqlite);
  const cli = needsCli ? await resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: path.join(REPO, '.tools'), log: say }) : undefined;
  const config = loadConfig();
  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    options: { ...options, servers: options.servers.map((profile) => profile.name) },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverageAtStart: os.loadavg(), node: process.version, platform: `${process.platform} ${os.release()}` },
    git: { commit: git(['rev-parse', 'HEAD']), uncommittedChanges: (git(['status', '--porcelain']) ?? '').split('\n').filter(Boolean).length },
    temporalCli: cli ? await temporalCliVersion(cli) : undefined,
    worker: config.worker,
    databasePoolSize: config.databasePoolSize,
    servers: [] as ServerResult[],
  };

  for (const profile of options.servers) {
    say(`starting ${profile.description}`);
    const server = await startServer(profile, cli, root);
    const floorEnds = new Ends();
    stops.push(server.stop);
    const settle = await startSettleProcesses({
      temporalAddress: server.address,
      localTemporal: server.local,
      databaseUrl,
      taskQueue: TASK_QUEUE,
      floorTaskQueue: FLOOR_TASK_QUEUE,
      pspLatencyMs: options.pspLatencyMs,
      logDir: path.join(root, 'logs'),
      label: profile.name,
      onCrash: crash,
      onFloorLine: (line) => floorEnded(line, floorEnds),
    });
    stops.push(settle.stop);
    const connection = await Connection.connect(server.local ? { address: server.address } : temporalConnectionOptions(config, server.address));
    stops.push(() => connection.close());
    const client = new Client({ connection });
    const feed = new EventFeed(settle.apiUrl, settle.apiKey);
    await feed.skipToEnd();

    const [worker, api, floorWorker] = settle.processes;
    const roles = { temporal: server.pid, worker: worker!.pid, api: api!.pid, floor: floorWorker!.pid };
    const settleLoad = settleSystem({ apiUrl: settle.apiUrl, apiKey: settle.apiKey, feed, orders: options.orders });
    const floorLoad = floorSystem({ client, taskQueue: FLOOR_TASK_QUEUE, orders: options.orders, localDatabaseSteps: options.floorLocalDatabaseSteps, ends: floorEnds });
    const result: ServerResult = { profile: profile.name, description: profile.description, phases: [] };
    record.servers.push(result);

    for (const concurrency of options.concurrency) {
      const common = { bench: options, runId, client, server: profile.name, roles, concurrency };
      const settlePhase = await runPhase({ ...common, system: settleLoad });
      result.phases.push(settlePhase);
      let floorPhase: PhaseResult | undefined;
      if (options.floor) {
        await sleep(1_000);
        floorPhase = await runPhase({ ...common, system: floorLoad });
        result.phases.push(floorPhase);
      }
      printLevel(profile.name, concurrency, settlePhase, floorPhase);
      await sleep(1_000);
    }

    if (options.loadFraction !== undefined) {
      const best = result.phases.filter((phase) => phase.system === 'settle').sort((a, b) => b.checkoutsPerSecond - a.checkoutsPerSecond)[0]!;
      const perSecond = best.checkoutsPerSecond * options.loadFraction;
      const phase = await runPhase({ bench: options, runId, client, server: profile.name, roles, system: settleLoad, perSecond });
      result.atLoad = { ...phase, fraction: options.loadFraction, ofCheckoutsPerSecond: best.checkoutsPerSecond };
      process.stdout.write(
        `\n${profile.name}, settle at ${perSecond.toFixed(2)} checkouts/s arriving (${(options.loadFraction * 100).toFixed(0)} % of ${best.checkoutsPerSecond.toFixed(2)}, the best, at ${best.concurrency} in flight):\n` +
          `${table([HEADER, row('settle', phase)])}\n` +
          `  arrivals ${perSecond.toFixed(2)}/s, ended ${phase.checkoutsPerSecond.toFixed(2)}/s over the whole phase\n` +
          `  POST p50 ${millis(phase.startMs.p50)}, p95 ${millis(phase.startMs.p95)}, p99 ${millis(phase.startMs.p99)}, max ${millis(phase.startMs.max)}\n${cpuLine(phase)}\n`,
      );
    }

    // This server's processes go before the next server starts; the database stays for the run.
    stops.pop();
    await connection.close();
    stops.pop();
    await settle.stop();
    stops.pop();
    await server.stop();
  }

  record.finishedAt = new Date().toISOString();
  printSummary(record.servers, options);
  const outDir = path.resolve(options.out ?? path.join(REPO, 'bench', 'results'));
  await mkdir(outDir, { recursive: true });
  const stem = path.join(outDir, startedAt.toISOString().replace(/[:.]/g, '-'));
  await writeFile(`${stem}.json`, `${JSON.stringify(record, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`);
  await writeFile(`${stem}.png`, chart(record.servers, options));
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), `${stem}.json`)} and ${path.relative(process.cwd(), `${stem}.png`)}\n`);
}

function printSummary(results: ServerResult[], options: BenchOptions): void {
  const rows = [['server', 'in flight', 'settle c/s', 'floor c/s', 'settle/floor', 'settle p50', 'settle p99', 'POST p99', 'events/order', 'CPU ms/c settle', 'floor']];
  for (const server of results) {
    for (const concurrency of options.concurrency) {
      const settle = server.phases.find((phase) => phase.system === 'settle' && phase.concurrency === concurrency);
      const floor = server.phases.find((phase) => phase.system === 'floor' && phase.concurrency === concurrency);
      if (!settle) continue;
      rows.push([
        server.profile,
        String(concurrency),
        fixed(settle.checkoutsPerSecond),
        fixed(floor?.checkoutsPerSecond),
        floor && floor.checkoutsPerSecond > 0 ? fixed(settle.checkoutsPerSecond / floor.checkoutsPerSecond) : '-',
        seconds(settle.latencyMs.p50),
        seconds(settle.latencyMs.p99),
        millis(settle.startMs.p99),
        fixed(settle.history?.perOrder, 1),
        cpuPerCheckout(settle).toFixed(0),
        floor ? cpuPerCheckout(floor).toFixed(0) : '-',
      ]);
    }
  }
  const lines = [`\nsummary (${options.orders} orders per checkout, PSP ${options.pspLatencyMs} ms):`, table(rows)];
  if (results.length > 1) {
    const [first, ...others] = results;
    for (const other of others) {
      for (const concurrency of options.concurrency) {
        const base = first!.phases.find((phase) => phase.system === 'settle' && phase.concurrency === concurrency);
        const compared = other.phases.find((phase) => phase.system === 'settle' && phase.concurrency === concurrency);
        if (base && compared && base.checkoutsPerSecond > 0) {
          lines.push(`settle on ${other.profile} / settle on ${first!.profile}, ${concurrency} in flight: ${(compared.checkoutsPerSecond / base.checkoutsPerSecond).toFixed(2)}`);
        }
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => stopAll().then(() => process.exit(0)),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    void stopAll().then(() => process.exit(1));
  },
);
