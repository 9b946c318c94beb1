import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { checkoutWorkflowId } from '../domain/ids';
import { CHECKOUT_STATUSES, isTerminalCheckoutStatus } from '../domain/status';
import { CheckoutStatusAttribute, CustomerIdAttribute } from '../workflows/definitions';
import type { floorCheckoutWorkflow } from './floor/workflows';
import type { Progress } from './progress';

/** What the load generator drives: Settle through its HTTP API, or the floor through the Temporal client. */
export interface System {
  name: 'settle' | 'floor';
  /** Starts a checkout; `key` is unique to it in the run (its Idempotency-Key); answers its id. */
  start(key: string, index: number): Promise<string>;
  /** When (this process's clock, ms) the checkout reached a terminal state, and which. */
  ended(id: string, timeoutMs: number): Promise<Ended>;
  /** The Temporal workflow id of a checkout. */
  workflowId(id: string): string;
}

export interface Outcome {
  index: number;
  id?: string;
  startedAt: number;
  /** How long the start took to answer (the POST, or the floor's workflow start). */
  startMs?: number;
  endedAt?: number;
  /** The terminal status, or start_failed / timeout. */
  status: string;
  error?: string;
}

const TERMINAL_EVENTS = new Map(
  CHECKOUT_STATUSES.filter(isTerminalCheckoutStatus).map((status) => [`checkout.${status.toLowerCase()}`, status]),
);

export interface Ended {
  /** This machine's clock, ms. */
  at: number;
  status: string;
}

/** Checkouts waited for, by id, and ends reported before anyone waited for them. */
export class Ends {
  private readonly waiting = new Map<string, (ended: Ended) => void>();
  /** Ends seen before anyone waited (a checkout that ended before its start answered). */
  private readonly early = new Map<string, Ended>();

  get waited(): number {
    return this.waiting.size;
  }

  wait(id: string, timeoutMs: number): Promise<Ended> {
    const known = this.early.get(id);
    if (known) {
      this.early.delete(id);
      return Promise.resolve(known);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ at: Date.now(), status: 'timeout' });
      }, timeoutMs);
      this.waiting.set(id, (ended) => {
        clearTimeout(timer);
        resolve(ended);
      });
    });
  }

  report(id: string, ended: Ended): void {
    const waiter = this.waiting.get(id);
    if (waiter) {
      this.waiting.delete(id);
      waiter(ended);
    } else if (this.early.size < 10_000) this.early.set(id, ended);
  }
}

/**
 * Learns when checkouts end from Settle's event feed (GET /v1/events): one request every `intervalMs`, and
 * only while some checkout is waited for, whatever the number in flight. Asking each checkout
 * (GET /v1/checkouts/:id runs a workflow query while it is live) would load the server being measured.
 * The time taken is the event's own (when the outcome was committed), not when the poll saw it.
 */
export class EventFeed {
  private cursor: string | undefined;
  private readonly ends = new Ends();
  private polling = false;
  private failure: Error | undefined;

  constructor(
    private readonly apiUrl: string,
    private readonly apiKey: string,
    private readonly intervalMs = 50,
  ) {}

  /** Skips every event so far: what ended before the run is not waited for. */
  async skipToEnd(): Promise<void> {
    for (;;) {
      const page = await this.read(false);
      if (!page.hasMore) return;
    }
  }

