import type { CheckoutInput, CheckoutView, PaymentOrderInput } from '../domain/checkout';
import type { Failure } from '../domain/failures';
import { compensationRefundId, type RefundInput, type RefundReason } from '../domain/refund';
import type { CheckoutStatus, PaymentOrderStatus } from '../domain/status';
import { findCheckoutView, insertCheckout, transitionCheckout } from '../db/checkouts';
import { moveSellerBalance } from '../db/books';
import { cancelPendingPaymentOrders, transitionPaymentOrder } from '../db/paymentOrders';
import { withTransaction, type Pool } from '../db/pool';
import { reserveRefund, transitionRefund } from '../db/refunds';
import { isFinalPspError } from '../psp/errors';
import { pspIdempotencyKey, type Psp } from '../psp/types';

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

/** Where a payment order stands after Settle gave up waiting for a PSP answer and asked the PSP directly. */
export interface Resolution {
  status: PaymentOrderStatus;
  pspReference: string | null;
}

function failureOf(error: { code: string; message: string }): Failure {
  return { code: error.code, message: error.message };
}

/**
 * Every side effect of a checkout. Each activity may run more than once (Temporal retries one whose outcome
 * it did not hear), so each is idempotent: PSP calls by idempotency key, database writes by natural key and
 * by status transitions that a repeat finds already made.
 */
export function createActivities({ pool, psp }: ActivityDeps) {
  const voidAtPsp = async (paymentOrderId: string, pspReference: string) => {
    try {
      await psp.void({ pspReference, idempotencyKey: pspIdempotencyKey(paymentOrderId, 'void') });
    } catch (error) {
      // Already released (expired, or voided before): the hold is gone, which is what was asked.
      if (!isFinalPspError(error)) throw error;
      const payment = await psp.findPayment(paymentOrderId);
      if (payment?.status !== 'canceled' && payment?.status !== 'declined') throw error;
    }
  };

  return {
    async recordCheckout(input: CheckoutInput): Promise<void> {
      await withTransaction(pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
    },

    async setCheckoutStatus(checkoutId: string, status: CheckoutStatus): Promise<void> {
      await transitionCheckout(pool, checkoutId, status);
    },

    /** Records the checkout's outcome and answers the checkout as the database now holds it. */
    async completeCheckout(checkoutId: string, status: CheckoutStatus, failure?: Failure): Promise<CheckoutView> {
      await transitionCheckout(pool, checkoutId, status, failure);
      return (await findCheckoutView(pool, checkoutId))!;
    },

    async cancelPaymentOrders(paymentOrderIds: string[], failure: Failure): Promise<void> {
      await withTransaction(pool, (tx) => cancelPendingPaymentOrders(tx, paymentOrderIds, failure));
    },

    async authorizePaymentOrder(order: PaymentOrderInput): Promise<AuthorizationOutcome> {
      let outcome: Exclude<AuthorizationOutcome, { outcome: 'pending' }>;
      try {
        const result = await psp.authorize({
          paymentOrderId: order.paymentOrderId,
          amount: order.amount,
          currency: order.currency,
          paymentMethod: order.paymentMethod,
          idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'authorize'),
        });
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
     * attempts did, leave no hold behind. Asks the PSP what it holds for the order and releases it.
     */
    async releaseUnconfirmedAuthorization(order: PaymentOrderInput, failure: Failure): Promise<Resolution> {
      const payment = await psp.findPayment(order.paymentOrderId);
      if (!payment) {
        await transitionPaymentOrder(pool, order.paymentOrderId, 'CANCELED', { failure });
        return { status: 'CANCELED', pspReference: null };
      }
      if (payment.status === 'authorized' || payment.status === 'unconfirmed') await voidAtPsp(order.paymentOrderId, payment.pspReference);
      const status = payment.status === 'declined' ? 'FAILED' : payment.status === 'unconfirmed' ? 'CANCELED' : 'VOIDED';
      await transitionPaymentOrder(pool, order.paymentOrderId, status, { pspReference: payment.pspReference, failure });
      return { status, pspReference: payment.pspReference };
    },

    async capturePaymentOrder(order: PaymentOrderInput, pspReference: string): Promise<CaptureOutcome> {
      try {
        const captured = await psp.capture({ pspReference, amount: order.amount, idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'capture') });
        return { outcome: 'done', fee: captured.fee };
      } catch (error) {
        if (!isFinalPspError(error)) throw error;
        return { outcome: 'failed', failure: failureOf(error) };
      }
    },

    /** After a capture's retries ran out: did the PSP capture? Answers 'done' if so, else releases the hold. */
    async resolveUnconfirmedCapture(order: PaymentOrderInput, pspReference: string): Promise<CaptureOutcome> {
      const payment = await psp.findPayment(order.paymentOrderId);
      if (payment?.status === 'captured') return { outcome: 'done', fee: payment.fee ?? 0 };
      const failure = { code: 'psp_unavailable', message: 'the capture could not be confirmed before its deadline' };
      if (payment?.status === 'authorized') await voidAtPsp(order.paymentOrderId, pspReference);
      return { outcome: 'failed', failure };
    },

    /** Books a capture: the order succeeds, the seller's wallet is credited and the ledger posted, together. */
    async recordCapture(order: PaymentOrderInput, fee: number): Promise<void> {
      await withTransaction(pool, async (tx) => {
        if (!(await transitionPaymentOrder(tx, order.paymentOrderId, 'SUCCEEDED', { fee }))) return;
        await moveSellerBalance(tx, {
          fee,
          paymentOrderId: order.paymentOrderId,
          step: 'capture',
          description: `capture of payment order ${order.paymentOrderId}`,
          sellerId: order.sellerId,
          currency: order.currency,
          amount: order.amount,
        });
      });
    },

    /** Releases an authorization (nothing moves) and records why. */
    async voidPaymentOrder(order: PaymentOrderInput, pspReference: string, failure: Failure, to: 'VOIDED' | 'FAILED' = 'VOIDED'): Promise<void> {
      await voidAtPsp(order.paymentOrderId, pspReference);
      await transitionPaymentOrder(pool, order.paymentOrderId, to, { failure });
    },

    /** Holds what is left to refund of a captured order for a compensation; null when nothing is left. */
    async reserveCompensationRefund(paymentOrderId: string, reason: RefundReason): Promise<RefundInput | null> {
      const reservation = await withTransaction(pool, (tx) =>
        reserveRefund(tx, { refundId: compensationRefundId(paymentOrderId), paymentOrderId, amount: 'remaining', reason }),
      );
      return reservation.kind === 'reserved' || reservation.kind === 'exists' ? reservation.refund : null;
    },

    async refundAtPsp(refund: RefundInput): Promise<PspStepOutcome & { pspReference?: string }> {
      try {
        const result = await psp.refund({
          pspReference: refund.pspReference,
          amount: refund.amount,
          idempotencyKey: pspIdempotencyKey(refund.paymentOrderId, `refund:${refund.refundId}`),
        });
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
  };
}

export type Activities = ReturnType<typeof createActivities>;
