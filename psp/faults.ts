/**
 * Faults to order, for the simulated PSP and for the fault-injecting proxy the tests put in front of a
 * Stripe stand-in: one plan, so a test asks for the same fault whichever PSP it runs against.
 */

export type PspOperation = 'authorize' | 'capture' | 'void' | 'refund';

export type PspFault =
  /**
   * Authorize answers declined; capture and refund fail with a decline; a void is refused: every attempt,
   * or the first `times` attempts per payment order; after `afterMs` if given.
   */
  | { kind: 'decline'; code: string; message?: string; times?: number; afterMs?: number }
  /** Fail before processing (an outage, a rate limit), the first `times` attempts, per payment order. */
  | { kind: 'transient'; times: number }
  /** Process the request, then lose the answer, the first `times` attempts, per payment order. */
  | { kind: 'timeoutAfterCommit'; times: number }
  /** Answer after this long: every attempt, or the first `times` attempts per payment order. */
  | { kind: 'slow'; ms: number; times?: number }
  /**
   * Refuse with Stripe's 409 `idempotency_key_in_use` (another request with the same key is in flight),
   * the first `times` attempts, per payment order: nothing was processed; retrying later is right.
   */
  | { kind: 'inUse'; times: number };

export type FaultTarget = { operation: PspOperation } & ({ paymentOrderId: string } | { paymentMethod: string });

export interface PlannedFault {
  fault: PspFault;
  /** Which attempt at this operation, for this payment order, this is (1 for the first). */
  attempt: number;
}

export class FaultPlan {
  private readonly faults = new Map<string, PspFault>();
  private readonly attempts = new Map<string, number>();

  /** From now on, the target operation meets this fault (replacing any fault set before for it). */
  inject(target: FaultTarget, fault: PspFault): void {
    this.faults.set(faultKey(target), fault);
  }

  /** The fault for one call, if any; counts the call as an attempt. A fault for the order wins over one for its method. */
  take(operation: PspOperation, payment: { paymentOrderId: string; paymentMethod: string }): PlannedFault | undefined {
    const key = [faultKey({ operation, paymentOrderId: payment.paymentOrderId }), faultKey({ operation, paymentMethod: payment.paymentMethod })].find(
      (candidate) => this.faults.has(candidate),
    );
    if (!key) return undefined;
    const counter = `${key}|${payment.paymentOrderId}`;
    const attempt = (this.attempts.get(counter) ?? 0) + 1;
    this.attempts.set(counter, attempt);
    return { fault: this.faults.get(key)!, attempt };
  }
}

/** Whether a transient, in-use or lost-answer fault still applies to this attempt. */
export function stillFailing(planned: PlannedFault | undefined, kind: 'transient' | 'timeoutAfterCommit' | 'inUse'): boolean {
  return planned?.fault.kind === kind && planned.attempt <= planned.fault.times;
}

/** How long this attempt is delayed by a slow fault (0 if none applies to it). */
export function slowBy(planned: PlannedFault | undefined): number {
  if (planned?.fault.kind === 'decline') return declines(planned) ? (planned.fault.afterMs ?? 0) : 0;
  if (planned?.fault.kind !== 'slow') return 0;
  return planned.fault.times === undefined || planned.attempt <= planned.fault.times ? planned.fault.ms : 0;
}

function faultKey(target: FaultTarget): string {
  return 'paymentOrderId' in target ? `${target.operation}|order:${target.paymentOrderId}` : `${target.operation}|pm:${target.paymentMethod}`;
}

/** Whether a decline applies to this attempt. */
export function declines(planned: PlannedFault | undefined): boolean {
  return planned?.fault.kind === 'decline' && (planned.fault.times === undefined || planned.attempt <= planned.fault.times);
}
