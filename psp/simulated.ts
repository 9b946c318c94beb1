import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { PspDeclinedError, PspInvalidRequestError, PspTransientError, PspUnknownOutcomeError } from './errors';
import { declines, FaultPlan, slowBy, stillFailing, type FaultTarget, type PspFault, type PspOperation } from './faults';
import type { RandomFaultSource } from './faultRates';
import type { SettlementRow } from '../domain/settlement';
import type {
  AuthorizeRequest,
  AuthorizeResult,
  CaptureRequest,
  CaptureResult,
  Psp,
  PspPayment,
  RefundRequest,
  PspCallOptions,
  RefundResult,
  VoidRequest,
} from './types';

/** Stripe's test payment methods that decline, with the decline code Stripe gives for each. */
const DECLINING_PAYMENT_METHODS: Record<string, { code: string; message: string }> = {
  pm_card_chargeCustomerFail: { code: 'card_declined', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclined: { code: 'card_declined', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclinedInsufficientFunds: { code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_visa_chargeDeclinedLostCard: { code: 'lost_card', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclinedStolenCard: { code: 'stolen_card', message: 'Your card was declined.' },
  pm_card_chargeDeclinedExpiredCard: { code: 'expired_card', message: 'Your card has expired.' },
  pm_card_chargeDeclinedIncorrectCvc: { code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  pm_card_chargeDeclinedProcessingError: { code: 'processing_error', message: 'An error occurred while processing your card.' },
};

/** Stripe's test payment methods that succeed. Any other id is unknown, as it would be at Stripe. */
const SUCCEEDING_PAYMENT_METHODS = new Set([
  'pm_card_visa',
  'pm_card_visa_debit',
  'pm_card_mastercard',
  'pm_card_mastercard_debit',
  'pm_card_mastercard_prepaid',
  'pm_card_amex',
  'pm_card_discover',
  'pm_card_diners',
  'pm_card_jcb',
  'pm_card_unionpay',
]);

export interface SimulatedPspOptions {
  /** Delay before every answer, as a network round trip to a PSP would take. */
  latencyMs?: number;
  /** The fee on each capture: basis points of the amount (290 = 2.9 %) plus a fixed amount in minor units. */
  fee?: { basisPoints: number; fixed: number };
  /** Seeds the PSP references it hands out, so a run can be repeated id for id. */
  seed?: string;
  /** Faults drawn at random for calls that no planned fault targets (SIMULATED_PSP_FAULTS). */
  randomFaults?: RandomFaultSource;
}

export interface SimulatedCharge {
  pspReference: string;
  paymentOrderId: string;
  amount: number;
  currency: string;
  status: 'requires_capture' | 'succeeded' | 'canceled' | 'declined';
  amountCaptured: number;
  amountRefunded: number;
  fee: number;
}

type Tx = pg.PoolClient;

/**
 * An in-process PSP that behaves as Stripe's PaymentIntents do for Settle's purposes, keeping its own record
 * of every payment in its own tables (psp_simulator_*), as a real PSP keeps its records on its side.
 */
export class SimulatedPsp implements Psp {
  private readonly latencyMs: number;
  private readonly seed: string;
  private readonly fee: { basisPoints: number; fixed: number };
  private readonly faults = new FaultPlan();
  private readonly randomFaults: RandomFaultSource | undefined;

  constructor(
    private readonly pool: pg.Pool,
    options: SimulatedPspOptions = {},
  ) {
    this.latencyMs = options.latencyMs ?? 0;
    this.seed = options.seed ?? 'settle';
    this.fee = options.fee ?? { basisPoints: 0, fixed: 0 };
    this.randomFaults = options.randomFaults;
  }

  /**
   * A new payment method that behaves like one of Stripe's test payment methods (as Stripe makes one from a
   * test card number), so that a fault planned for it touches nobody else's payments.
   */
  async createPaymentMethod(behavesLike: string): Promise<string> {
    if (!DECLINING_PAYMENT_METHODS[behavesLike] && !SUCCEEDING_PAYMENT_METHODS.has(behavesLike)) {
      throw new PspInvalidRequestError('resource_missing', `no test payment method '${behavesLike}'`);
    }
    const id = `pm_sim_${randomBytes(12).toString('hex')}`;
    await this.pool.query('INSERT INTO psp_simulator_payment_methods (id, behaves_like) VALUES ($1, $2)', [id, behavesLike]);
    return id;
  }

  /** From now on, the target operation meets this fault (replacing any fault set before for it). */
  inject(target: FaultTarget, fault: PspFault): void {
    this.faults.inject(target, fault);
  }

  authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    const payment = { paymentOrderId: request.paymentOrderId, paymentMethod: request.paymentMethod };
    return this.call('authorize', payment, request, async (tx, fault): Promise<AuthorizeResult> => {
      const pspReference = this.reference('pi_sim_', request.idempotencyKey);
      const behavesLike = await this.behaviourOf(tx, request.paymentMethod);
      const decline =
        fault?.kind === 'decline'
          ? { code: fault.code, message: fault.message ?? 'Your card was declined.' }
          : DECLINING_PAYMENT_METHODS[behavesLike];
      if (!decline && !SUCCEEDING_PAYMENT_METHODS.has(behavesLike)) {
        throw new PspInvalidRequestError('resource_missing', `No such PaymentMethod: '${request.paymentMethod}'`);
      }
      await tx.query(
        `INSERT INTO psp_simulator_payments (id, payment_order_id, amount, currency, payment_method, status, decline_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          pspReference,
          request.paymentOrderId,
          request.amount,
          request.currency,
          request.paymentMethod,
          decline ? 'declined' : 'requires_capture',
          decline?.code ?? null,
        ],
      );
      return decline
        ? { outcome: 'declined', pspReference, declineCode: decline.code, message: decline.message }
        : { outcome: 'authorized', pspReference };
    });
  }

  async capture(request: CaptureRequest): Promise<CaptureResult> {
    return this.call('capture', await this.paymentOf(request.pspReference), request, async (tx, fault) => {
      const payment = await this.lockPayment(tx, request.pspReference);
      if (fault?.kind === 'decline') throw new PspDeclinedError(fault.code, fault.message ?? 'The capture was declined.');
      if (payment.status !== 'requires_capture') {
        throw new PspInvalidRequestError('payment_intent_unexpected_state', `payment ${payment.id} is ${payment.status}, not capturable`);
      }
      if (request.amount > Number(payment.amount)) {
        throw new PspInvalidRequestError('amount_too_large', `cannot capture ${request.amount}, only ${payment.amount} was authorized`);
      }
      // Half-up rounding in integers; never more than the amount itself.
      const fee = Math.min(request.amount, Math.floor((request.amount * this.fee.basisPoints + 5_000) / 10_000) + this.fee.fixed);
      await tx.query(
        `UPDATE psp_simulator_payments SET status = 'succeeded', amount_captured = $2, fee = $3, updated_at = now() WHERE id = $1`,
        [payment.id, request.amount, fee],
      );
      await this.recordBalanceTransaction(tx, request.idempotencyKey, payment, 'charge', request.amount, fee);
      return { pspReference: payment.id, amountCaptured: request.amount, fee };
    });
  }

  async void(request: VoidRequest): Promise<void> {
    return this.call('void', await this.paymentOf(request.pspReference), request, async (tx, fault) => {
      const payment = await this.lockPayment(tx, request.pspReference);
      // A refused release: the PSP keeps the hold until the authorization lapses.
      if (fault?.kind === 'decline') throw new PspInvalidRequestError(fault.code, fault.message ?? 'The cancellation was refused.');
      if (payment.status !== 'requires_capture') {
        throw new PspInvalidRequestError('payment_intent_unexpected_state', `payment ${payment.id} is ${payment.status}, cannot be voided`);
      }
      await tx.query(`UPDATE psp_simulator_payments SET status = 'canceled', updated_at = now() WHERE id = $1`, [payment.id]);
    });
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    return this.call('refund', await this.paymentOf(request.pspReference), request, async (tx, fault) => {
      const payment = await this.lockPayment(tx, request.pspReference);
      // A refund asked again after its key was forgotten (keys are kept for a limited time) finds the first by
      // the reference its key names, as the Stripe adapter finds it by the key in its metadata.
      const refundReference = this.reference('re_sim_', request.idempotencyKey);
      const made = await tx.query('SELECT 1 FROM psp_simulator_refunds WHERE id = $1 AND payment_id = $2', [refundReference, payment.id]);
      if (made.rowCount) return { refundReference };
      if (fault?.kind === 'decline') throw new PspDeclinedError(fault.code, fault.message ?? 'The refund was declined.');
      const refundable = Number(payment.amount_captured) - Number(payment.amount_refunded);
      if (payment.status !== 'succeeded') {
        throw new PspInvalidRequestError('charge_not_refundable', `payment ${payment.id} is ${payment.status}, nothing to refund`);
      }
      if (request.amount > refundable) {
        throw new PspInvalidRequestError('amount_too_large', `cannot refund ${request.amount}, only ${refundable} is refundable`);
      }
      await tx.query('INSERT INTO psp_simulator_refunds (id, payment_id, amount) VALUES ($1, $2, $3)', [
        refundReference,
        payment.id,
        request.amount,
      ]);
      await tx.query(
        'UPDATE psp_simulator_payments SET amount_refunded = amount_refunded + $2, updated_at = now() WHERE id = $1',
        [payment.id, request.amount],
      );
      await this.recordBalanceTransaction(tx, request.idempotencyKey, payment, 'refund', -request.amount, 0);
      return { refundReference };
    });
  }

  async findPayment(paymentOrderId: string, options: PspCallOptions = {}): Promise<PspPayment | null> {
    if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { signal: options.signal });
    const { rows } = await this.pool.query<{ id: string; status: SimulatedCharge['status']; fee: string }>(
      'SELECT id, status, fee FROM psp_simulator_payments WHERE payment_order_id = $1 ORDER BY created_at DESC LIMIT 1',
      [paymentOrderId],
    );
    const row = rows[0];
    if (!row) return null;
    const status = ({ requires_capture: 'authorized', succeeded: 'captured', canceled: 'canceled', declined: 'declined' } as const)[row.status];
    return { pspReference: row.id, status, ...(status === 'captured' ? { fee: Number(row.fee) } : {}) };
  }

  /** The day's balance transactions, read in pages so that a busy day never sits in memory whole. */
  async *settlementRows(day: { start: Date; end: Date }): AsyncIterable<SettlementRow> {
    // The cursor keeps created_at as PostgreSQL's text: a JavaScript Date would drop its microseconds.
    let after = { createdAt: '-infinity', id: '' };
    for (;;) {
      const { rows } = await this.pool.query(
        `SELECT id, created_at, created_at::text AS created_key, currency, gross, fee, net, reporting_category, payment_id, payment_order_id
           FROM psp_simulator_balance_transactions
          WHERE created_at >= $1 AND created_at < $2 AND (created_at, id) > ($3::timestamptz, $4)
          ORDER BY created_at, id LIMIT 5000`,
        [day.start, day.end, after.createdAt, after.id],
      );
      for (const row of rows) {
        yield {
          balanceTransactionId: row.id,
          createdUtc: row.created_at,
          currency: row.currency,
          gross: Number(row.gross),
          fee: Number(row.fee),
          net: Number(row.net),
          reportingCategory: row.reporting_category,
          paymentIntentId: row.payment_id,
          paymentOrderId: row.payment_order_id,
        };
      }
      const last = rows[rows.length - 1];
      if (!last) return;
      after = { createdAt: last.created_key, id: last.id };
    }
  }

  /** The PSP's own record of every payment it made for one payment order: at most one, ever. */
  async chargesFor(paymentOrderId: string): Promise<SimulatedCharge[]> {
    const { rows } = await this.pool.query(
      `SELECT id, payment_order_id, amount, currency, status, amount_captured, amount_refunded, fee
         FROM psp_simulator_payments WHERE payment_order_id = $1 ORDER BY created_at`,
      [paymentOrderId],
    );
    return rows.map((row) => ({
      pspReference: row.id,
      paymentOrderId: row.payment_order_id,
      amount: Number(row.amount),
      currency: row.currency,
      status: row.status,
      amountCaptured: Number(row.amount_captured),
      amountRefunded: Number(row.amount_refunded),
      fee: Number(row.fee),
    }));
  }

  /** One PSP call: network latency, then the fault planned for it (if any) around the idempotent operation. */
  private async call<T>(
    operation: PspOperation,
    payment: { paymentOrderId: string; paymentMethod: string },
    { idempotencyKey, signal }: { idempotencyKey: string; signal?: AbortSignal | undefined },
    run: (tx: Tx, fault: PspFault | undefined) => Promise<T>,
  ): Promise<T> {
    const planned = this.faults.take(operation, payment) ?? this.randomFaults?.take(operation, idempotencyKey);
    if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { signal });
    if (slowBy(planned) > 0) await sleep(slowBy(planned), undefined, { signal });
    if (stillFailing(planned, 'transient')) {
      throw new PspTransientError(`simulated PSP unavailable (attempt ${planned!.attempt})`);
    }
    if (stillFailing(planned, 'inUse')) {
      throw new PspTransientError(`idempotency_key_in_use: a request with key ${idempotencyKey} is already in flight (attempt ${planned!.attempt})`);
    }
    const result = await this.once(idempotencyKey, signal, (tx) => run(tx, declines(planned) ? planned!.fault : undefined));
    if (stillFailing(planned, 'timeoutAfterCommit')) {
      throw new PspUnknownOutcomeError(`simulated timeout after the PSP processed ${operation} (attempt ${planned!.attempt})`);
    }
    return result;
  }

  private async paymentOf(pspReference: string): Promise<{ paymentOrderId: string; paymentMethod: string }> {
    const { rows } = await this.pool.query('SELECT payment_order_id, payment_method FROM psp_simulator_payments WHERE id = $1', [
      pspReference,
    ]);
    if (!rows[0]) throw new PspInvalidRequestError('resource_missing', `No such payment: '${pspReference}'`);
    return { paymentOrderId: rows[0].payment_order_id, paymentMethod: rows[0].payment_method };
  }

  /**
   * Runs an operation at most once per idempotency key: concurrent callers with one key queue on a lock,
   * and every caller after the first gets the first answer. Errors are not stored, as Stripe does not store
   * answers to requests that changed nothing.
   */
  private async once<T>(idempotencyKey: string, signal: AbortSignal | undefined, operation: (tx: Tx) => Promise<T>): Promise<T> {
    const tx = await this.pool.connect();
    try {
      await tx.query('BEGIN');
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [idempotencyKey]);
      const stored = await tx.query<{ response: { value: T } }>('SELECT response FROM psp_simulator_idempotency WHERE key = $1', [
        idempotencyKey,
      ]);
      if (stored.rows[0]) {
        await tx.query('COMMIT');
        return stored.rows[0].response.value;
      }
      const value = await operation(tx);
      await tx.query('INSERT INTO psp_simulator_idempotency (key, response) VALUES ($1, $2)', [
        idempotencyKey,
        JSON.stringify({ value: value ?? null }),
      ]);
      // A caller that gave up before the PSP committed leaves no trace, as a request Stripe never received.
      signal?.throwIfAborted();
      await tx.query('COMMIT');
      return value;
    } catch (error) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      tx.release();
    }
  }

  private async behaviourOf(tx: Tx, paymentMethod: string): Promise<string> {
    if (!paymentMethod.startsWith('pm_sim_')) return paymentMethod;
    const { rows } = await tx.query<{ behaves_like: string }>('SELECT behaves_like FROM psp_simulator_payment_methods WHERE id = $1', [
      paymentMethod,
    ]);
    return rows[0]?.behaves_like ?? paymentMethod;
  }

  private async recordBalanceTransaction(
    tx: Tx,
    idempotencyKey: string,
    payment: { id: string; currency: string; payment_order_id: string },
    category: 'charge' | 'refund',
    gross: number,
    fee: number,
  ): Promise<void> {
    await tx.query(
      `INSERT INTO psp_simulator_balance_transactions (id, currency, gross, fee, net, reporting_category, payment_id, payment_order_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [this.reference('txn_sim_', idempotencyKey), payment.currency, gross, fee, gross - fee, category, payment.id, payment.payment_order_id],
    );
  }

  private async lockPayment(tx: Tx, pspReference: string) {
    const { rows } = await tx.query('SELECT * FROM psp_simulator_payments WHERE id = $1 FOR UPDATE', [pspReference]);
    if (!rows[0]) throw new PspInvalidRequestError('resource_missing', `No such payment: '${pspReference}'`);
    return rows[0];
  }

  private reference(prefix: string, idempotencyKey: string): string {
    return prefix + createHash('sha256').update(`${this.seed}:${idempotencyKey}`).digest('hex').slice(0, 24);
  }
}

