import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildSettle, type Build } from './support/build';
import { freePorts } from '../dev/ports';
import { eventually } from './support/settle';

/**
 * `npm start` as a developer runs it, stopped each way a developer stops it: the process must end on its own
 * (exit code 0), having stopped the API, the Temporal dev server and the embedded PostgreSQL it started.
 */
const ROOT = path.resolve(__dirname, '..');
/** Longer than any stop may take (the worker lets running activities finish for up to 30 s). */
const EXIT_WITHIN_MS = 120_000;

let build: Build;
const started: NpmStart[] = [];

beforeAll(async () => {
  build = await buildSettle();
}, 300_000);

afterEach(async () => {
  // A start that did not stop is not left running for the next test (nor its PostgreSQL and dev server).
  for (const settle of started.splice(0)) {
    for (const pid of [settle.child.pid!, ...settle.descendants]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await settle.exited;
    await rm(settle.dataDir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  if (build) await rm(build.dir, { recursive: true, force: true });
});

describe('npm start stopped', () => {
  it('with SIGINT to its process alone exits 0, its API, Temporal dev server and PostgreSQL gone', async () => {
    const settle = await startSettle();
    settle.child.kill('SIGINT');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with SIGTERM to its process alone exits 0, everything it started gone', async () => {
    const settle = await startSettle();
    settle.child.kill('SIGTERM');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with SIGINT to its process group (Ctrl-C) exits 0, everything it started gone', async () => {
    const settle = await startSettle();
    process.kill(-settle.child.pid!, 'SIGINT');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with a second SIGINT while it stops exits 0, everything it started gone', async () => {
    const settle = await startSettle();
    settle.child.kill('SIGINT');
    await eventually('the stop to begin', async () => settle.output().includes('stopping ...') || settle.child.exitCode !== null, 60_000);
    settle.child.kill('SIGINT');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with a second Ctrl-C to its process group while it stops exits 0, everything it started gone', async () => {
    const settle = await startSettle();
    process.kill(-settle.child.pid!, 'SIGINT');
    await eventually('the stop to begin', async () => settle.output().includes('stopping ...') || settle.child.exitCode !== null, 60_000);
    if (settle.child.exitCode === null) process.kill(-settle.child.pid!, 'SIGINT');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with SIGINT while it starts (PostgreSQL up, Temporal starting) exits 0, everything it started gone', async () => {
    const settle = await startSettle({ until: 'starting the Temporal dev server' });
    settle.child.kill('SIGINT');
    await expectStoppedCleanly(settle);
  }, 240_000);

  it('with SIGINT while checkouts and a webhook endpoint are at work exits 0, everything it started gone', async () => {
    const settle = await startSettle();
    // A receiver that takes the connection and never answers: a delivery attempt is under way at the stop.
    const receiver = createServer(() => undefined);
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const receiverPort = (receiver.address() as { port: number }).port;
      const endpoint = await settle.post('/v1/webhook-endpoints', { url: `http://127.0.0.1:${receiverPort}/hook`, events: ['*'] });
      expect(endpoint.status).toBe(201);
      for (let i = 0; i < 3; i += 1) {
        const created = await settle.post('/v1/checkouts', {
          customerId: `cus_stop_${i}`,
          currency: 'USD',
          paymentMethod: 'pm_card_visa',
          orders: [{ sellerId: `seller_stop_${i}`, amount: 1000 + i }],
        });
        expect(created.status).toBe(202);
      }
      settle.child.kill('SIGINT');
      await expectStoppedCleanly(settle);
    } finally {
      receiver.close();
    }
  }, 240_000);
});

interface NpmStart {
  child: ChildProcess;
  dataDir: string;
  ports: { api: number; postgres: number; temporal: number; temporalUi: number };
  /** Every process it started (PostgreSQL and its workers, the Temporal CLI), seen while it ran. */
  descendants: Set<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  post(route: string, body: unknown): Promise<Response>;
}

/**
 * `node dist/dev/start.js` with ports and a data folder of its own, in a process group of its own; answers once its API is
 * ready, or once it prints `until`.
 */
async function startSettle(options: { until?: string } = {}): Promise<NpmStart> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'settle-start-'));
  await chmod(dataDir, 0o755); // PostgreSQL runs as the postgres user and must reach its folder
  const [api, postgres, temporal, temporalUi] = (await freePorts(4)) as [number, number, number, number];
  const env: NodeJS.ProcessEnv = {
    ...build.env,
    PORT: String(api),
    EMBEDDED_PG_PORT: String(postgres),
    TEMPORAL_DEV_PORT: String(temporal),
    TEMPORAL_UI_PORT: String(temporalUi),
    SETTLE_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
  // Its own PostgreSQL and Temporal, and its own key: nothing of the test run's.
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SETTLE_API_KEY', 'WORKER_METRICS_ADDRESS']) delete env[name];
  if (process.env.SETTLE_TEST_TEMPORAL_CLI) env.TEMPORAL_CLI = process.env.SETTLE_TEST_TEMPORAL_CLI;

  const child = spawn(process.execPath, [path.join(build.dir, 'dev', 'start.js')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const descendants = new Set<number>();
  const settle: NpmStart = {
    child,
    dataDir,
    ports: { api, postgres, temporal, temporalUi },
    descendants,
    exited,
    output: () => output,
    post: (route, body) =>
      fetch(`http://127.0.0.1:${api}${route}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `${route}-${Math.random()}`, Authorization: `Bearer ${apiKey()}` },
        body: JSON.stringify(body),
      }),
  };
  started.push(settle);
  const apiKey = () => /^API key: (\S+)$/m.exec(output)?.[1];

  if (options.until) {
    const until = options.until;
    await eventually(`npm start to print '${until}'`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited at start:\n${output}`);
      return output.includes(until);
    }, 180_000);
    for (const pid of descendantsOf(child.pid!)) descendants.add(pid);
    return settle;
  }
  await eventually(
    'npm start to print its API key and answer /readyz',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited at start:\n${output}`);
      if (!apiKey()) return false;
      return fetch(`http://127.0.0.1:${api}/readyz`).then((response) => response.ok, () => false);
    },
    180_000,
  );
  for (const pid of descendantsOf(child.pid!)) descendants.add(pid);
  expect(descendants.size).toBeGreaterThan(0);
  return settle;
}

