import { randomBytes } from 'node:crypto';
import type { Currency } from '../domain/money';
import { createPool, type Pool } from '../db/pool';
import { createTestPsp, PSP_KINDS, type PspKind, type TestPsp } from './support/psps';
import { recordedOrder } from './support/records';

/**
 * A refund is asked again under its first idempotency key when its answer was lost or its record refused. A
 * PSP keeps keys for a limited time (Stripe: 24 hours; the Stripe stand-in keeps none), so a refund asked
 * again after that must still find the first refund at the PSP, not be refused for lack of anything left to
 * refund and booked as failed while the buyer has the money.
 */
let pool: Pool;
beforeAll(() => {
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 4);
});
afterAll(() => pool?.end());

/** The PSP forgets the key, as it does once its retention has passed. */
async function forgetKey(kind: PspKind, key: string): Promise<void> {
  if (kind === 'simulated') await pool.query('DELETE FROM psp_simulator_idempotency WHERE key = $1', [key]);
  // The Stripe stand-in keeps no idempotency keys at all.
}

describe.each(PSP_KINDS)('with PSP=%s, a refund asked again after the PSP forgot its key', (kind) => {
  let testPsp: TestPsp;
  beforeAll(async () => {
    testPsp = await createTestPsp(kind, pool, randomBytes(8).toString('hex'));
  });
  afterAll(() => testPsp?.stop());

  it('answers the first refund, and the PSP refunded once', async () => {
    const order = await recordedOrder(pool, { amount: 1_000, currency: 'USD' as Currency });
    const { psp } = testPsp;
    const key = (step: string) => `${order.paymentOrderId}:${step}`;
    const authorized = await psp.authorize({
      paymentOrderId: order.paymentOrderId,
      amount: order.amount,
      currency: order.currency,
      paymentMethod: await testPsp.paymentMethod('visa'),
      idempotencyKey: key('authorize'),
    });
    expect(authorized.outcome).toBe('authorized');
    const pspReference = authorized.pspReference!;
    await psp.capture({ pspReference, amount: order.amount, idempotencyKey: key('capture') });

    const refund = { pspReference, amount: 400, idempotencyKey: key('refund:re_1') };
    const first = await psp.refund(refund);
    await forgetKey(kind, refund.idempotencyKey);
    expect(await psp.refund(refund)).toEqual(first);
    // A second refund of its own is still a new one.
    await psp.refund({ pspReference, amount: 600, idempotencyKey: key('refund:re_2') });

    expect(await testPsp.chargesFor(order.paymentOrderId)).toEqual([
      expect.objectContaining({ status: 'succeeded', amountCaptured: 1_000, amountRefunded: 1_000 }),
    ]);
  });
});
