import { parseArgs } from 'node:util';
import { SERVER_PROFILES, type ServerProfile } from './stand';

export interface BenchOptions {
  /** Checkouts measured per phase, after the warm-up. */
  checkouts: number;
  /** Payment orders per checkout. */
  orders: number;
  /** In flight at once; one phase per value (a sweep). */
  concurrency: number[];
  /** Checkouts started first and left out of the figures; by default as many as are in flight. */
  warmup: number | undefined;
  servers: ServerProfile[];
  pspLatencyMs: number;
  floor: boolean;
  floorLocalDatabaseSteps: boolean;
  /** Also run Settle at this fraction of the best throughput measured, arrivals at a fixed rate. */
  loadFraction: number | undefined;
  historySamples: number;
  timeoutMs: number;
  out: string | undefined;
  keep: boolean;
  help: boolean;
}

export const USAGE = `npm run bench -- [options]     (each option also from the environment variable named)

Runs Settle (embedded PostgreSQL, a Temporal dev server, Settle's worker and API as processes of their own)
and drives checkouts through its HTTP API; then the floor, the same shape of workflows with no-op activities,
on the same server. Prints throughput, latency, history events and where the CPU went; writes a JSON record
and a PNG chart to bench/results/.

  --checkouts N         checkouts measured per phase                     BENCH_CHECKOUTS      (100)
  --orders K            payment orders per checkout                      BENCH_ORDERS         (3)
  --concurrency C[,C]   checkouts in flight; a list sweeps               BENCH_CONCURRENCY    (20)
  --warmup W            checkouts first started and left out            BENCH_WARMUP         (= concurrency)
  --servers S[,S]       Temporal servers to run on, one after another:   BENCH_SERVERS        (wal)
                          wal     dev server, SQLite file, journal_mode=WAL synchronous=NORMAL
                          sqlite  dev server, SQLite file, SQLite's own defaults
                          memory  dev server, SQLite in memory (as the tests)
                          sqlite:P=V[+P=V]  dev server, SQLite file, these pragmas
                          external  the server at TEMPORAL_ADDRESS
  --psp-latency MS      simulated PSP latency per call                   SIMULATED_PSP_LATENCY_MS (20)
  --no-floor            skip the floor                                   BENCH_FLOOR=0
  --floor-local-db      the floor's database steps as local activities   BENCH_FLOOR_LOCAL_DB=1
  --load-fraction F     then Settle at F x its best checkouts/s, at a    BENCH_LOAD_FRACTION  (off)
                        fixed arrival rate (POST latency under load)
  --history-samples N   checkouts whose histories are counted            BENCH_HISTORY_SAMPLES (5)
  --timeout S           a checkout not ended after S seconds counts as   BENCH_TIMEOUT_S      (120)
                        timed out
  --out DIR             where the JSON and PNG go                        BENCH_OUT            (bench/results)
  --keep                keep the run's folder (logs, databases)          BENCH_KEEP=1

Settle's own settings (WORKER_MAX_CONCURRENT_*, DATABASE_POOL_SIZE, ...) pass through to its processes;
DATABASE_URL uses that database instead of an embedded one.`;

function integer(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, not '${text}'`);
  return value;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      checkouts: { type: 'string' },
      orders: { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      servers: { type: 'string' },
      'psp-latency': { type: 'string' },
      'no-floor': { type: 'boolean' },
      'floor-local-db': { type: 'boolean' },
      'load-fraction': { type: 'string' },
      'history-samples': { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const concurrencyText = values.concurrency ?? env.BENCH_CONCURRENCY ?? '20';
  const concurrency = concurrencyText.split(',').map((part) => integer('--concurrency', part.trim(), 20));
  const serverNames = (values.servers ?? env.BENCH_SERVERS ?? 'wal').split(',').map((name) => name.trim());
  const servers = serverNames.map((name) => {
    const pragmas = /^sqlite:(.+)$/.exec(name)?.[1];
    if (pragmas) {
      const list = pragmas.split('+');
      if (!list.every((pragma) => /^[a-z_]+=[A-Za-z0-9_-]+$/.test(pragma))) throw new Error(`--servers: '${name}' must be sqlite:PRAGMA=VALUE[+PRAGMA=VALUE...]`);
      return { name, description: `dev server, SQLite file, ${list.join(' ')}`, sqlite: 'file' as const, pragmas: list };
    }
    const profile = SERVER_PROFILES[name];
    if (!profile) throw new Error(`--servers: no server '${name}' (choose from ${Object.keys(SERVER_PROFILES).join(', ')})`);
    if (name === 'external' && !env.TEMPORAL_ADDRESS) throw new Error('--servers external needs TEMPORAL_ADDRESS');
    return profile;
  });
  const fractionText = values['load-fraction'] ?? env.BENCH_LOAD_FRACTION;
  const loadFraction = fractionText === undefined || fractionText === '' ? undefined : Number(fractionText);
  if (loadFraction !== undefined && !(loadFraction > 0 && loadFraction <= 1)) throw new Error(`--load-fraction must be above 0 and at most 1, not '${fractionText}'`);
  const warmupText = values.warmup ?? env.BENCH_WARMUP;
  return {
    checkouts: integer('--checkouts', values.checkouts ?? env.BENCH_CHECKOUTS, 100),
    orders: integer('--orders', values.orders ?? env.BENCH_ORDERS, 3),
    concurrency: [...new Set(concurrency)].sort((a, b) => a - b),
    warmup: warmupText === undefined || warmupText === '' ? undefined : integer('--warmup', warmupText, 0, 0),
    servers,
    pspLatencyMs: integer('--psp-latency', values['psp-latency'] ?? env.SIMULATED_PSP_LATENCY_MS, 20, 0),
    floor: !(values['no-floor'] ?? env.BENCH_FLOOR === '0'),
    floorLocalDatabaseSteps: values['floor-local-db'] ?? env.BENCH_FLOOR_LOCAL_DB === '1',
    loadFraction,
    historySamples: integer('--history-samples', values['history-samples'] ?? env.BENCH_HISTORY_SAMPLES, 5, 0),
    timeoutMs: integer('--timeout', values.timeout ?? env.BENCH_TIMEOUT_S, 120) * 1000,
    out: values.out ?? env.BENCH_OUT,
    keep: values.keep ?? env.BENCH_KEEP === '1',
    help: values.help ?? false,
  };
}
