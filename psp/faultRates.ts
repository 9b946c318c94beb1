import { createHash } from 'node:crypto';
import type { PlannedFault, PspFault, PspOperation } from './faults';

/**
 * Faults at configured rates, for a running system on the simulated PSP (SIMULATED_PSP_FAULTS): where a
 * test plans one fault for one order (FaultPlan), an operator asks for "5 % of calls fail" and watches what
 * Settle does with it.
 */

export const RANDOM_FAULT_KINDS = ['transient', 'lost', 'slow', 'decline'] as const;
export type RandomFaultKind = (typeof RANDOM_FAULT_KINDS)[number];

const OPERATIONS: readonly PspOperation[] = ['authorize', 'capture', 'void', 'refund'];

export interface FaultRate {
  kind: RandomFaultKind;
  /** The probability that one call meets this fault, 0 to 1. */
  rate: number;
  operations: readonly PspOperation[];
  /** For slow calls: how long the answer takes. */
  delayMs?: number;
}

/** The longest slow call a rate may ask for: longer than any activity timeout, short enough to end. */
export const MAX_SLOW_MS = 600_000;

/**
 * Reads `kind[@operation]=rate[:ms]` entries separated by commas, e.g.
 * `transient=0.05,lost=0.02,slow=0.01:40000,decline@authorize=0.02`:
 * - transient: the call fails before the PSP processes it (an outage);
 * - lost: the PSP processes the call, then its answer is lost (a timeout after commit);
 * - slow: the answer comes after the given milliseconds;
 * - decline: the PSP declines the call (a card decline; a refused capture, void or refund).
 * Without `@operation` a kind applies to every operation. Throws a message naming what is wrong.
 */
export function parseFaultRates(spec: string): FaultRate[] {
  const rates: FaultRate[] = [];
  for (const entry of spec.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    const match = /^([a-z]+)(?:@([a-z]+))?=([0-9.]+)(?::(\d+))?$/.exec(entry);
    if (!match) throw new Error(`'${entry}' is not kind[@operation]=rate[:ms], e.g. transient=0.05 or slow=0.01:40000`);
    const [, kind, operation, rateText, delayText] = match;
    if (!isKind(kind)) throw new Error(`'${entry}': unknown fault '${kind}' (known: ${RANDOM_FAULT_KINDS.join(', ')})`);
    const rate = Number(rateText);
    if (!/^(0|1)?(\.\d+)?$/.test(rateText!) || !(rate >= 0 && rate <= 1)) {
      throw new Error(`'${entry}': the rate must be a number from 0 to 1`);
    }
    if (operation !== undefined && !OPERATIONS.includes(operation as PspOperation)) {
      throw new Error(`'${entry}': unknown operation '${operation}' (known: ${OPERATIONS.join(', ')})`);
    }
    if (kind === 'slow' && delayText === undefined) throw new Error(`'${entry}': a slow call needs its delay, e.g. slow=${rateText}:40000`);
    if (kind !== 'slow' && delayText !== undefined) throw new Error(`'${entry}': only slow takes a delay`);
    const delayMs = delayText === undefined ? undefined : Number(delayText);
    if (delayMs !== undefined && delayMs > MAX_SLOW_MS) throw new Error(`'${entry}': the delay must be at most ${MAX_SLOW_MS} ms`);
    rates.push({
      kind,
      rate,
      operations: operation === undefined ? OPERATIONS : [operation as PspOperation],
      ...(delayMs === undefined ? {} : { delayMs }),
    });
  }
  for (const operation of OPERATIONS) {
    const total = rates.filter((rate) => rate.operations.includes(operation)).reduce((sum, rate) => sum + rate.rate, 0);
    if (total > 1 + 1e-9) throw new Error(`the rates for ${operation} add up to ${Number(total.toFixed(6))}, more than 1`);
  }
  return rates;
}

function isKind(kind: string | undefined): kind is RandomFaultKind {
  return (RANDOM_FAULT_KINDS as readonly string[]).includes(kind ?? '');
}

/** A fault one call met, for whoever counts them. */
export interface InjectedFault {
  kind: RandomFaultKind;
  operation: PspOperation;
  idempotencyKey: string;
  /** Which call with this key, in this process, met it (1 for the first). */
  attempt: number;
}

/** Where the simulator asks, on every call, whether that call meets a fault. */
export interface RandomFaultSource {
  take(operation: PspOperation, idempotencyKey: string): PlannedFault | undefined;
}

/** Calls remembered per process for attempt numbers; the oldest are forgotten beyond this many. */
const REMEMBERED_CALLS = 100_000;

/**
 * Draws, for each call, whether it meets a fault. The draw is a hash of (seed, operation, idempotency key,
 * attempt), not a shared random stream: the same seed gives the same call the same fault whichever worker
 * process makes it and whatever else runs concurrently, and a retry of a failed call draws afresh.
 */
export class SeededFaultRates implements RandomFaultSource {
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly rates: readonly FaultRate[],
    private readonly seed: string,
    private readonly onFault: (fault: InjectedFault) => void = () => undefined,
  ) {}

  take(operation: PspOperation, idempotencyKey: string): PlannedFault | undefined {
    const counter = `${operation}|${idempotencyKey}`;
    const attempt = (this.attempts.get(counter) ?? 0) + 1;
    this.attempts.delete(counter);
    this.attempts.set(counter, attempt);
    if (this.attempts.size > REMEMBERED_CALLS) this.attempts.delete(this.attempts.keys().next().value!);

    const draw = uniform(`${this.seed}|${counter}|${attempt}`);
    let threshold = 0;
    for (const rate of this.rates) {
      if (!rate.operations.includes(operation)) continue;
      threshold += rate.rate;
      if (draw < threshold) {
        this.onFault({ kind: rate.kind, operation, idempotencyKey, attempt });
        // One call, one fault: `times: 1` with attempt 1 makes it apply to this call only.
        return { fault: plannedFault(rate), attempt: 1 };
      }
    }
    return undefined;
  }
}

function plannedFault(rate: FaultRate): PspFault {
  switch (rate.kind) {
    case 'transient':
      return { kind: 'transient', times: 1 };
    case 'lost':
      return { kind: 'timeoutAfterCommit', times: 1 };
    case 'slow':
      return { kind: 'slow', ms: rate.delayMs! };
    case 'decline':
      return { kind: 'decline', code: 'card_declined', message: 'Your card was declined.' };
  }
}

/** A number in [0, 1) from the first 48 bits of a SHA-256. */
function uniform(text: string): number {
  return createHash('sha256').update(text).digest().readUIntBE(0, 6) / 2 ** 48;
}
