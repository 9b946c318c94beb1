import { ApplicationFailure } from '@temporalio/activity';
import { CAPTURE_NOT_BOOKED_ERROR } from '../domain/attention';
import type { CheckoutInput, CheckoutView, PaymentOrderInput, PaymentOrderView } from '../domain/checkout';
import type { Failure } from '../domain/failures';
import { formatMoney } from '../domain/money';
import { compensationRefundId, type RefundInput, type RefundReason } from '../domain/refund';
import type { CheckoutStatus, PaymentOrderStatus } from '../domain/status';
import { findCheckoutView, insertCheckout, recordAttention, transitionCheckout } from '../db/checkouts';
import { CAPTURE_STEP, captureBooked, moveSellerBalance } from '../db/books';
import { cancelPendingPaymentOrders, findPaymentOrderView, recordHeldFailure, transitionPaymentOrder } from '../db/paymentOrders';
import { withTransaction, type Pool, type Queryable } from '../db/pool';
import { refundsInFlight, reserveRefund, transitionRefund } from '../db/refunds';
import { isFinalPspError } from '../psp/errors';
import { pspIdempotencyKey, type Psp } from '../psp/types';
import { asActivities, isDeterministicDatabaseError, withinAttempt } from './attempt';


export interface ActivityDeps {
  pool: Pool;
  psp: Psp;
}

export type AuthorizationOutcome =
  | { outcome: 'authorized'; pspReference: string }
  | { outcome: 'failed'; pspReference: string | null; failure: Failure }
  /** The PSP waits on the buyer or the bank; the workflow asks again when told something changed. */
  | { outcome: 'pending'; pspReference: string };

export type PspStepOutcome = { outcome: 'done' } | { outcome: 'failed'; failure: Failure };
export type CaptureOutcome = { outcome: 'done'; fee: number } | { outcome: 'failed'; failure: Failure };

/**
 * What became of a hold Settle asked the PSP to release: released (or found already gone); captured after
 * all (a capture that landed late: booked now, so the books follow the money); or refused, the PSP still
 * holding it (recorded on the order, for a person and for the compensation's retries).
 */
export type ReleaseOutcome =
  | { outcome: 'released'; status: PaymentOrderStatus }
  | { outcome: 'captured'; fee: number }
  | { outcome: 'refused'; failure: Failure };

/** Where a payment order stands after Settle gave up waiting for a PSP answer and asked the PSP directly. */
export interface Resolution {
  status: PaymentOrderStatus;
  pspReference: string | null;
}

/** A compensation's next refund, or why there is none: refunds still in flight decide what is left. */
export interface CompensationRefund {
  refund: RefundInput | null;
  refundsInFlight: Array<{ refund: RefundInput; reason: RefundReason }>;
  /** The id asked for belongs to a refund already answered: ask again with a new one. */
  idTaken: boolean;
}

function failureOf(error: { code: string; message: string }): Failure {
  return { code: error.code, message: error.message };
}

/**
 * Every side effect of a checkout. Each activity may run more than once (Temporal retries one whose outcome
 * it did not hear), so each is idempotent: PSP calls by idempotency key, database writes by natural key and
 * by status transitions that a repeat finds already made. Every PSP call runs inside its attempt's bounds
 * (activities/attempt.ts).
 */
