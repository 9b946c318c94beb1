import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createApiKey } from '../../db/apiKeys';
import type { Pool } from '../../db/pool';
import type { Build } from './build';
import { freePort } from './ports';
import { eventually, uniqueId } from './settle';

/** A production process started from a build, seen from outside as an operator sees it. */
export interface SettleProcess {
  child: ChildProcess;
  /** The worker identity Temporal records: the SDK's default, pid@host. */
  identity: string;
  /** Everything it wrote so far, stdout and stderr together. */
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILL, unless it has ended already. */
  kill(): void;
}

/** `npm run api` as started here: where it listens, and a key it accepts. */
export interface SettleApiProcess extends SettleProcess {
  url: string;
  authHeaders: { Authorization: string };
}

/**
 * The production processes of one build, as `npm run worker` and `npm run api` start them, each with the
 * environment given plus its own settings. Every process started is kept, so that a test file ends them all.
 */
export class SettleProcesses {
  private readonly started: SettleProcess[] = [];

  constructor(
    private readonly build: Build,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** `node <build>/<script>`, its output collected. */
  start(script: string, extraEnv: NodeJS.ProcessEnv = {}): SettleProcess {
    const child = spawn(process.execPath, [path.join(this.build.dir, script)], { env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started: SettleProcess = {
      child,
      identity: `${child.pid}@${os.hostname()}`,
      output: () => output,
      exited,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
    this.started.push(started);
    return started;
  }

  /** `npm run worker`; answers once it polls (it has migrated the database by then). */
  async worker(extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<SettleProcess> {
    const worker = this.start(path.join('workers', 'main.js'), extraEnv);
    await eventually(
      'the worker to poll',
      async () => {
        if (worker.child.exitCode !== null) throw new Error(`the worker exited at start:\n${worker.output()}`);
        return worker.output().includes('worker polling');
      },
      timeoutMs,
    );
    return worker;
  }

  /** `npm run api` on a migrated database, and a key it accepts (made through pool); answers once /readyz says ready. */
  async api(pool: Pool, extraEnv: NodeJS.ProcessEnv = {}): Promise<SettleApiProcess> {
    const { key } = await createApiKey(pool, 'production process test');
    const port = await freePort();
    const api = this.start(path.join('api', 'main.js'), { ...extraEnv, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    await eventually(
      'the API to answer',
      async () => {
        if (api.child.exitCode !== null) throw new Error(`the API exited at start:\n${api.output()}`);
        return fetch(`${url}/readyz`).then((response) => response.ok, () => false);
      },
      60_000,
    );
    return { ...api, url, authHeaders: { Authorization: `Bearer ${key}` } };
  }

  /** Kills every process started that still runs, and waits for each to end. */
  async killAll(): Promise<void> {
    for (const started of this.started) started.kill();
    await Promise.all(this.started.map((started) => started.exited));
  }
}

/**
 * A checkout created through the API process (USD, pm_card_visa, two orders of 12.00 and 34.00 unless
 * overridden), accepted with 202; answers its id.
 */
export async function createCheckout(api: SettleApiProcess, overrides: Record<string, unknown> = {}): Promise<{ checkoutId: string }> {
  const created = await fetch(`${api.url}/v1/checkouts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': uniqueId('key'), ...api.authHeaders },
    body: JSON.stringify({
      customerId: uniqueId('cus'),
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
      orders: [
        { sellerId: uniqueId('seller'), amount: 1200 },
        { sellerId: uniqueId('seller'), amount: 3400 },
      ],
      ...overrides,
    }),
  });
  expect(created.status).toBe(202);
  return (await created.json()) as { checkoutId: string };
}
