import { compensationWorkflowId } from '../domain/ids';
import { compensationRefundId, refundWorkflowId } from '../domain/refund';
import { expectBooksAgree } from './support/agreement';
import { invariantViolations } from './support/invariants';
import { refuseWrite, waitingForCaptureBesideADecline } from './support/refusedBooking';
import { retryCompensationRound } from './support/compensationRounds';
import { startSettle, type TestSettle } from './support/settle';

/**
 * Undo steps (a release, a refund) whose write the database refuses for good, taken as an answer by the
 * checkout and its compensation: what the checkout, its attention and the compensation's retries then say,
 * against the PSP's own record, before and after the database is mended.
 */

let settle: TestSettle;
beforeAll(async () => {
  // A database of its own: the books disagree with the PSP here on purpose.
  settle = await startSettle({ psp: 'simulated', isolatedDatabase: true, workflowAnswerTimeoutMs: 180_000 });
}, 300_000);
afterAll(() => settle?.stop());

const violations = (checkoutId: string) => invariantViolations(settle, [checkoutId], 10_000);

/**
 * A manual-capture checkout of a captured order and a sibling whose capture is declined: the checkout refunds
 * the captured one, the PSP makes the refund, and the books refuse (for good) to mark it SUCCEEDED.
 */
async function refusedCheckoutRefund(amount: number): Promise<{ checkoutId: string; orderId: string; mend: () => Promise<void> }> {
  const { checkoutId, orderId } = await waitingForCaptureBesideADecline(settle, amount);
  const mend = await refuseWrite(settle, { table: 'refunds', column: 'payment_order_id', id: orderId, status: 'SUCCEEDED' });
  expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
  const result = await settle.checkoutResult(checkoutId);
  expect({ status: result.status, attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
    status: 'FAILED',
    attention: 'refund_refused',
    held: amount,
  });
  expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ amountCaptured: amount, amountRefunded: amount })]);
  return { checkoutId, orderId, mend };
}

describe('adversary13: undo steps the database refuses for good', () => {
  it("a checkout's refund whose reservation the books refuse: the checkout names the capture, nothing reaches the PSP, and once mended the compensation refunds it once", async () => {
    const { checkoutId, orderId } = await waitingForCaptureBesideADecline(settle, 2600);
    const mend = await refuseWrite(settle, { table: 'refunds', column: 'payment_order_id', id: orderId, on: 'INSERT' });
    try {
      expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, order: result.orders[0]!.status, attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
        status: 'FAILED',
        order: 'SUCCEEDED',
        attention: 'refund_refused',
        held: 2600,
      });
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ amountCaptured: 2600, amountRefunded: 0 })]);
      // A round while the books still refuse: it ends, the record unchanged, the compensation still retrying.
      expect(await retryCompensationRound(settle, checkoutId, 60_000)).toBe(true);
      expect((await settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId)).describe()).status.name).toBe('RUNNING');
      expect((await settle.checkout(checkoutId)).attention?.heldAmount).toBe(2600);

      await mend();
      expect(await retryCompensationRound(settle, checkoutId, 60_000)).toBe(true);
      const mended = await settle.checkout(checkoutId);
      expect({ order: mended.orders[0]!.status, refunded: mended.orders[0]!.refundedAmount, attention: mended.attention }).toEqual({
        order: 'REFUNDED',
        refunded: 2600,
        attention: null,
      });
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ amountCaptured: 2600, amountRefunded: 2600 })]);
      await expectBooksAgree(settle.pool, settle.psp, mended);
      expect(await violations(checkoutId)).toBe('');
    } finally {
      await mend();
    }
  }, 300_000);

  it('a compensation round whose refund the books still refuse: the round ends (refused), the compensation keeps its own retries, and once mended it records the refund the PSP made', async () => {
    const { checkoutId, orderId, mend } = await refusedCheckoutRefund(3300);
    try {
      const compensation = settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId));
      const refund = settle.temporal.workflow.getHandle(refundWorkflowId(compensationRefundId(orderId)));
      // The refund left PENDING is run again, fails again on the books' refusal, and the round ends on it,
      // twice: the compensation neither fails nor loops on it.
      for (const round of [1, 2]) {
        expect([round, await retryCompensationRound(settle, checkoutId, 120_000)]).toEqual([round, true]);
        expect([round, (await compensation.describe()).status.name, (await refund.describe()).status.name]).toEqual([round, 'RUNNING', 'FAILED']);
      }
      expect((await settle.checkout(checkoutId)).attention).toMatchObject({ code: 'refund_refused', heldAmount: 3300 });
      // What the PSP did is not done twice.
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ amountCaptured: 3300, amountRefunded: 3300 })]);

      await mend();
      expect(await retryCompensationRound(settle, checkoutId, 120_000)).toBe(true);
      expect((await compensation.result()).attention).toBeNull();
      const mended = await settle.checkout(checkoutId);
      expect({ order: mended.orders[0]!.status, refunded: mended.orders[0]!.refundedAmount }).toEqual({ order: 'REFUNDED', refunded: 3300 });
      expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ amountCaptured: 3300, amountRefunded: 3300 })]);
      await expectBooksAgree(settle.pool, settle.psp, mended);
      expect(await violations(checkoutId)).toBe('');
    } finally {
      await mend();
    }
  }, 300_000);
});
