import { paymentOrderWorkflowId } from '../domain/ids';
import { orderBooks } from './support/books';
import { activityScheduled } from './support/history';
import { checkInvariants, formatViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * Sequences tried as an adversary would against a payment order that captures and books in one activity,
 * each checked against the PSP's own record, the books and the statuses.
 */

describe('adversary3: a capture booked by the activity that made it', () => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle({ psp: 'simulated' });
  });
  afterAll(() => settle?.stop());

  const violations = async (checkoutIds: string[], settleWithinMs: number) =>
    formatViolations(await checkInvariants({ pool: settle.pool, psp: settle.psp, checkoutIds, settleWithinMs }));

  it('a booking that outlives its attempt (the order row held past start-to-close): captured once, booked once', async () => {
    const card = await settle.psp.paymentMethod('visa');
    // The capture answers late in its attempt, so the booking starts close to the attempt's deadline.
    settle.psp.inject({ operation: 'capture', paymentMethod: card }, { kind: 'slow', ms: 20_000, times: 1 });
    const checkoutId = await settle.createCheckout({ paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount: 4200 }] });
    const orderId = await eventually('the order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
    await eventually('the capture to be under way', () => activityScheduled(settle.temporal, paymentOrderWorkflowId(orderId), 'captureAndBookPaymentOrder'), 60_000);
    // Another transaction holds the order's row: the first attempt's booking waits on it past its 30 s, and
    // the retry (capturing again under the same key) waits behind it.
    const blocker = await settle.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM payment_orders WHERE id = $1 FOR UPDATE', [orderId]);
      await eventually('the capture to be made at the PSP', async () => (await settle.psp.chargesFor(orderId)).some((charge) => charge.status === 'succeeded'), 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20_000));
    } finally {
      await blocker.query('COMMIT');
      blocker.release();
    }
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 4200 })]);
    expect(await orderBooks(settle.pool, orderId)).toMatchObject({ wallet: 4200, captureTransactions: 1 });
    // The attack took place: the attempt that answered is not the first (the first ran out of its 30 s).
    const history = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).fetchHistory();
    const attempts = history.events!.flatMap((event) => event.activityTaskStartedEventAttributes?.attempt ?? []);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 180_000);
});
