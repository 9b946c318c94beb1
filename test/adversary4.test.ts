import { paymentOrderWorkflowId } from '../domain/ids';
import type { PaymentOrderView } from '../domain/checkout';
import { pspIdempotencyKey } from '../psp/types';
import { expectBooksAgree } from './support/agreement';
import { expectMendedAndRefunded, refuseCaptureBooking, waitingForCapture } from './support/refusedBooking';
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
  expect(await captureNotBookedEvents(orderId)).toEqual([['AUTHORIZED', 'capture_not_booked']]);

  await expectMendedAndRefunded(settle, checkoutId, orderId, amount, mend);
}

/** The outbox's payment_order.capture_not_booked events of an order: the order's status and failure in each. */
async function captureNotBookedEvents(orderId: string): Promise<Array<[string, string | null]>> {
  const { rows } = await settle.pool.query<{ data: { status: string; failure_code: string | null } }>(
    `SELECT data FROM events WHERE payment_order_id = $1 AND type = 'payment_order.capture_not_booked' ORDER BY id`,
    [orderId],
  );
  return rows.map((row) => [row.data.status, row.data.failure_code]);
}

describe('adversary4: a release finds a late capture whose booking the database refuses for good', () => {
  it('an authorized order: says the PSP captured it (not "holds" it) while the books refuse, and books and gives it back once they take it', async () => {
    const { checkoutId, orderId, pspReference } = await waitingForCapture(settle, 2500);
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      // The capture reaches the PSP on its own, unknown to the order's workflow (late, or from the PSP's
      // dashboard): the hold is now captured money.
      await settle.psp.psp.capture({ pspReference, amount: 2500, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
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
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      await settle.psp.psp.capture({ pspReference: hold.pspReference, amount: 1800, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      expect((await settle.checkout(checkoutId)).orders[0]!.status).toBe('PENDING');
      await expectCaptureNotBookedThenRefunded(checkoutId, orderId, 1800, mend);
    } finally {
      await mend();
    }
  }, 180_000);

  it('a partly successful checkout keeps the order once booked: a successful order, its refused booking no longer its failure', async () => {
    const visa = await settle.psp.paymentMethod('visa');
    const checkoutId = await settle.createCheckout({
      capture: 'manual',
      allowPartial: true,
      paymentMethod: visa,
      orders: [
        { sellerId: uniqueId('seller'), amount: 1200 },
        { sellerId: uniqueId('seller'), amount: 3400 },
      ],
    });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const orderId = (await settle.checkout(checkoutId)).orders[1]!.orderId;
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      expect((await settle.post(`/v1/checkouts/${checkoutId}/capture`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, orders: result.orders.map((order) => [order.status, order.failureCode]), attention: result.attention?.code }).toEqual({
        status: 'PARTIALLY_SUCCEEDED',
        orders: [
          ['SUCCEEDED', null],
          ['AUTHORIZED', 'capture_not_booked'],
        ],
        attention: 'capture_not_booked',
      });
      expect(await captureNotBookedEvents(orderId)).toEqual([['AUTHORIZED', 'capture_not_booked']]);

      // Mended, the compensation's retry books the capture; a partly successful checkout keeps it.
      await mend();
      expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
      await eventually('the compensation to book the capture', async () => (await settle.checkout(checkoutId)).attention === null, 60_000);
      const order = (await settle.get(`/v1/payment-orders/${orderId}`)).body;
      expect({ status: order.status, failureCode: order.failureCode, failureMessage: order.failureMessage, failureReason: order.failureReason }).toEqual({
        status: 'SUCCEEDED',
        failureCode: null,
        failureMessage: null,
        failureReason: null,
      });
      // The booking's event carries the order as it now is.
      const { rows } = await settle.pool.query<{ data: { status: string; failure_code: string | null } }>(
        `SELECT data FROM events WHERE payment_order_id = $1 AND type = 'payment_order.succeeded'`,
        [orderId],
      );
      expect(rows.map((row) => [row.data.status, row.data.failure_code])).toEqual([['SUCCEEDED', null]]);
      const mended = await settle.checkout(checkoutId);
      expect(mended.status).toBe('PARTIALLY_SUCCEEDED');
      await expectBooksAgree(settle.pool, settle.psp, mended);
    } finally {
      await mend();
    }
  }, 180_000);
});