export function createActivities({ pool, psp }: ActivityDeps) {
  /**
   * An order the books still have PENDING (its authorization's answers were lost) that the PSP captured was
   * authorized there first: the books say so before they take the capture (or record that they refused it).
   */
  const authorizedAtPsp = async (tx: Queryable, order: PaymentOrderInput, pspReference: string) => {
    const { rows } = await tx.query<{ status: PaymentOrderStatus }>('SELECT status FROM payment_orders WHERE id = $1 FOR UPDATE', [
      order.paymentOrderId,
    ]);
    if (rows[0]?.status === 'PENDING') await transitionPaymentOrder(tx, order.paymentOrderId, 'AUTHORIZED', { pspReference });
  };

  /**
   * Books a capture: the order succeeds, the seller's wallet is credited and the ledger posted, together.
   * A capture found late (by a release) may belong to a finished checkout: its record is brought up to date
   * in the same transaction. A capture booked already changes nothing, whatever the order's status became
   * since (a refund the client made before a lost answer's retry ran).
   */
  const bookCapture = (order: PaymentOrderInput, fee: number, late?: { pspReference: string }) =>
    withTransaction(pool, async (tx) => {
      if (await captureBooked(tx, order.paymentOrderId)) return;
      if (late) await authorizedAtPsp(tx, order, late.pspReference);
      if (!(await transitionPaymentOrder(tx, order.paymentOrderId, 'SUCCEEDED', { fee, ...(late ?? {}) }))) return;
      if (late) await recordAttention(tx, order.checkoutId);
      await moveSellerBalance(tx, {
        fee,
        paymentOrderId: order.paymentOrderId,
        step: CAPTURE_STEP,
        description: `capture of payment order ${order.paymentOrderId}`,
        sellerId: order.sellerId,
        currency: order.currency,
        amount: order.amount,
      });
    });

  /**
   * Releases the PSP's hold on an order and records the order's new status. A release the PSP refuses is
   * checked against what the PSP holds: gone already (released), captured after all (booked), or still held
   * (the refusal is recorded; the status stays AUTHORIZED, which is the truth). A capture found that the
   * database refuses to book for good is recorded as `capture_not_booked` (money taken, not held) and fails
   * the activity as CAPTURE_NOT_BOOKED_ERROR, not as a release that failed.
   */
  const releaseHold = async (
    order: PaymentOrderInput,
    pspReference: string,
    failure: Failure,
    to: 'VOIDED' | 'FAILED' | 'CANCELED',
    releaseId?: string,
  ): Promise<ReleaseOutcome> => {
    let refusal: Failure | undefined;
    // A PSP keeps the answer to a key, a refusal too (Stripe, for a day): a retry after a refusal is a new
    // request, with a key of its own.
    const step = releaseId ? `void:${releaseId}` : 'void';
    try {
      await withinAttempt((signal) => psp.void({ pspReference, idempotencyKey: pspIdempotencyKey(order.paymentOrderId, step), signal }));
    } catch (error) {
      if (!isFinalPspError(error)) throw error;
      refusal = failureOf(error);
    }
    if (refusal) {
      const payment = await withinAttempt((signal) => psp.findPayment(order.paymentOrderId, { signal }));
      if (payment?.status === 'captured') {
        try {
          await bookCapture(order, payment.fee ?? 0, { pspReference: payment.pspReference });
        } catch (error) {
          if (!isDeterministicDatabaseError(error)) throw error;
          const failure = {
            code: 'capture_not_booked' as const,
            message: `the PSP captured ${formatMoney(order)} (${payment.pspReference}) but the books refused it (${error.code}): ${error.message}`,
          };
          // Whoever asked for the release, the order and its checkout say the money was taken, unless the
          // same fault refuses this write too: the failure below still says it.
          await withTransaction(pool, async (tx) => {
            await authorizedAtPsp(tx, order, payment.pspReference);
            await recordHeldFailure(tx, order.paymentOrderId, failure);
            await recordAttention(tx, order.checkoutId);
          }).catch((refused: unknown) => {
            if (!isDeterministicDatabaseError(refused)) throw refused;
          });
          throw ApplicationFailure.create({ type: CAPTURE_NOT_BOOKED_ERROR, message: failure.message, nonRetryable: true, cause: error });
        }
        return { outcome: 'captured', fee: payment.fee ?? 0 };
      }
      if (payment?.status === 'authorized') {
        await withTransaction(pool, async (tx) => {
          await transitionPaymentOrder(tx, order.paymentOrderId, 'AUTHORIZED', { pspReference });
          await recordHeldFailure(
            tx,
            order.paymentOrderId,
            { code: 'release_refused', message: `the PSP refused to release the hold (${refusal.code}): ${refusal.message}` },
          );
          await recordAttention(tx, order.checkoutId);
        });
        return { outcome: 'refused', failure: refusal };
      }
      // Canceled or declined: the hold is gone, which is what was asked. Unconfirmed: none was ever placed,
      // and no attempt of Settle's can confirm it any more (each ended at its deadline).
    }
    await withTransaction(pool, async (tx) => {
      await transitionPaymentOrder(tx, order.paymentOrderId, to, { pspReference, failure });
      await recordAttention(tx, order.checkoutId);
    });
    return { outcome: 'released', status: to };
  };

  /** Captures the authorized amount; a refusal is an outcome, anything else is retried. */
  const capture = async (order: PaymentOrderInput, pspReference: string): Promise<CaptureOutcome> => {
    try {
      const captured = await withinAttempt((signal) =>
        psp.capture({ pspReference, amount: order.amount, idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'capture'), signal }),
      );
      return { outcome: 'done', fee: captured.fee };
    } catch (error) {
      if (!isFinalPspError(error)) throw error;
      return { outcome: 'failed', failure: failureOf(error) };
    }
  };

  return asActivities({
    async recordCheckout(input: CheckoutInput): Promise<void> {
      await withTransaction(pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
    },

    async setCheckoutStatus(checkoutId: string, status: CheckoutStatus): Promise<void> {
      await transitionCheckout(pool, checkoutId, status);
    },

    /**
     * Records the checkout's outcome and what it still holds against that outcome (a refused compensation),
     * and answers the checkout as the database now holds it.
     */
    async completeCheckout(checkoutId: string, status: CheckoutStatus, failure?: Failure): Promise<CheckoutView> {
      await withTransaction(pool, async (tx) => {
        await transitionCheckout(tx, checkoutId, status, failure);
        await recordAttention(tx, checkoutId);
      });
      return (await findCheckoutView(pool, checkoutId))!;
    },

    /** After a compensation was retried: records what the checkout still holds, and answers the checkout. */
    async refreshAttention(checkoutId: string): Promise<CheckoutView> {
      await withTransaction(pool, (tx) => recordAttention(tx, checkoutId));
      return (await findCheckoutView(pool, checkoutId))!;
    },

    /** The order as the books have it: for a checkout whose child workflow ended without an answer. */
    async paymentOrderState(paymentOrderId: string): Promise<PaymentOrderView> {
      const order = await findPaymentOrderView(pool, paymentOrderId);
      if (!order) throw new Error(`payment order ${paymentOrderId} does not exist`);
      const { checkoutId: _checkoutId, ...view } = order;
      return view;
    },

    async cancelPaymentOrders(paymentOrderIds: string[], failure: Failure): Promise<void> {
      await withTransaction(pool, (tx) => cancelPendingPaymentOrders(tx, paymentOrderIds, failure));
    },

    async authorizePaymentOrder(order: PaymentOrderInput): Promise<AuthorizationOutcome> {
      let outcome: Exclude<AuthorizationOutcome, { outcome: 'pending' }>;
      try {
        const result = await withinAttempt((signal) =>
          psp.authorize({
            paymentOrderId: order.paymentOrderId,
            amount: order.amount,
            currency: order.currency,
            paymentMethod: order.paymentMethod,
            idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'authorize'),
            signal,
          }),
        );
        if (result.outcome === 'pending') return { outcome: 'pending', pspReference: result.pspReference };
        outcome =
          result.outcome === 'authorized'
            ? result
            : { outcome: 'failed', pspReference: result.pspReference, failure: { code: result.declineCode, message: result.message } };
      } catch (error) {
        if (!isFinalPspError(error)) throw error;
        outcome = { outcome: 'failed', pspReference: null, failure: failureOf(error) };
      }
      await (outcome.outcome === 'authorized'
        ? transitionPaymentOrder(pool, order.paymentOrderId, 'AUTHORIZED', { pspReference: outcome.pspReference })
        : transitionPaymentOrder(pool, order.paymentOrderId, 'FAILED', { pspReference: outcome.pspReference, failure: outcome.failure }));
      return outcome;
    },

    /**
     * After an authorization was abandoned (released while in flight, or out of retries): whatever the lost
     * attempts did, leave no hold behind. Runs only once those attempts have ended (each is bounded by its
     * deadline and commits nothing after it), so what the PSP shows now is all there will be.
     */
    async releaseUnconfirmedAuthorization(order: PaymentOrderInput, failure: Failure): Promise<Resolution> {
      const payment = await withinAttempt((signal) => psp.findPayment(order.paymentOrderId, { signal }));
      if (!payment || payment.status === 'declined' || payment.status === 'canceled') {
        const status = payment?.status === 'declined' ? 'FAILED' : 'CANCELED';
        await transitionPaymentOrder(pool, order.paymentOrderId, status, { pspReference: payment?.pspReference ?? null, failure });
        return { status, pspReference: payment?.pspReference ?? null };
      }
      // Funds may be held (or the intent could still be confirmed): release it.
      const released = await releaseHold(order, payment.pspReference, failure, payment.status === 'unconfirmed' ? 'CANCELED' : 'VOIDED');
      const status = released.outcome === 'released' ? released.status : released.outcome === 'captured' ? 'SUCCEEDED' : 'AUTHORIZED';
      return { status, pspReference: payment.pspReference };
    },

    async capturePaymentOrder(order: PaymentOrderInput, pspReference: string): Promise<CaptureOutcome> {
      return capture(order, pspReference);
    },

    /** After a capture's retries ran out: did the PSP capture? The workflow releases the hold if not. */
    async resolveUnconfirmedCapture(order: PaymentOrderInput, _pspReference: string): Promise<CaptureOutcome> {
      const payment = await withinAttempt((signal) => psp.findPayment(order.paymentOrderId, { signal }));
      if (payment?.status === 'captured') return { outcome: 'done', fee: payment.fee ?? 0 };
      return { outcome: 'failed', failure: { code: 'psp_unavailable', message: 'the capture could not be confirmed before its deadline' } };
    },

    async recordCapture(order: PaymentOrderInput, fee: number): Promise<void> {
      await bookCapture(order, fee);
    },

    /** The PSP captured the order but the database refused its booking for good: the order says so. */
    async recordCaptureNotBooked(order: PaymentOrderInput, failure: Failure): Promise<void> {
      await recordHeldFailure(pool, order.paymentOrderId, { code: 'capture_not_booked', message: failure.message });
    },

    /**
     * Captures and books the capture, in one activity (one step of the workflow's history instead of two). A
     * retry captures again under the same idempotency key (the PSP answers the first capture) and books at
     * most once. Should the booking keep failing past the capture's deadline, the workflow asks the PSP
     * (resolveUnconfirmedCapture) and books with recordCapture, which retries until it succeeds or the database
     * refuses the write for good.
     */
    async captureAndBookPaymentOrder(order: PaymentOrderInput, pspReference: string): Promise<CaptureOutcome> {
      const outcome = await capture(order, pspReference);
      if (outcome.outcome === 'done') await bookCapture(order, outcome.fee);
      return outcome;
    },

    /**
     * Releases an authorization (nothing moves) and records why; see ReleaseOutcome for what may come back.
     * `releaseId` names a retry after a refusal (the first release of an order needs none).
     */
    async releasePaymentOrder(
      order: PaymentOrderInput,
      pspReference: string,
      failure: Failure,
      to: 'VOIDED' | 'FAILED' = 'VOIDED',
      releaseId?: string,
    ): Promise<ReleaseOutcome> {
      return releaseHold(order, pspReference, failure, to, releaseId);
    },

    /**
     * Holds what is left to refund of a captured order for a compensation. No refund while other refunds
     * are in flight and nothing is left: their answers decide whether something is left after all.
     * The first compensation refund of an order has a fixed id; later rounds (after a refusal) are named by
     * the workflow.
     */
    async reserveCompensationRefund(paymentOrderId: string, reason: RefundReason, refundId?: string): Promise<CompensationRefund> {
      return withTransaction(pool, async (tx) => {
        const reservation = await reserveRefund(tx, {
          refundId: refundId ?? compensationRefundId(paymentOrderId),
          paymentOrderId,
          amount: 'remaining',
          reason,
        });
        if (reservation.kind === 'reserved' || (reservation.kind === 'exists' && reservation.status === 'PENDING')) {
          return { refund: reservation.refund, refundsInFlight: [], idTaken: false };
        }
        return { refund: null, refundsInFlight: await refundsInFlight(tx, paymentOrderId), idTaken: reservation.kind === 'exists' };
      });
    },

    async refundAtPsp(refund: RefundInput): Promise<PspStepOutcome & { pspReference?: string }> {
      try {
        const result = await withinAttempt((signal) =>
          psp.refund({
            pspReference: refund.pspReference,
            amount: refund.amount,
            idempotencyKey: pspIdempotencyKey(refund.paymentOrderId, `refund:${refund.refundId}`),
            signal,
          }),
        );
        return { outcome: 'done', pspReference: result.refundReference };
      } catch (error) {
        if (!isFinalPspError(error)) throw error;
        return { outcome: 'failed', failure: failureOf(error) };
      }
    },

    /** Books a refund: the refund succeeds, the order is (partly) refunded, the wallet debited, the ledger reversed. */
    async recordRefund(refund: RefundInput, pspRefundReference: string, reason: RefundReason): Promise<void> {
      await withTransaction(pool, async (tx) => {
        if (!(await transitionRefund(tx, refund.refundId, 'SUCCEEDED', { pspReference: pspRefundReference }))) return;
        const { rows } = await tx.query<{ amount: string; refunded_amount: string }>(
          'SELECT amount, refunded_amount FROM payment_orders WHERE id = $1 FOR UPDATE',
          [refund.paymentOrderId],
        );
        const fullyRefunded = Number(rows[0]!.refunded_amount) + refund.amount === Number(rows[0]!.amount);
        await transitionPaymentOrder(tx, refund.paymentOrderId, fullyRefunded ? 'REFUNDED' : 'PARTIALLY_REFUNDED', {
          refunded: refund.amount,
          ...(reason === 'requested_by_customer' ? {} : { failure: { code: reason, message: `refunded: ${reason}` } }),
        });
        await recordAttention(tx, refund.checkoutId);
        await moveSellerBalance(tx, {
          paymentOrderId: refund.paymentOrderId,
          step: `refund:${refund.refundId}`,
          description: `refund ${refund.refundId} of payment order ${refund.paymentOrderId}`,
          sellerId: refund.sellerId,
          currency: refund.currency,
          amount: -refund.amount,
        });
      });
    },

    async failRefund(refundId: string, failure: Failure): Promise<void> {
      await transitionRefund(pool, refundId, 'FAILED', { failure });
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;