  ended(checkoutId: string, timeoutMs: number): Promise<Ended> {
    const ended = this.ends.wait(checkoutId, timeoutMs);
    if (!this.polling) void this.poll();
    return ended;
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      while (this.ends.waited > 0) {
        let hasMore = false;
        try {
          hasMore = (await this.read(true)).hasMore;
          this.failure = undefined;
        } catch (error) {
          if (!this.failure) process.stderr.write(`\nthe event feed failed (retrying): ${(error as Error).message}\n`);
          this.failure = error as Error;
        }
        if (!hasMore) await sleep(this.intervalMs);
      }
    } finally {
      this.polling = false;
    }
  }

  private async read(report: boolean): Promise<{ hasMore: boolean }> {
    const query = new URLSearchParams({ limit: '500', ...(this.cursor ? { after: this.cursor } : {}) });
    const response = await fetch(`${this.apiUrl}/v1/events?${query}`, { headers: { Authorization: `Bearer ${this.apiKey}` } });
    if (response.status !== 200) throw new Error(`GET /v1/events answered ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as { data: Array<{ type: string; checkoutId: string | null; createdAt: string }>; nextCursor: string; hasMore: boolean };
    for (const event of page.data) {
      const status = TERMINAL_EVENTS.get(event.type);
      if (report && status && event.checkoutId) this.ends.report(event.checkoutId, { at: Date.parse(event.createdAt), status });
    }
    this.cursor = page.nextCursor;
    return { hasMore: page.hasMore };
  }
}

/** Settle through its API: POST /v1/checkouts with an Idempotency-Key; the end from the event feed. */
export function settleSystem(options: { apiUrl: string; apiKey: string; feed: EventFeed; orders: number }): System {
  return {
    name: 'settle',
    async start(key, index) {
      const response = await fetch(`${options.apiUrl}/v1/checkouts`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `bench-${key}`, Authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify({
          customerId: `bench_customer_${index % 100}`,
          currency: 'USD',
          paymentMethod: 'pm_card_visa',
          // Sellers spread over a thousand, as on a marketplace: not every capture credits the same wallet row.
          orders: Array.from({ length: options.orders }, (_, order) => ({
            sellerId: `bench_seller_${(index * options.orders + order) % 1000}`,
            amount: 1_000 + order,
          })),
        }),
      });
      const body = (await response.json().catch(() => ({}))) as { checkoutId?: string };
      if (response.status !== 202 || !body.checkoutId) throw new Error(`POST /v1/checkouts answered ${response.status}: ${JSON.stringify(body)}`);
      // A replay answers a checkout started before, whose end has already gone by.
      if (response.headers.get('Idempotent-Replayed')) throw new Error(`POST /v1/checkouts replayed the Idempotency-Key bench-${key}`);
      return body.checkoutId;
    },
    ended: (id, timeoutMs) => options.feed.ended(id, timeoutMs),
    workflowId: checkoutWorkflowId,
  };
}

/**
 * The floor: its checkout workflow started by the Temporal client as the API starts Settle's. Its outcome
 * step reports to its worker's output (a line `ended <workflow id> <ms>`), as Settle's is committed to its
 * database, so that neither is learnt by asking the server being measured.
 */
export function floorSystem(options: { client: Client; taskQueue: string; orders: number; localDatabaseSteps: boolean; ends: Ends }): System {
  return {
    name: 'floor',
    async start(key, index) {
      const handle = await options.client.workflow.start<typeof floorCheckoutWorkflow>('floorCheckoutWorkflow', {
        workflowId: `floor-${key}`,
        taskQueue: options.taskQueue,
        args: [{ orders: options.orders, localDatabaseSteps: options.localDatabaseSteps }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: CheckoutStatusAttribute, value: 'PENDING' },
          { key: CustomerIdAttribute, value: `bench_customer_${index % 100}` },
        ],
      });
      return handle.workflowId;
    },
    ended: (id, timeoutMs) => options.ends.wait(id, timeoutMs),
    workflowId: (id) => id,
  };
}

/** Reads a floor worker's output line; answers whether it was an outcome. */
export function floorEnded(line: string, ends: Ends): boolean {
  const match = /^ended (\S+) (\d+)$/.exec(line);
  if (match) ends.report(match[1]!, { at: Number(match[2]), status: 'SUCCEEDED' });
  return match !== null;
}

async function runOne(system: System, phase: string, index: number, timeoutMs: number): Promise<Outcome> {
  const startedAt = Date.now();
  let id: string;
  try {
    id = await system.start(`${phase}-${index}`, index);
  } catch (error) {
    return { index, startedAt, status: 'start_failed', error: (error as Error).message };
  }
  const startMs = Date.now() - startedAt;
  const ended = await system.ended(id, timeoutMs);
  return { index, id, startedAt, startMs, ...(ended.status === 'timeout' ? {} : { endedAt: ended.at }), status: ended.status };
}

function progressDetail(outcomes: Outcome[], inFlight: number, startedAt: number): string {
  const done = outcomes.filter((outcome) => outcome.endedAt !== undefined).length;
  const seconds = (Date.now() - startedAt) / 1000;
  const failed = outcomes.filter((outcome) => outcome.status !== 'SUCCEEDED').length;
  return `${inFlight} in flight, ${seconds > 0 ? (done / seconds).toFixed(2) : '0'}/s${failed > 0 ? `, ${failed} not succeeded` : ''}`;
}

export interface LoadOptions {
  /** Unique to the phase in the run: part of every checkout's key. */
  phase: string;
  total: number;
  timeoutMs: number;
  progress: Progress;
}

/** Keeps `concurrency` checkouts in flight, starting the next as soon as one ends, until `total` are done. */
export async function closedLoop(system: System, options: LoadOptions & { concurrency: number }): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const startedAt = Date.now();
  let next = 0;
  let inFlight = 0;
  const slot = async () => {
    while (next < options.total) {
      const index = next++;
      inFlight += 1;
      const outcome = await runOne(system, options.phase, index, options.timeoutMs);
      inFlight -= 1;
      outcomes.push(outcome);
      options.progress.update(outcomes.length, progressDetail(outcomes, inFlight, startedAt));
      // A start refused at once would otherwise spin: give the server a moment.
      if (outcome.status === 'start_failed') await sleep(200);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.total) }, slot));
  options.progress.finish();
  return outcomes.sort((a, b) => a.index - b.index);
}

/** Starts checkouts at a fixed rate, whether or not earlier ones have ended (the way customers arrive). */
export async function openLoop(system: System, options: LoadOptions & { perSecond: number }): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const startedAt = Date.now();
  let inFlight = 0;
  const running: Array<Promise<void>> = [];
  for (let index = 0; index < options.total; index++) {
    const due = startedAt + (index * 1000) / options.perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    inFlight += 1;
    running.push(
      runOne(system, options.phase, index, options.timeoutMs).then((outcome) => {
        inFlight -= 1;
        outcomes.push(outcome);
        options.progress.update(outcomes.length, progressDetail(outcomes, inFlight, startedAt));
      }),
    );
  }
  await Promise.all(running);
  options.progress.finish();
  return outcomes.sort((a, b) => a.index - b.index);
}

/** History events of a checkout: its own workflow's and each of its child workflows'. */
export async function historyEvents(client: Client, workflowId: string): Promise<{ checkout: number; orders: number[] }> {
  const count = async (id: string) => {
    const history = await client.workflow.getHandle(id).fetchHistory();
    return history.events ?? [];
  };
  const events = await count(workflowId);
  const childIds = events.flatMap((event) => {
    const id = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    return id ? [id] : [];
  });
  const orders = await Promise.all(childIds.map(async (id) => (await count(id)).length));
  return { checkout: events.length, orders };
}
