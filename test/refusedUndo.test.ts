import { compensationWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { invariantViolations } from './support/invariants';
import { expectBooksAgree } from './support/agreement';
import { expectMendedAndRefunded, refuseWrite, waitingForCapture, waitingForCaptureBesideADecline } from './support/refusedBooking';
import { retryCompensationRound } from './support/compensationRounds';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * Where a checkout or its compensation gives money back (a release, a refund), the PSP may do its part and
 * the database then refuse, for good, the write that records it. The workflow must not fail there (a failed
 * checkout workflow leaves the checkout PROCESSING in the books for ever; a failed compensation stops
 * retrying): it ends that step on the books as they are, whose record says what is still held, and the
 * compensation takes it up again once the database takes the write.
 */

let settle: TestSettle;
beforeAll(async () => {
  // A database of its own: the books disagree with the PSP here on purpose, which a verify over the shared
  // database, run by another file meanwhile, would report.
  settle = await startSettle({ psp: 'simulated', isolatedDatabase: true, workflowAnswerTimeoutMs: 120_000 });
}, 300_000);
afterAll(() => settle?.stop());

const invariantsHold = async (checkoutId: string) =>
  expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');

describe('a release or refund the PSP made and the database refuses to record, for good', () => {
  it('an abandoned order released by its checkout: the checkout still ends, naming the hold; once mended, the compensation records the release', async () => {
    const { checkoutId, orderId } = await waitingForCapture(settle, 2300);
    const mend = await refuseWrite(settle, { table: 'payment_orders', column: 'id', id: orderId, status: 'VOIDED' });
    try {
      // An operator ends the order's workflow; the cancel's checkout settles the order itself, and the PSP
      // releases the hold, which the books refuse to record.
      await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).terminate('an operator ended it');
      expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, order: result.orders[0]!.status, attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
        status: 'CANCELED',
        order: 'AUTHORIZED',
        attention: 'release_refused',
        held: 2300,
      });
      expect((await settle.checkout(checkoutId)).status).toBe('CANCELED');
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);

      await mend();
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      const mended = await settle.checkout(checkoutId);
      expect({ status: mended.status, order: mended.orders[0]!.status, attention: mended.attention }).toEqual({ status: 'CANCELED', order: 'VOIDED', attention: null });
      await expectBooksAgree(settle.pool, settle.psp, mended);
      await invariantsHold(checkoutId);
    } finally {
      await mend();
    }
  }, 240_000);

  it('a compensation round whose release the books refuse: it keeps retrying, and records the release once they take it', async () => {
    const card = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'void', paymentMethod: card }, { kind: 'decline', code: 'payment_intent_unexpected_state' });
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount: 1700 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const orderId = (await settle.checkout(checkoutId)).orders[0]!.orderId;
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
    expect((await settle.checkoutResult(checkoutId)).attention?.code).toBe('release_refused');

    // The PSP would release it now; the books refuse to record the release.
    settle.psp.inject({ operation: 'void', paymentMethod: card }, { kind: 'transient', times: 0 });
    const mend = await refuseWrite(settle, { table: 'payment_orders', column: 'id', id: orderId, status: 'VOIDED' });
    try {
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      const compensation = settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId));
      expect((await compensation.describe()).status.name).toBe('RUNNING');
      const still = await settle.checkout(checkoutId);
      expect({ order: still.orders[0]!.status, attention: still.attention?.code, held: still.attention?.heldAmount }).toEqual({
        order: 'AUTHORIZED',
        attention: 'release_refused',
        held: 1700,
      });

      await mend();
      expect(await retryCompensationRound(settle, checkoutId)).toBe(true);
      expect((await compensation.result()).attention).toBeNull();
      const mended = await settle.checkout(checkoutId);
      expect({ order: mended.orders[0]!.status, attention: mended.attention }).toEqual({ order: 'VOIDED', attention: null });
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);
      await expectBooksAgree(settle.pool, settle.psp, mended);
      await invariantsHold(checkoutId);
    } finally {
      await mend();
    }
  }, 240_000);

  it("a checkout's refund of a captured sibling: the checkout still ends FAILED, naming the capture; once mended, the refund the PSP made is recorded, not made twice", async () => {
    const { checkoutId, orderId } = await waitingForCaptureBesideADecline(settle, 4200);
    const mend = await refuseWrite(settle, { table: 'refunds', column: 'payment_order_id', id: orderId, status: 'SUCCEEDED' });
    try {
      expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, orders: result.orders.map((order) => order.status), attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
        status: 'FAILED',
        orders: ['SUCCEEDED', 'FAILED'],
        attention: 'refund_refused',
        held: 4200,
      });
      expect((await settle.checkout(checkoutId)).status).toBe('FAILED');
      // The PSP gave the money back; the books have the refund PENDING.
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 4200, amountRefunded: 4200 })]);

      await expectMendedAndRefunded(settle, checkoutId, orderId, 4200, mend, { status: 'FAILED', withinMs: 90_000 });
    } finally {
      await mend();
    }
  }, 240_000);
});
