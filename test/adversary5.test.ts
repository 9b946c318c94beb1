import { compensationWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { pspIdempotencyKey } from '../psp/types';
import { activityScheduled } from './support/history';
import { invariantViolations } from './support/invariants';
import { expectMendedAndRefunded, refuseCaptureBooking, waitingForCapture } from './support/refusedBooking';
import { eventually, startSettle, type TestSettle } from './support/settle';

/**
 * A release that finds a late capture the database refuses to book fails as CaptureNotBookedError, having
 * recorded `capture_not_booked` on the order. Every caller of a release must take that failure as an answer
 * (the money is named on the order), not end there: the checkout settling an order whose workflow was
 * terminated, and the compensation that retries a checkout's refused compensation.
 */

let settle: TestSettle;
beforeAll(async () => {
  // A database of its own: this holds, on purpose, a PSP capture the books do not have, which a verify over
  // the shared database, run by another file meanwhile, would report.
  settle = await startSettle({ psp: 'simulated', isolatedDatabase: true, workflowAnswerTimeoutMs: 120_000 });
}, 300_000);
afterAll(() => settle?.stop());

describe('adversary5: the callers of a release that finds a capture the database refuses to book', () => {
  it('an order whose workflow was terminated, captured at the PSP meanwhile: its checkout still ends, the captured money named', async () => {
    const { checkoutId, orderId, pspReference } = await waitingForCapture(settle, 3100);
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      // The capture reaches the PSP on its own (its dashboard), and an operator ends the order's workflow: the
      // checkout settles the order itself, and its release finds the capture the books refuse.
      await settle.psp.psp.capture({ pspReference, amount: 3100, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).terminate('an operator ended it');
      expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);

      const result = await settle.checkoutResult(checkoutId);
      expect({
        status: result.status,
        order: result.orders[0]!.status,
        orderFailure: result.orders[0]!.failureCode,
        attention: result.attention?.code,
        held: result.attention?.heldAmount,
      }).toEqual({ status: 'CANCELED', order: 'AUTHORIZED', orderFailure: 'capture_not_booked', attention: 'capture_not_booked', held: 3100 });
      expect(result.attention?.message).toContain('captured by the PSP, not booked');

      await expectMendedAndRefunded(settle, checkoutId, orderId, 3100, mend);
    } finally {
      await mend();
    }
  }, 240_000);

  it('a compensation retried while the database still refuses the capture: it keeps retrying, and gives the money back once it can', async () => {
    const { checkoutId, orderId, pspReference } = await waitingForCapture(settle, 2700);
    const mend = await refuseCaptureBooking(settle, orderId);
    try {
      await settle.psp.psp.capture({ pspReference, amount: 2700, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
      expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect({ status: result.status, attention: result.attention?.code, held: result.attention?.heldAmount }).toEqual({
        status: 'CANCELED',
        attention: 'capture_not_booked',
        held: 2700,
      });

      // A retry while the database still refuses the booking: the release finds the capture again and cannot
      // book it. The compensation must take that as this round's answer and go on retrying.
      const compensation = settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId));
      expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
      await eventually(
        'the compensation to have answered the retry',
        async () =>
          (await compensation.describe()).status.name !== 'RUNNING' ||
          (await activityScheduled(settle.temporal, compensationWorkflowId(checkoutId), 'refreshAttention')),
        60_000,
      );
      expect((await compensation.describe()).status.name).toBe('RUNNING');
      const still = await settle.checkout(checkoutId);
      expect({ order: still.orders[0]!.status, failure: still.orders[0]!.failureCode, attention: still.attention?.code, held: still.attention?.heldAmount }).toEqual({
        order: 'AUTHORIZED',
        failure: 'capture_not_booked',
        attention: 'capture_not_booked',
        held: 2700,
      });

      await expectMendedAndRefunded(settle, checkoutId, orderId, 2700, mend);
    } finally {
      await mend();
    }
  }, 240_000);

  it('a cancel whose release finds the capture landed after all (the books take it): the capture is given back with the cancel, not left an hour as "refused"', async () => {
    const { checkoutId, orderId, pspReference } = await waitingForCapture(settle, 1900);
    await settle.psp.psp.capture({ pspReference, amount: 1900, idempotencyKey: pspIdempotencyKey(orderId, 'capture') });
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect({ status: result.status, order: result.orders[0]!.status, refunded: result.orders[0]!.refundedAmount, attention: result.attention }).toEqual({
      status: 'CANCELED',
      order: 'REFUNDED',
      refunded: 1900,
      attention: null,
    });
    expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 1900, amountRefunded: 1900 })]);
    expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');
  }, 120_000);
});
