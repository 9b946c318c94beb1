import type Stripe from 'stripe';
import type { Pool } from '../../db/pool';
import type { FaultTarget, PspFault } from '../../psp/faults';
import { SimulatedPsp } from '../../psp/simulated';
import { createStripeClient, StripePsp } from '../../psp/stripe';
import { fromStripeAmount } from '../../psp/stripeAmounts';
import type { Psp } from '../../psp/types';
import { StripeFaultProxy } from './stripeFaultProxy';

export type PspKind = 'simulated' | 'stripe';
export const PSP_KINDS: PspKind[] = ['simulated', 'stripe'];

/** A payment the PSP made, from the PSP's own records. */
export interface PspCharge {
  pspReference: string;
  status: 'requires_capture' | 'succeeded' | 'canceled' | 'declined';
  amount: number;
  amountCaptured: number;
  amountRefunded: number;
  fee: number;
}

/** Kinds of test payment method, named after Stripe's test cards. */
export type TestCard = 'visa' | 'declines' | 'requires_authentication';

/** The PSP a test runs against, with what the test needs of it beyond the Psp interface. */
export interface TestPsp {
  kind: PspKind;
  psp: Psp;
  /** A payment method of its own, so that faults planned for it touch no other test. */
  paymentMethod(card: TestCard): Promise<string>;
  inject(target: FaultTarget, fault: PspFault): void;
  /** Every payment the PSP charged (confirmed) for a payment order, as the PSP records it. */
  chargesFor(paymentOrderId: string): Promise<PspCharge[]>;
  /**
   * Stripe keeps idempotency keys (a repeated key in flight answers 409, a repeated key done answers the first
   * answer again); the stand-in does not. From now on, answer as Stripe would (stripe only).
   */
  honourIdempotencyKeys?(): void;
  /** The stand-in's client, for stripe tests that act as the buyer or as Stripe. */
  stripe?: Stripe;
  stop(): Promise<void>;
}

const STRIPE_TEST_CARDS: Record<TestCard, string> = {
  visa: '4242424242424242',
  declines: '4000000000000341',
  requires_authentication: '4000002500003155',
};

export async function createTestPsp(kind: PspKind, pool: Pool, seed: string, latencyMs = 0): Promise<TestPsp> {
  if (kind === 'simulated') {
    // Stripe's standard card fee, so that every path books fees.
    const psp = new SimulatedPsp(pool, { seed, latencyMs, fee: { basisPoints: 290, fixed: 30 } });
    return {
      kind,
      psp,
      paymentMethod: (card) => {
        if (card === 'requires_authentication') throw new Error('the simulator has no cards that require authentication');
        return psp.createPaymentMethod(card === 'visa' ? 'pm_card_visa' : 'pm_card_chargeCustomerFail');
      },
      inject: (target, fault) => psp.inject(target, fault),
      chargesFor: async (paymentOrderId) =>
        (await psp.chargesFor(paymentOrderId)).map(({ pspReference, status, amount, amountCaptured, amountRefunded, fee }) => ({
          pspReference,
          status,
          amount,
          amountCaptured,
          amountRefunded,
          fee,
        })),
      stop: async () => undefined,
    };
  }

  const standInPort = Number(process.env.SETTLE_TEST_STRIPE_PORT);
  if (!standInPort) throw new Error('SETTLE_TEST_STRIPE_PORT is not set: run the tests with `npm test`');
  const proxy = new StripeFaultProxy(standInPort);
  const proxyPort = await proxy.start();
  const secretKey = 'sk_test_settle';
  const psp = new StripePsp(pool, createStripeClient({ secretKey, apiBase: { protocol: 'http', host: '127.0.0.1', port: proxyPort } }));
  // The test's own view of the stand-in bypasses the proxy.
  const stripe = createStripeClient({ secretKey, apiBase: { protocol: 'http', host: '127.0.0.1', port: standInPort } });
  return {
    kind,
    psp,
    stripe,
    async paymentMethod(card) {
      const method = await stripe.paymentMethods.create({
        type: 'card',
        card: { number: STRIPE_TEST_CARDS[card], exp_month: 12, exp_year: 2030, cvc: '123' } as never,
      });
      return method.id;
    },
    inject: (target, fault) => proxy.inject(target, fault),
    honourIdempotencyKeys: () => proxy.honourIdempotencyKeys(),
    async chargesFor(paymentOrderId) {
      // Every intent Settle created for the order, as the proxy saw it created (listing all of the stand-in's
      // intents would grow with every test); an intent never confirmed has no charge and charged nothing.
      const charges: PspCharge[] = [];
      for (const intentId of proxy.intentsFor(paymentOrderId)) {
        const intent = await stripe.paymentIntents.retrieve(intentId);
        if (intent.metadata?.payment_order_id !== paymentOrderId || !intent.latest_charge) continue;
        const chargeId = typeof intent.latest_charge === 'string' ? intent.latest_charge : intent.latest_charge.id;
        const charge = await stripe.charges.retrieve(chargeId, { expand: ['balance_transaction'] });
        const balance = charge.balance_transaction as Stripe.BalanceTransaction | null;
        // In Settle's unit (ISO minor units), which is not always Stripe's.
        const iso = (amount: number, currency = intent.currency) => fromStripeAmount(currency, amount);
        charges.push({
          pspReference: intent.id,
          status: intent.status === 'requires_payment_method' ? 'declined' : (intent.status as PspCharge['status']),
          amount: iso(intent.amount),
          amountCaptured: charge.captured ? iso(charge.amount) : 0,
          amountRefunded: iso(charge.amount_refunded),
          fee: balance ? iso(balance.fee, balance.currency) : 0,
        });
      }
      return charges;
    },
    stop: () => proxy.stop(),
  };
}
