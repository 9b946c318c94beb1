import type { CheckoutInput, PaymentOrderInput } from '../domain/checkout';
import { captureTransaction } from '../domain/ledger';
import type { CheckoutStatus } from '../domain/status';
import { insertCheckout, transitionCheckout } from '../db/checkouts';
import { postLedgerTransaction } from '../db/ledger';
import { transitionPaymentOrder } from '../db/paymentOrders';
import { withTransaction, type Pool } from '../db/pool';
import { moveWallet } from '../db/wallets';
import { PspInvalidRequestError } from '../psp/errors';
import { pspIdempotencyKey, type Psp } from '../psp/types';

export interface ActivityDeps {
  pool: Pool;
  psp: Psp;
}

export type AuthorizationOutcome =
  | { outcome: 'authorized'; pspReference: string }
  | { outcome: 'failed'; pspReference: string | null; code: string; message: string };

/**
 * Every side effect of a checkout. Each activity may run more than once (Temporal retries one whose outcome
 * it did not hear), so each is idempotent: PSP calls by idempotency key, database writes by natural key.
 */
export function createActivities({ pool, psp }: ActivityDeps) {
  return {
    async recordCheckout(input: CheckoutInput): Promise<void> {
      await withTransaction(pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
    },

    async setCheckoutStatus(checkoutId: string, status: CheckoutStatus, failureReason: string | null = null): Promise<void> {
      await transitionCheckout(pool, checkoutId, status, failureReason);
    },

    async authorizePaymentOrder(order: PaymentOrderInput): Promise<AuthorizationOutcome> {
      let outcome: AuthorizationOutcome;
      try {
        const result = await psp.authorize({
          paymentOrderId: order.paymentOrderId,
          amount: order.amount,
          currency: order.currency,
          paymentMethod: order.paymentMethod,
          idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'authorize'),
        });
        outcome =
          result.outcome === 'authorized'
            ? result
            : { outcome: 'failed', pspReference: result.pspReference, code: result.declineCode, message: result.message };
      } catch (error) {
        if (!(error instanceof PspInvalidRequestError)) throw error;
        outcome = { outcome: 'failed', pspReference: null, code: error.code, message: error.message };
      }
      await withTransaction(pool, (tx) =>
        outcome.outcome === 'authorized'
          ? transitionPaymentOrder(tx, order.paymentOrderId, 'AUTHORIZED', { pspReference: outcome.pspReference })
          : transitionPaymentOrder(tx, order.paymentOrderId, 'FAILED', {
              ...(outcome.pspReference ? { pspReference: outcome.pspReference } : {}),
              failureCode: outcome.code,
              failureMessage: outcome.message,
            }),
      );
      return outcome;
    },

    async capturePaymentOrder(order: PaymentOrderInput, pspReference: string): Promise<void> {
      await psp.capture({
        pspReference,
        amount: order.amount,
        idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'capture'),
      });
    },

    /** Books a capture: the order succeeds, the seller's wallet is credited and the ledger posted, together. */
    async recordCapture(order: PaymentOrderInput): Promise<void> {
      await withTransaction(pool, async (tx) => {
        await transitionPaymentOrder(tx, order.paymentOrderId, 'SUCCEEDED');
        await moveWallet(tx, {
          paymentOrderId: order.paymentOrderId,
          step: 'capture',
          sellerId: order.sellerId,
          currency: order.currency,
          amount: order.amount,
        });
        await postLedgerTransaction(tx, captureTransaction(order));
      });
    },

    async voidPaymentOrder(order: PaymentOrderInput, pspReference: string): Promise<void> {
      await psp.void({ pspReference, idempotencyKey: pspIdempotencyKey(order.paymentOrderId, 'void') });
      await transitionPaymentOrder(pool, order.paymentOrderId, 'VOIDED');
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
