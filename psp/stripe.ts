import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import Stripe from 'stripe';
import type { SettlementRow } from '../domain/settlement';
import { isCurrency } from '../domain/money';
import { recordedPaymentIntent, recordPaymentIntent } from '../db/stripePaymentIntents';
import { PspDeclinedError, PspIdempotencyKeyReusedError, PspInvalidRequestError, PspTransientError, PspUnknownOutcomeError } from './errors';
import { fromStripeAmount, StripeAmountError, toStripeAmount } from './stripeAmounts';
import type {
  AuthorizeRequest,
  AuthorizeResult,
  CaptureRequest,
  CaptureResult,
  Psp,
  PspCallOptions,
  PspPayment,
  RefundRequest,
  RefundResult,
  VoidRequest,
} from './types';

export interface StripePspOptions {
  secretKey: string;
  /** A Stripe API stand-in instead of api.stripe.com (tests). */
  apiBase?: { protocol: 'http' | 'https'; host: string; port: number };
}

/**
 * The stripe client retries a closed connection once on its own, even with maxNetworkRetries: 0, relying
 * on the idempotency key. Settle wants every retry in Temporal's hands instead, so that the adapter looks
 * for the first attempt's effect (a recorded intent, a tagged refund) before it sends again; this wrapper
 * reports a closed connection under a code the client does not retry, as the connection error it is.
 */
function withoutHiddenRetries(inner: ReturnType<typeof Stripe.createFetchHttpClient>): typeof inner {
  return {
    getClientName: () => inner.getClientName(),
    makeRequest: (...args) =>
      inner.makeRequest(...args).catch((error: Error & { code?: string }) => {
        if (callSignal.getStore()?.aborted) throw error;
        throw Object.assign(new Error(`connection lost: ${error.message}`), { code: 'SETTLE_CONNECTION_LOST', cause: error });
      }),
  };
}

/** The signal of the PSP call a request belongs to (see PspCallOptions), for the HTTP layer below. */
const callSignal = new AsyncLocalStorage<AbortSignal | undefined>();

/**
 * Nothing is sent once the call's signal has aborted, and a request still outstanding then is abandoned
 * (its connection closed). Stripe may still have processed it: its idempotency key covers a retry, and the
 * intent is recorded before it is confirmed, so that a release finds it and cancels it.
 */
const abortableFetch: typeof fetch = (url, init) => {
  const signal = callSignal.getStore();
  const signals = [init?.signal, signal].filter((candidate): candidate is AbortSignal => candidate instanceof AbortSignal);
  return fetch(url, { ...init, ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}) });
};

/** Builds the `stripe` client the adapter and the webhook endpoint share. */
export function createStripeClient(options: StripePspOptions): Stripe {
  return new Stripe(options.secretKey, {
    ...(options.apiBase ?? {}),
    // Temporal retries, with the same idempotency key.
    maxNetworkRetries: 0,
    httpClient: withoutHiddenRetries(Stripe.createFetchHttpClient(abortableFetch)),
    timeout: 20_000,
  });
}

/**
 * Maps a Stripe error to Settle's PSP outcome classes by Stripe's documented types, codes and statuses
 * (docs.stripe.com/error-codes, /error-low-level, /rate-limits), never by the client's class alone:
 * - no answer, a 5xx, or a request that another one holds (409, idempotency_key_in_use): it may yet be
 *   processed, so it is repeated with the same idempotency key, whose saved answer Stripe then gives;
 * - an object locked by another request (lock_timeout), a rate limit, or an answer Stripe marks
 *   Stripe-Should-Retry: nothing was processed; repeated;
 * - a card error: the buyer's bank declined; final;
 * - an idempotency error: Settle sent other parameters under a key it had used (see
 *   PspIdempotencyKeyReusedError);
 * - any other invalid request: final, naming Stripe's code. A status the client does not name is not
 *   known to be final, and is repeated.
 */
export function classifyStripeError(error: unknown): Error {
  if (!(error instanceof Stripe.errors.StripeError)) return error as Error;
  const message = `Stripe: ${error.message}`;
  const status = error.statusCode ?? 0;
  if (error instanceof Stripe.errors.StripeConnectionError) return new PspUnknownOutcomeError(message);
  if (error instanceof Stripe.errors.StripeCardError) {
    return new PspDeclinedError(error.decline_code || error.code || 'card_declined', error.message);
  }
  if (error.code === 'idempotency_key_in_use' || status === 409 || status >= 500) return new PspUnknownOutcomeError(message);
  if (error.code === 'lock_timeout' || error.code === 'rate_limit' || error instanceof Stripe.errors.StripeRateLimitError) {
    return new PspTransientError(message);
  }
  if (error instanceof Stripe.errors.StripeIdempotencyError || error.rawType === 'idempotency_error') {
    return new PspIdempotencyKeyReusedError(`${message} (request ${error.requestId ?? 'unknown'}: Settle sent other parameters under an idempotency key it had used)`);
  }
  // A key that is wrong or lacks a permission is an operator's fix, not the buyer's decline: keep retrying.
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    return new PspTransientError(`${message} (check STRIPE_SECRET_KEY)`);
  }
  if (error.headers?.['stripe-should-retry'] === 'true') return new PspTransientError(message);
  if (error instanceof Stripe.errors.StripeInvalidRequestError) return new PspInvalidRequestError(error.code ?? 'invalid_request', message);
  return new PspUnknownOutcomeError(message);
}

