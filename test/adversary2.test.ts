import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { CheckoutInput, PaymentOrderInput } from '../domain/checkout';
import type { Currency } from '../domain/money';
import { CHECKOUT_ID_PREFIX, compensationWorkflowId, PAYMENT_ORDER_ID_PREFIX } from '../domain/ids';
import { insertCheckout } from '../db/checkouts';
import { withTransaction } from '../db/pool';
import { verifyBooks } from '../db/verify';
import { refundWorkflowId } from '../domain/refund';
import { invariantViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { activityScheduled } from './support/history';

/**
 * Sequences of PSP answers, deadlines and operator actions tried as an adversary would against the money
 * paths, each checked against the PSP's own record, the books and the checkout's attention record.
 */

describe('adversary2, with PSP=simulated', () => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle({ psp: 'simulated' });
  });
  afterAll(() => settle?.stop());

  const card = () => settle.psp.paymentMethod('visa');
  const seller = () => uniqueId('seller');
  const violations = (checkoutIds: string[], settleWithinMs: number) =>
    invariantViolations(settle, checkoutIds, settleWithinMs);
  const scheduled = (workflowId: string, activityType: string) => activityScheduled(settle.temporal, workflowId, activityType);

  it('an authorization attempt still at the PSP when its activity runs out of its 10 minutes places no hold after the release looked', async () => {
    // An order recorded as the checkout workflow records it; its payment-order workflow is played by hand:
    // the last attempt of authorizePaymentOrder (beforeDeadline: schedule-to-close 10 min) started 9 min 59 s
    // after the first was scheduled, so Temporal times the activity out 1 s into it, and the workflow then
    // runs releaseUnconfirmedAuthorization, as it does on any ActivityFailure.
    const paymentMethod = await card();
    const input: CheckoutInput = {
      checkoutId: CHECKOUT_ID_PREFIX + randomBytes(16).toString('hex'),
      customerId: uniqueId('cus'),
      currency: 'USD' as Currency,
      capture: 'automatic',
      allowPartial: false,
      authorizationWindowMs: 60_000,
      orders: [],
    };
    const order: PaymentOrderInput = {
      paymentOrderId: PAYMENT_ORDER_ID_PREFIX + randomBytes(16).toString('hex'),
      checkoutId: input.checkoutId,
      sellerId: seller(),
      amount: 1700,
      currency: input.currency,
      paymentMethod,
    };
    input.orders.push(order);
    await withTransaction(settle.pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
    // The PSP answers this attempt 8 s after it was sent: well inside the attempt's own 30 s start-to-close.
    settle.psp.inject({ operation: 'authorize', paymentOrderId: order.paymentOrderId }, { kind: 'slow', ms: 8_000 });
    const activities = createActivities({ pool: settle.pool, psp: settle.psp.psp });

    const now = Date.now();
    const activityExpiresAt = now + 1_000;
    const lastAttempt = new MockActivityEnvironment({
      activityType: 'authorizePaymentOrder',
      attempt: 14,
      scheduledTimestampMs: activityExpiresAt - 600_000,
      scheduleToCloseTimeoutMs: 600_000,
      currentAttemptScheduledTimestampMs: now,
      startToCloseTimeoutMs: 30_000,
      heartbeatTimeoutMs: 10_000,
    });
    const attempt = lastAttempt.run(() => activities.authorizePaymentOrder(order)).then(
      (outcome) => ({ outcome: (outcome as { outcome: string }).outcome }),
      (error: Error) => ({ error: error.message }),
    );

    // Temporal times the activity out; the payment-order workflow asks the PSP what the attempts left.
    await sleep(Math.max(0, activityExpiresAt - Date.now()));
    const resolution = await activities.releaseUnconfirmedAuthorization(order, { code: 'psp_unavailable', message: 'the PSP did not answer before the deadline' });
    const ended = await attempt;

    const holds = (await settle.psp.chargesFor(order.paymentOrderId)).filter((charge) => charge.status === 'requires_capture');
    const { rows } = await settle.pool.query('SELECT status FROM payment_orders WHERE id = $1', [order.paymentOrderId]);
    // Whatever the release found, an attempt Temporal has given up on must not place a hold afterwards.
    expect({ released: resolution.status, books: rows[0]?.status, attempt: ended, holdsAtPsp: holds.map((charge) => charge.amount) }).toEqual({
      released: 'CANCELED',
      books: 'CANCELED',
      attempt: expect.objectContaining({ error: expect.any(String) }),
      holdsAtPsp: [],
    });
  }, 60_000);

  it('a compensation workflow terminated while its refund is at the PSP: the money can still be given back', async () => {
    const [refundRefused, declinesCapture] = [await card(), await card()];
    settle.psp.inject({ operation: 'refund', paymentMethod: refundRefused }, { kind: 'decline', code: 'charge_disputed' });
    settle.psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle.createCheckout({
      paymentMethod: await card(),
      orders: [
        { sellerId: seller(), amount: 1000, paymentMethod: refundRefused },
        { sellerId: seller(), amount: 3000, paymentMethod: declinesCapture },
      ],
    });
    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'FAILED', attention: { code: 'refund_refused', heldAmount: 1000 } });
    const captured = result.orders[0]!;

    // The retry's refund is at the PSP (slowly) when an operator terminates the compensation workflow.
    settle.psp.inject({ operation: 'refund', paymentOrderId: captured.orderId }, { kind: 'slow', ms: 8_000, times: 1 });
    expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
    await eventually('the retried refund to be at the PSP', () => scheduled(compensationWorkflowId(checkoutId), 'refundAtPsp'));
    await settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId)).terminate('an operator ended it');

    // The documented ways to give the money back: retry the compensation, or refund what is left.
    const retry = await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {});
    const refund = await settle.post(`/v1/payment-orders/${captured.orderId}/refunds`, {}, { 'Idempotency-Key': uniqueId('key') });
    const pending = (await settle.pool.query(`SELECT id FROM refunds WHERE payment_order_id = $1 AND status = 'PENDING'`, [captured.orderId])).rows;
    expect({
      retry: retry.status,
      refund: refund.status,
      pendingRefunds: pending.length,
      violations: await violations([checkoutId], 60_000),
    }).toEqual({ retry: 202, refund: expect.any(Number), pendingRefunds: expect.any(Number), violations: '' });
  }, 180_000);

  it("a customer's refund whose workflow was terminated, on a checkout with no compensation: it still ends, or verify names it", async () => {
    const checkoutId = await settle.createCheckout({ paymentMethod: await card(), orders: [{ sellerId: seller(), amount: 1000 }] });
    const order = (await settle.checkoutResult(checkoutId)).orders[0]!;
    settle.psp.inject({ operation: 'refund', paymentOrderId: order.orderId }, { kind: 'slow', ms: 8_000, times: 1 });
    const key = uniqueId('key');
    const partial = await settle.post(`/v1/payment-orders/${order.orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': key });
    expect(partial.status).toBe(202);
    await eventually('the refund to be at the PSP', () => scheduled(refundWorkflowId(partial.body.refundId), 'refundAtPsp'));
    await settle.temporal.workflow.getHandle(refundWorkflowId(partial.body.refundId)).terminate('an operator ended it');
    // The client repeats its request, as it may: the replay answers the refund and runs it again.
    const replay = await settle.post(`/v1/payment-orders/${order.orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': key });
    expect(replay.status).toBe(202);

    const found = await violations([checkoutId], 45_000);
    const named = (await verifyBooks(settle.pool, 100_000)).some((check) =>
      check.examples.some((example) => example.includes(partial.body.refundId) || example.includes(order.orderId)),
    );
    expect({ violations: found, namedByVerify: named }).toEqual(
      found === '' ? { violations: '', namedByVerify: expect.any(Boolean) } : { violations: found, namedByVerify: true },
    );
  }, 120_000);
});
