import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { createApiKey } from '../db/apiKeys';
import { createPool } from '../db/pool';
import { freePort } from '../dev/ports';
import { DURABLE_SQLITE_PRAGMAS } from '../dev/temporalServer';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

/**
 * What the benchmark runs Settle on, as production runs it: each part a process of its own (the Temporal
 * server, Settle's worker, its API, the floor's worker, PostgreSQL), so that the load generator's CPU stays
 * apart from theirs and each one's share of the CPU can be read from /proc.
 */

/** The compiled project (dist/), where this file runs from. */
const DIST = path.resolve(__dirname, '..');

export interface ServerProfile {
  name: string;
  description: string;
  /** A dev server's SQLite: a file in the run's folder, or memory. Absent: the server at TEMPORAL_ADDRESS. */
  sqlite?: 'file' | 'memory';
  pragmas: string[];
}

export const SERVER_PROFILES: Record<string, ServerProfile> = {
  wal: {
    name: 'wal',
    description: 'dev server, SQLite file, as npm start runs it (journal_mode=WAL synchronous=NORMAL)',
    sqlite: 'file',
    pragmas: Object.entries(DURABLE_SQLITE_PRAGMAS).map(([name, value]) => `${name}=${value}`),
  },
  sqlite: { name: 'sqlite', description: "dev server, SQLite file with SQLite's defaults", sqlite: 'file', pragmas: [] },
  memory: { name: 'memory', description: 'dev server, SQLite in memory (as the tests run it)', sqlite: 'memory', pragmas: [] },
  external: { name: 'external', description: 'the Temporal server at TEMPORAL_ADDRESS', pragmas: [] },
};

/** A process of the stand; its output goes to a log file, and an exit nobody asked for is reported. */
export class StandProcess {
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
    private readonly onCrash: (error: Error) => void,
    /** Sees each line of output first; a line it answers true for is not logged. */
    private readonly onLine: (line: string) => boolean = () => false,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it; with `ready`, resolves once it writes a line matching it. */
  start(ready: RegExp | undefined, timeoutMs = 120_000): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(this.command, this.args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} was not ready within ${timeoutMs / 1000} s (see ${this.logFile})`)), timeoutMs);
      for (const stream of [child.stdout!, child.stderr!]) {
        readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
          if (!this.onLine(line)) log.write(`${line}\n`);
          if (ready?.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      if (!ready) {
        clearTimeout(timer);
        resolve();
      }
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const error = new Error(`${this.name} exited (code ${code}, signal ${signal}; see ${this.logFile})`);
        reject(error);
        if (!this.stopping) this.onCrash(error);
        log.end();
      });
    });
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Waits until a Temporal frontend answers. */
export async function waitForTemporal(address: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the Temporal server at ${address} did not answer within ${timeoutMs / 1000} s: ${(error as Error).message}`);
      await sleep(250);
    }
  }
}

