import { randomBytes } from 'node:crypto';
import type { EventRecord } from '../../db/events';
import { verifyBooks } from '../../db/verify';
import { checkEventFeed, checkInvariants, readEventFeed, type Violation } from '../support/invariants';
import type { PspKind } from '../support/psps';
import { startSettle, type TestSettle } from '../support/settle';
import { CheckoutWatcher, runScenario, type ScenarioOutcome } from './driver';
import { describeScenario, drawScenario } from './scenario';

export interface ExploreOptions {
  /** How many scenarios; scenario i is drawn from seed + i. */
  scenarios: number;
  seed: number;
  /** Which PSP; 'both' runs even seeds on the simulator and odd ones on the Stripe stand-in. */
  psp: PspKind | 'both';
  /** Scenarios under way at once, over both PSPs. */
  concurrency: number;
  /** A manual-capture checkout's window; short, so that expiry and captures racing it happen. */
  authorizationWindowMs: number;
  /** From a scenario's first request, how long its checkout, refunds and orders may take to end. */
  finishWithinMs: number;
  /** Where the run's lines go (progress, each violation with its replay command). */
  print: (line: string) => void;
  /** How the replay command starts, e.g. 'npm run test:explore'. */
  replayCommand: string;
  /**
   * The Stripe stand-in keeps no idempotency keys; with this (the default) the fault proxy keeps them as
   * Stripe does. Off, a PSP that ignores keys is explored.
   */
  stripeIdempotency?: boolean;
  /** Print every scenario, what the client did and how it ended, not only the failing ones. */
  verbose?: boolean;
}

export interface ExploreResult {
  explored: number;
  violations: Violation[];
  /** Seeds with at least one violation, and the command that replays each. */
  failing: Array<{ seed: number; psp: PspKind; replay: string; description: string }>;
  summary: string;
}

export function pspForSeed(seed: number, psp: ExploreOptions['psp']): PspKind {
  if (psp !== 'both') return psp;
  return seed % 2 === 0 ? 'simulated' : 'stripe';
}

export function summaryLine(explored: number, seed: number, violations: number): string {
  return `explored ${explored} scenarios (seed ${seed}): ${violations} violations`;
}

interface Instance {
  settle: TestSettle;
  watcher: CheckoutWatcher;
  tail: FeedTail;
  checkoutIds: Map<string, { seed: number; label: string }>;
}

/**
 * Runs seeded scenarios concurrently against one Settle per PSP kind, checks every invariant after each,
 * and at the end checks that the event feed (tailed while the scenarios ran, and read again from the start)
 * holds every event of every checkout exactly once.
 */