/** Settle's amount in Stripe's unit; one Stripe cannot take exactly is refused before Stripe sees it. */
function stripeAmountOf(currency: string, amount: number): number {
  const code = currency.toUpperCase();
  if (!isCurrency(code)) throw new PspInvalidRequestError('currency_not_supported', `no ISO 4217 currency '${currency}'`);
  try {
    return toStripeAmount(code, amount);
  } catch (error) {
    if (error instanceof StripeAmountError) throw new PspInvalidRequestError('amount_not_supported', error.message);
    throw error;
  }
}

const paymentStatus: Record<Stripe.PaymentIntent.Status, PspPayment['status'] | undefined> = {
  requires_capture: 'authorized',
  succeeded: 'captured',
  canceled: 'canceled',
  requires_payment_method: 'declined',
  requires_confirmation: 'unconfirmed',
  requires_action: 'unconfirmed',
  // The bank is deciding: funds may be held, so it is released like an authorization.
  processing: 'authorized',
};

/**
 * Stripe PaymentIntents with manual capture. Exactly once, even where idempotency keys are not honoured
 * (a stand-in, or an answer lost on the way back): the intent's id is recorded before it is confirmed, and
 * a retry continues with it; a capture, void or refund that was already done is recognised as done.
 */
export class StripePsp implements Psp {
  constructor(
    private readonly pool: pg.Pool,
    private readonly stripe: Stripe,
  ) {}

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    return this.classified(async () => {
      let intent = await this.intentFor(request);
      if (intent.status === 'requires_confirmation') {
        try {
          intent = await this.stripe.paymentIntents.confirm(intent.id, {}, { idempotencyKey: `${request.idempotencyKey}:confirm` });
        } catch (error) {
          if (error instanceof Stripe.errors.StripeInvalidRequestError) {
            // A confirm repeated after its answer was lost: the intent has moved on; continue from where it is.
            intent = await this.stripe.paymentIntents.retrieve(intent.id);
            if (intent.status !== 'requires_confirmation') return authorization(intent);
          }
          if (!(error instanceof Stripe.errors.StripeCardError)) throw error;
          return {
            outcome: 'declined',
            pspReference: intent.id,
            declineCode: error.decline_code || error.code || 'card_declined',
            message: error.message,
          };
        }
      }
      return authorization(intent);
    }, request.signal);
  }

  async capture(request: CaptureRequest): Promise<CaptureResult> {
    return this.classified(async () => {
      // Stripe's unit for the amount depends on the intent's currency.
      const { currency } = await this.stripe.paymentIntents.retrieve(request.pspReference);
      const amountToCapture = stripeAmountOf(currency, request.amount);
      try {
        await this.stripe.paymentIntents.capture(request.pspReference, { amount_to_capture: amountToCapture }, { idempotencyKey: request.idempotencyKey });
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
        // A capture repeated after its answer was lost: the intent already succeeded.
        const intent = await this.stripe.paymentIntents.retrieve(request.pspReference);
        if (intent.status !== 'succeeded') throw error;
      }
      return { pspReference: request.pspReference, amountCaptured: request.amount, fee: await this.feeOf(request.pspReference) };
    }, request.signal);
  }

  async void(request: VoidRequest): Promise<void> {
    return this.classified(async () => {
      try {
        await this.stripe.paymentIntents.cancel(request.pspReference, {}, { idempotencyKey: request.idempotencyKey });
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
        const intent = await this.stripe.paymentIntents.retrieve(request.pspReference);
        if (intent.status !== 'canceled') throw error;
      }
    }, request.signal);
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    return this.classified(async () => {
      // A refund repeated after its answer was lost finds the first one by the key it carries.
      const existing = await this.stripe.refunds.list({ payment_intent: request.pspReference, limit: 100 });
      const done = existing.data.find((refund) => refund.metadata?.settle_idempotency_key === request.idempotencyKey);
      if (done) return { refundReference: done.id };
      const { currency } = await this.stripe.paymentIntents.retrieve(request.pspReference);
      const refund = await this.stripe.refunds.create(
        {
          payment_intent: request.pspReference,
          amount: stripeAmountOf(currency, request.amount),
          metadata: { settle_idempotency_key: request.idempotencyKey },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      return { refundReference: refund.id };
    }, request.signal);
  }

  async findPayment(paymentOrderId: string, options: PspCallOptions = {}): Promise<PspPayment | null> {
    const intentId = await recordedPaymentIntent(this.pool, paymentOrderId);
    if (!intentId) return null;
    return this.classified(async () => {
      const intent = await this.stripe.paymentIntents.retrieve(intentId);
      const status = paymentStatus[intent.status] ?? 'authorized';
      return { pspReference: intent.id, status, ...(status === 'captured' ? { fee: await this.feeOf(intent.id) } : {}) };
    }, options.signal);
  }

  /**
   * The day's balance transactions as settlement rows, each traced to its PaymentIntent and payment order.
   * (All are listed and filtered by day here: the stand-in the tests use does not filter by `created`.)
   */
  async *settlementRows(day: { start: Date; end: Date }): AsyncIterable<SettlementRow> {
    const [from, to] = [day.start.getTime() / 1000, day.end.getTime() / 1000];
    for await (const txn of this.stripe.balanceTransactions.list({ limit: 100 })) {
      if (txn.created < from || txn.created >= to || (txn.reporting_category !== 'charge' && txn.reporting_category !== 'refund')) continue;
      const source = typeof txn.source === 'string' ? txn.source : (txn.source?.id ?? '');
      const intentId = await this.classified(async () =>
        source.startsWith('re_')
          ? String((await this.stripe.refunds.retrieve(source)).payment_intent ?? '')
          : String((await this.stripe.charges.retrieve(source)).payment_intent ?? ''),
      );
      const intent = await this.classified(() => this.stripe.paymentIntents.retrieve(intentId));
      yield {
        balanceTransactionId: txn.id,
        createdUtc: new Date(txn.created * 1000),
        currency: txn.currency.toUpperCase(),
        gross: fromStripeAmount(txn.currency, txn.amount),
        fee: fromStripeAmount(txn.currency, txn.fee),
        net: fromStripeAmount(txn.currency, txn.net),
        reportingCategory: txn.reporting_category,
        paymentIntentId: intent.id,
        paymentOrderId: intent.metadata?.payment_order_id ?? '',
      };
    }
  }

  /** The intent recorded for the order, or a new one, recorded before anything can confirm it. */
  private async intentFor(request: AuthorizeRequest): Promise<Stripe.PaymentIntent> {
    const recorded = await recordedPaymentIntent(this.pool, request.paymentOrderId);
    if (recorded) return this.stripe.paymentIntents.retrieve(recorded);
    const intent = await this.stripe.paymentIntents.create(
      {
        amount: stripeAmountOf(request.currency, request.amount),
        currency: request.currency.toLowerCase(),
        payment_method: request.paymentMethod,
        capture_method: 'manual',
        metadata: { payment_order_id: request.paymentOrderId },
      },
      { idempotencyKey: `${request.idempotencyKey}:create` },
    );
    const first = await recordPaymentIntent(this.pool, request.paymentOrderId, intent.id);
    // Another attempt recorded its intent first: continue with that one; this one is never confirmed.
    return first === intent.id ? intent : this.stripe.paymentIntents.retrieve(first);
  }

  /** Stripe's fee on a captured intent, from its charge's balance transaction. */
  private async feeOf(paymentIntentId: string): Promise<number> {
    const intent = await this.stripe.paymentIntents.retrieve(paymentIntentId, { expand: ['latest_charge.balance_transaction'] });
    const charge = intent.latest_charge as Stripe.Charge | null;
    const balance = charge?.balance_transaction as Stripe.BalanceTransaction | null | undefined;
    return balance ? fromStripeAmount(balance.currency, balance.fee) : 0;
  }

  private async classified<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await (signal ? callSignal.run(signal, call) : call());
    } catch (error) {
      throw classifyStripeError(error);
    }
  }
}

function authorization(intent: Stripe.PaymentIntent): AuthorizeResult {
  switch (intent.status) {
    case 'requires_capture':
    case 'succeeded':
      return { outcome: 'authorized', pspReference: intent.id };
    case 'requires_action':
      return { outcome: 'pending', pspReference: intent.id, reason: 'requires_action' };
    case 'processing':
      return { outcome: 'pending', pspReference: intent.id, reason: 'processing' };
    default: {
      const error = intent.last_payment_error;
      return {
        outcome: 'declined',
        pspReference: intent.id,
        declineCode: error?.decline_code || error?.code || intent.status,
        message: error?.message ?? `the payment is ${intent.status}`,
      };
    }
  }
}
