import { randomBytes } from 'node:crypto';
import { paymentOrderWorkflowId } from '../domain/ids';
import type { PaymentOrderView } from '../domain/checkout';
import { pspIdempotencyKey } from '../psp/types';
import { expectBooksAgree } from './support/agreement';
import { checkInvariants, formatViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * A release that finds the payment already captured at the PSP (a capture that went through late) books that
 * capture itself. When the database refuses that booking for good, the order and its checkout must say the
 * PSP took the money, not that it holds it; once the database takes the write, the capture is booked and
 * given back.
 */

let settle: TestSettle;
beforeAll(async () => {
  // A database of its own: this holds, on purpose, a PSP capture the books do not have, which a verify over
  // the shared database, run by another file meanwhile, would report.
  settle = await startSettle({ psp: 'simulated', isolatedDatabase: true });
}, 300_000);
afterAll(() => settle?.stop());

/** Makes the database refuse, for good, every move of one order to SUCCEEDED; answers how to mend it. */
async function refuseCaptureBooking(orderId: string): Promise<() => Promise<void>> {
  const fn = `refuse_${randomBytes(4).toString('hex')}`;
  await settle.pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF NEW.id = '${orderId}' AND NEW.status = 'SUCCEEDED' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$`);
  await settle.pool.query(`CREATE TRIGGER ${fn} BEFORE UPDATE ON payment_orders FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
  let dropped = false;
  return async () => {
    if (dropped) return;
    dropped = true;
    await settle.pool.query(`DROP TRIGGER ${fn} ON payment_orders`);
    await settle.pool.query(`DROP FUNCTION ${fn}()`);
  };
}

/**
 * Cancels the checkout, whose order's release then finds the capture; expects the order and its checkout to
 * say the PSP captured the amount and the books refused it. Then mends the database, retries the checkout's
 * compensation and expects the capture booked and refunded, the books, the PSP and the statuses agreeing.
 */
async function expectCaptureNotBookedThenRefunded(checkoutId: string, orderId: string, amount: number, mend: () => Promise<void>): Promise<void> {
  expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
  const result = await settle.checkoutResult(checkoutId);
  const order: PaymentOrderView = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).result();

  expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: amount })]);
  expect({
    status: result.status,
    workflowOrder: order.failureCode,
    order: result.orders[0]!.status,
    orderFailure: result.orders[0]!.failureCode,
    attention: result.attention?.code,
    held: result.attention?.heldAmount,
  }).toEqual({
    status: 'CANCELED',
    workflowOrder: 'capture_not_booked',
    order: 'AUTHORIZED',
    orderFailure: 'capture_not_booked',
    attention: 'capture_not_booked',
    held: amount,
  });
  expect(result.attention?.message).toContain('captured by the PSP, not booked');
  expect(result.attention?.message).not.toContain('hold not released');

  // The database is mended; a retry books the capture the PSP made and gives it back, as the cancel calls for.
  await mend();
  expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
  await eventually('the compensation to book and refund the capture', async () => (await settle.checkout(checkoutId)).attention === null, 60_000);
  const mended = await settle.checkout(checkoutId);
  expect({ status: mended.status, order: mended.orders[0]!.status, refunded: mended.orders[0]!.refundedAmount }).toEqual({
    status: 'CANCELED',
    order: 'REFUNDED',
    refunded: amount,
  });
  expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: amount, amountRefunded: amount })]);
  await expectBooksAgree(settle.pool, settle.psp, mended);
  expect(formatViolations(await checkInvariants({ pool: settle.pool, psp: settle.psp, checkoutIds: [checkoutId], settleWithinMs: 30_000 }))).toBe('');
}

describe('adversary4: a release finds a late capture whose booking the database refuses for good', () => {
  it('an authorized order: says the PSP captured it (not "holds" it) while the books refuse, and books and gives it back once they take it', async () => {
    const card = await settle.psp.paymentMethod('visa');
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount: 2500 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const { orderId, pspReference } = (await settle.checkout(checkoutId)).orders[0]!;
    const mend = await refuseCaptureBooking(orderId);
    try {
      // The capture reaches the PSP on its own, unknown to the order's workflow (late, or from the PSP's
      // dashboard): the hold is now captured money.
      await settle.psp.psp.capture({ pspReference: pspReference!, amount: 2500, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      await expectCaptureNotBookedThenRefunded(checkoutId, orderId, 2500, mend);
    } finally {
      await mend();
    }
  }, 180_000);

  it('an order whose authorization answers were lost (the books say PENDING): the same, the captured money named, not forgotten', async () => {
    const lost = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'authorize', paymentMethod: lost }, { kind: 'timeoutAfterCommit', times: 1_000 });
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: lost, orders: [{ sellerId: uniqueId('seller'), amount: 1800 }] });
    const orderId = await eventually('the order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
    const hold = await eventually('the hold to be placed', async () => (await settle.psp.chargesFor(orderId)).find((charge) => charge.status === 'requires_capture'));
    const mend = await refuseCaptureBooking(orderId);
    try {
      await settle.psp.psp.capture({ pspReference: hold.pspReference, amount: 1800, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      expect((await settle.checkout(checkoutId)).orders[0]!.status).toBe('PENDING');
      await expectCaptureNotBookedThenRefunded(checkoutId, orderId, 1800, mend);
    } finally {
      await mend();
    }
  }, 180_000);
});