/** The process ends by itself with exit code 0; nothing it started runs on, nor listens on its ports. */
async function expectStoppedCleanly(settle: NpmStart): Promise<void> {
  // Processes started while it stops count too.
  const watch = setInterval(() => {
    for (const pid of descendantsOf(settle.child.pid!)) settle.descendants.add(pid);
  }, 100);
  let timer: NodeJS.Timeout | undefined;
  try {
    const ended = await Promise.race([
      settle.exited,
      new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), EXIT_WITHIN_MS))),
    ]);
    if (ended === 'still running') {
      const running = [...settle.descendants].filter(alive);
      throw new Error(
        `npm start was still running ${EXIT_WITHIN_MS / 1000} s after it was told to stop (its children still running: ${running.join(', ') || 'none'}); its output ends:\n${settle.output().slice(-4000)}`,
      );
    }
    expect({ ...ended, output: ended.code === 0 ? '' : settle.output().slice(-4000) }).toEqual({ code: 0, signal: null, output: '' });
  } finally {
    clearInterval(watch);
    clearTimeout(timer);
  }
  // PostgreSQL's and the dev server's processes end with them; none is left behind.
  await eventually('every process npm start started to end', async () => [...settle.descendants].every((pid) => !alive(pid)), 30_000).catch(() => undefined);
  expect([...settle.descendants].filter(alive).map(describeProcess)).toEqual([]);
  const { api, postgres, temporal, temporalUi } = settle.ports;
  expect(await Promise.all([api, postgres, temporal, temporalUi].map(listening))).toEqual([false, false, false, false]);
}

/** Whether the process runs (a zombie, ended and waiting to be reaped, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function describeProcess(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`;
  } catch {
    return String(pid);
  }
}

/** Every process below this one, from /proc. */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // ended meanwhile
    }
  }
  const found: number[] = [];
  const below = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid && !found.includes(child)) {
        found.push(child);
        below(child);
      }
    }
  };
  below(root);
  return found;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