export async function explore(options: ExploreOptions): Promise<ExploreResult> {
  const { print } = options;
  const seeds = Array.from({ length: options.scenarios }, (_, index) => options.seed + index);
  const kinds = [...new Set(seeds.map((seed) => pspForSeed(seed, options.psp)))];
  const runId = randomBytes(4).toString('hex');
  const cliPath = process.env.SETTLE_TEST_TEMPORAL_CLI;
  const address = process.env.SETTLE_TEST_TEMPORAL_ADDRESS!;
  if (!cliPath) print('no temporal CLI: signals from the shell are skipped');

  const instances = new Map<PspKind, Instance>();
  for (const kind of kinds) {
    // A database of its own: `verify` and the feed then speak of this run's checkouts only.
    const settle = await startSettle({ psp: kind, isolatedDatabase: true, authorizationWindowMs: options.authorizationWindowMs });
    if (options.stripeIdempotency !== false) settle.psp.honourIdempotencyKeys?.();
    const tail = new FeedTail(settle);
    tail.start();
    instances.set(kind, { settle, watcher: new CheckoutWatcher(settle.pool), tail, checkoutIds: new Map() });
  }

  const violations: Violation[] = [];
  /** How the checkouts ended, so a run shows which paths it went down. */
  const outcomes = new Map<string, number>();
  const failing: ExploreResult['failing'] = [];
  let explored = 0;
  const replay = (seed: number, kind: PspKind) =>
    `EXPLORE_SEED=${seed} EXPLORE_SCENARIOS=1 EXPLORE_PSP=${kind}${options.stripeIdempotency === false && kind === 'stripe' ? ' EXPLORE_STRIPE_IDEMPOTENCY=0' : ''} ${options.replayCommand}`;
  const record = (seed: number, kind: PspKind, description: string, found: Violation[], log: string[]) => {
    if (found.length === 0) return;
    violations.push(...found);
    if (!failing.some((f) => f.seed === seed)) failing.push({ seed, psp: kind, replay: replay(seed, kind), description });
    print(
      [
        `VIOLATION seed ${seed} (${kind}): ${description}`,
        ...found.map((violation) => `  ${violation.message}`),
        ...log.map((line) => `    ${line}`),
        `  replay: ${replay(seed, kind)}`,
      ].join('\n'),
    );
  };

  const runOne = async (seed: number) => {
    const kind = pspForSeed(seed, options.psp);
    const instance = instances.get(kind)!;
    const scenario = drawScenario(seed, { authorizationWindowMs: options.authorizationWindowMs });
    const description = describeScenario(scenario);
    const label = `seed ${seed} ${kind}`;
    let outcome: ScenarioOutcome;
    try {
      outcome = await runScenario(
        {
          settle: instance.settle,
          watcher: instance.watcher,
          runId,
          finishWithinMs: options.finishWithinMs,
          cli: cliPath ? { path: cliPath, address } : undefined,
        },
        scenario,
        label,
      );
    } catch (error) {
      // The explorer's own failure, not Settle's: named, so that it is fixed rather than counted as a finding.
      const message = `[${label}] explorer: the scenario could not be played: ${(error as Error).stack ?? error}`;
      record(seed, kind, description, [{ invariant: 'explorer', subject: label, message }], []);
      return;
    }
    for (const checkoutId of outcome.checkoutIds) instance.checkoutIds.set(checkoutId, { seed, label });
    for (const ending of await endings(instance.settle, outcome.checkoutIds)) outcomes.set(ending, (outcomes.get(ending) ?? 0) + 1);
    const found = [
      ...outcome.violations,
      ...(await checkInvariants({
        pool: instance.settle.pool,
        psp: instance.settle.psp,
        checkoutIds: outcome.checkoutIds,
        label,
        settleWithinMs: 5_000,
        verify: 'scoped',
      })),
    ];
    record(seed, kind, description, found, outcome.log);
    if (options.verbose && found.length === 0) {
      print([`ok seed ${seed} (${kind}): ${description}`, ...outcome.log.map((line) => `    ${line}`)].join('\n'));
    }
    explored += 1;
    if (explored % 50 === 0 || explored === seeds.length) print(`... ${explored}/${seeds.length} scenarios, ${violations.length} violations so far`);
  };

  const queue = [...seeds];
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, queue.length) }, async () => {
      for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) await runOne(seed);
    }),
  );

  // Once more over every checkout, now that everything has ended: what landed after a scenario's own check
  // (a late PSP answer, a retry that went on) is laid to its scenario here.
  for (const [kind, instance] of instances) {
    const reported = new Set(violations.map((violation) => violation.message));
    const verified = await verifyBooks(instance.settle.pool, 10_000);
    for (const [checkoutId, { seed, label }] of instance.checkoutIds) {
      const late = (
        await checkInvariants({ pool: instance.settle.pool, psp: instance.settle.psp, checkoutIds: [checkoutId], label, verify: 'scoped', verified })
      ).filter((violation) => !reported.has(violation.message));
      record(seed, kind, `(checked again at the end of the run: ${checkoutId})`, late, []);
    }
  }

  // The feed: as a consumer tailing it during the run saw it, and read again from the start now.
  for (const [kind, instance] of instances) {
    const tailed = await instance.tail.stop();
    const fromStart = await readEventFeed(instance.settle);
    for (const [feedName, feed] of [
      ['the feed tailed during the run', tailed],
      ['the feed read from the start', fromStart],
    ] as const) {
      for (const [checkoutId, { seed, label }] of instance.checkoutIds) {
        const found = await checkEventFeed({ pool: instance.settle.pool, feed, checkoutIds: [checkoutId], label, feedName });
        record(seed, kind, `(feed check of ${checkoutId})`, found, []);
      }
    }
    instance.watcher.stop();
    await instance.settle.stop();
  }

  print(`outcomes: ${[...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([ending, count]) => `${ending} ${count}`).join(', ')}`);
  const summary = summaryLine(explored, options.seed, violations.length);
  if (failing.length > 0) {
    print(`${failing.length} failing seeds:`);
    for (const f of failing) print(`  ${f.replay}`);
  }
  return { explored, violations, failing, summary };
}

/** Each checkout's status, with its attention record's code if it has one. */
async function endings(settle: TestSettle, checkoutIds: string[]): Promise<string[]> {
  const query = (attention: string) =>
    settle.pool.query<{ status: string; attention: string | null }>(`SELECT status, ${attention} AS attention FROM checkouts WHERE id = ANY($1)`, [
      checkoutIds,
    ]);
  // A schema without the attention record still names the statuses.
  const { rows } = await query('attention_code').catch(() => query('NULL'));
  return rows.map((row) => `${row.status}${row.attention ? `/${row.attention}` : ''}`);
}

/** A consumer of GET /v1/events that follows the feed page by page while the scenarios run, as a real one would. */
class FeedTail {
  private readonly events: EventRecord[] = [];
  private cursor: string | undefined;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly api: { baseUrl: string; authHeaders: Record<string, string> }) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const more = await this.readPage().catch(() => false);
        if (!more) await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
  }

  /** Stops following, reads what is left, and answers everything seen. */
  async stop(): Promise<EventRecord[]> {
    this.running = false;
    await this.loop;
    while (await this.readPage());
    return this.events;
  }

  private async readPage(): Promise<boolean> {
    const url = `${this.api.baseUrl}/v1/events?limit=200${this.cursor ? `&after=${encodeURIComponent(this.cursor)}` : ''}`;
    const response = await fetch(url, { headers: this.api.authHeaders });
    if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
    const page = (await response.json()) as { data: EventRecord[]; nextCursor: string; hasMore: boolean };
    this.events.push(...page.data);
    this.cursor = page.nextCursor;
    return page.hasMore;
  }
}