/** `temporal server start-dev` with the profile's SQLite and pragmas, headless, as the SDK starts it for tests. */
export function devServerArgs(profile: ServerProfile, port: number, dbFile: string): string[] {
  return [
    'server',
    'start-dev',
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    '--headless',
    '--log-format',
    'pretty',
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    ...SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${TypedSearchAttributes.toMetadataType(key.type)}`]),
    ...(profile.sqlite === 'file' ? ['--db-filename', dbFile] : []),
    ...profile.pragmas.flatMap((pragma) => ['--sqlite-pragma', pragma]),
  ];
}

/** Temporal's client settings a local dev server must not get (it has no TLS and wants no key). */
const TEMPORAL_CLIENT_SETTINGS = /^TEMPORAL_(API_KEY|TLS.*|PROFILE|CONFIG_FILE|GRPC_META_.*)$/;

export function childEnvironment(base: NodeJS.ProcessEnv, extra: Record<string, string>, localTemporal: boolean): NodeJS.ProcessEnv {
  const kept = Object.entries(base).filter(([name]) => !(localTemporal && TEMPORAL_CLIENT_SETTINGS.test(name)));
  return { ...Object.fromEntries(kept), ...extra };
}

export interface SettleProcesses {
  apiUrl: string;
  /** A key the API accepts, made in the database for this stand. */
  apiKey: string;
  processes: StandProcess[];
  stop(): Promise<void>;
}

/** Settle's worker (which applies the migrations), its API, and the floor's worker, against one server. */
export async function startSettleProcesses(options: {
  temporalAddress: string;
  localTemporal: boolean;
  databaseUrl: string;
  taskQueue: string;
  floorTaskQueue: string;
  pspLatencyMs: number;
  logDir: string;
  label: string;
  onCrash: (error: Error) => void;
  /** Each line the floor's worker writes. */
  onFloorLine: (line: string) => boolean;
}): Promise<SettleProcesses> {
  const env = (extra: Record<string, string>) =>
    childEnvironment(
      process.env,
      {
        DATABASE_URL: options.databaseUrl,
        TEMPORAL_ADDRESS: options.temporalAddress,
        TEMPORAL_TASK_QUEUE: options.taskQueue,
        SIMULATED_PSP_LATENCY_MS: String(options.pspLatencyMs),
        PSP: 'simulated',
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        ...extra,
      },
      options.localTemporal,
    );
  const port = await freePort();
  const logFile = (name: string) => path.join(options.logDir, `${options.label}-${name}.log`);
  const worker = new StandProcess('settle worker', process.execPath, [path.join(DIST, 'workers', 'main.js')], env({}), logFile('worker'), options.onCrash);
  const api = new StandProcess('settle api', process.execPath, [path.join(DIST, 'api', 'main.js')], env({ PORT: String(port) }), logFile('api'), options.onCrash);
  const floor = new StandProcess(
    'floor worker',
    process.execPath,
    [path.join(DIST, 'bench', 'floor', 'worker.js')],
    env({ FLOOR_TASK_QUEUE: options.floorTaskQueue }),
    logFile('floor-worker'),
    options.onCrash,
    options.onFloorLine,
  );
  const started: StandProcess[] = [];
  const stop = async () => {
    for (const child of started.reverse()) await child.stop();
  };
  try {
    started.push(worker);
    await worker.start(/worker polling task queue/);
    const apiKey = await createBenchApiKey(options.databaseUrl);
    started.push(api);
    await api.start(undefined);
    const apiUrl = `http://127.0.0.1:${port}`;
    await waitForHealth(apiUrl);
    started.push(floor);
    await floor.start(/floor worker polling/);
    return { apiUrl, apiKey, processes: [worker, api, floor], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** After the worker has migrated the database. */
async function createBenchApiKey(databaseUrl: string): Promise<string> {
  const pool = createPool(databaseUrl, 1);
  try {
    return (await createApiKey(pool, 'bench')).key;
  } finally {
    await pool.end();
  }
}

async function waitForHealth(apiUrl: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${apiUrl}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`the API at ${apiUrl} was not healthy within ${timeoutMs / 1000} s (last answer ${status || 'none'})`);
    await sleep(200);
  }
}

/** CPU time per process and for the whole machine, read from /proc: where the CPU went during a phase. */
export interface CpuReading {
  at: number;
  /** Ticks per role: the role's process and every process below it. */
  roles: Record<string, number>;
  machineBusy: number;
  machineTotal: number;
}

export interface CpuShares {
  /** Per role, percent of one core (200 = two cores fully busy). */
  roles: Record<string, number>;
  /** Everything else on the machine (other people's work), percent of one core. */
  others: number;
  /** The machine as a whole, percent of one core; the cores it has. */
  machine: number;
  cores: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcessStat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

async function processTable(): Promise<ProcessStat[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const stats = await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
        if (!text) return undefined;
        const close = text.lastIndexOf(')');
        const fields = text.slice(close + 2).split(' ');
        return {
          pid: Number(entry),
          ppid: Number(fields[1]),
          comm: text.slice(text.indexOf('(') + 1, close),
          ticks: Number(fields[11]) + Number(fields[12]),
        };
      }),
  );
  return stats.filter((stat): stat is ProcessStat => stat !== undefined);
}

/**
 * Reads CPU time. `roles` names root processes; each counts with all processes below it. PostgreSQL is
 * found as this process's child named postgres (its backends are its children). The load generator
 * counts alone.
 */
export async function readCpu(roles: Record<string, number | undefined>): Promise<CpuReading> {
  const table = await processTable();
  const children = new Map<number, ProcessStat[]>();
  for (const stat of table) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(table.map((stat) => [stat.pid, stat]));
  const tree = (pid: number): number => (byPid.get(pid)?.ticks ?? 0) + (children.get(pid) ?? []).reduce((sum, child) => sum + tree(child.pid), 0);
  const postmasters = (children.get(process.pid) ?? []).filter((stat) => stat.comm === 'postgres');
  const readings: Record<string, number> = {};
  for (const [role, pid] of Object.entries(roles)) if (pid !== undefined) readings[role] = tree(pid);
  if (postmasters.length > 0) readings.postgres = postmasters.reduce((sum, stat) => sum + tree(stat.pid), 0);
  readings.bench = byPid.get(process.pid)?.ticks ?? 0;

  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  const numbers = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = numbers.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (numbers[3] ?? 0) + (numbers[4] ?? 0);
  return { at: Date.now(), roles: readings, machineBusy: total - idle, machineTotal: total };
}

export function cpuShares(before: CpuReading, after: CpuReading, cores: number): CpuShares {
  const seconds = (after.at - before.at) / 1000;
  const percent = (ticks: number) => (seconds > 0 ? (ticks / ticksPerSecond() / seconds) * 100 : 0);
  const roles: Record<string, number> = {};
  let ours = 0;
  for (const [role, ticks] of Object.entries(after.roles)) {
    const used = Math.max(0, ticks - (before.roles[role] ?? ticks));
    roles[role] = percent(used);
    ours += used;
  }
  const machineTicks = after.machineTotal - before.machineTotal;
  const busyTicks = after.machineBusy - before.machineBusy;
  // /proc/stat counts every core; as a share of one core, busy/total times the number of cores.
  const machine = machineTicks > 0 ? (busyTicks / machineTicks) * cores * 100 : 0;
  return { roles, others: Math.max(0, machine - percent(ours)), machine, cores };
}
