import { checkoutWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { refundWorkflowId } from '../domain/refund';
import { verifyBooks } from '../db/verify';
import { orderBooks } from './support/books';
import { PSP_KINDS, type PspKind } from './support/psps';
import { invariantViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { signalFromShell } from './support/shell';
import { activityScheduled } from './support/history';

/**
 * Sequences of PSP answers, process events and client requests tried as an adversary would, each checked
 * against the invariant checker (the PSP's own record, the books, the statuses and the attention record).
 */




function withSettle(kind: PspKind) {
  const box: { settle?: TestSettle } = {};
  beforeAll(async () => {
    box.settle = await startSettle({ psp: kind });
  });
  afterAll(() => box.settle?.stop());
  const settle = () => box.settle!;
  return {
    settle,
    card: () => settle().psp.paymentMethod('visa'),
    /** Every breach of the invariants for these checkouts, once they had this long to finish ('' when none). */
    violations: (checkoutIds: string[], settleWithinMs: number) =>
      invariantViolations(settle(), checkoutIds, settleWithinMs),
    /** Whether an activity of this type has been scheduled in a workflow's history. */
    scheduled: (workflowId: string, activityType: string) => activityScheduled(settle().temporal, workflowId, activityType),
    /** How the workflow closed, as Temporal has it (COMPLETED, FAILED, TERMINATED, ...), once it has. */
    workflowStatus: async (workflowId: string) => {
      const handle = settle().temporal.workflow.getHandle(workflowId);
      await handle.result().catch(() => undefined);
      return (await handle.describe()).status.name;
    },
    orderStatus: async (paymentOrderId: string) =>
      (await settle().pool.query('SELECT status FROM payment_orders WHERE id = $1', [paymentOrderId])).rows[0]?.status as string | undefined,
  };
}

describe('adversary, with PSP=simulated', () => {
  const { settle, card, violations, scheduled, workflowStatus, orderStatus } = withSettle('simulated');
  const seller = () => uniqueId('seller');

  it('an order terminated after it authorized, while a sibling still authorizes: the checkout still ends, with no hold and nothing captured alone', async () => {
    const slowToAuthorize = await card();
    settle().psp.inject({ operation: 'authorize', paymentMethod: slowToAuthorize }, { kind: 'slow', ms: 12_000 });
    const checkoutId = await settle().createCheckout({
      paymentMethod: await card(),
      orders: [
        { sellerId: seller(), amount: 1000 },
        { sellerId: seller(), amount: 2000 },
        { sellerId: seller(), amount: 3000, paymentMethod: slowToAuthorize },
      ],
    });
    // The second order has authorized and told its checkout so; the third is still at the PSP.
    const authorized = await eventually('the second order to report its authorization', async () => {
      const view = await settle().checkout(checkoutId);
      return view.orders[1]?.status === 'AUTHORIZED' && view.orders[2]?.status === 'PENDING' ? view.orders[1] : undefined;
    });
    await settle().temporal.workflow.getHandle(paymentOrderWorkflowId(authorized.orderId)).terminate('an operator ended it');

    const found = await violations([checkoutId], 90_000);
    expect({ workflow: await workflowStatus(checkoutWorkflowId(checkoutId)), violations: found }).toEqual({ workflow: 'COMPLETED', violations: '' });
  }, 180_000);

  it('a payment order released from a shell while its manual-capture checkout waits, then the capture: the checkout still ends consistent', async () => {
    const checkoutId = await settle().createCheckout({
      capture: 'manual',
      paymentMethod: await card(),
      orders: [
        { sellerId: seller(), amount: 1000 },
        { sellerId: seller(), amount: 2000 },
      ],
    });
    await eventually('the checkout to wait for its capture', async () => (await settle().checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const { orders } = await settle().checkout(checkoutId);
    await signalFromShell(paymentOrderWorkflowId(orders[1]!.orderId), 'release', '{"code":"operator_release","message":"released by hand"}');
    const released = await settle().temporal.workflow.getHandle(paymentOrderWorkflowId(orders[1]!.orderId)).result();
    expect(released.status).toBe('VOIDED');

    // Whether the capture is refused or taken, the checkout must end, its books agreeing with the PSP.
    await settle().post(`/v1/checkouts/${checkoutId}/capture`, {});
    const found = await violations([checkoutId], 45_000);
    expect({ workflow: await workflowStatus(checkoutWorkflowId(checkoutId)), violations: found }).toEqual({ workflow: 'COMPLETED', violations: '' });
  }, 120_000);

  it("a customer's refund whose workflow was terminated: a checkout compensating that order still ends", async () => {
    const [slowToCapture, declinesCapture] = [await card(), await card()];
    settle().psp.inject({ operation: 'capture', paymentMethod: slowToCapture }, { kind: 'slow', ms: 8_000 });
    settle().psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle().createCheckout({
      paymentMethod: await card(),
      orders: [
        { sellerId: seller(), amount: 1000 },
        { sellerId: seller(), amount: 500, paymentMethod: slowToCapture },
        { sellerId: seller(), amount: 3000, paymentMethod: declinesCapture },
      ],
    });
    const captured = await eventually('the first order to be captured', async () => {
      const order = (await settle().checkout(checkoutId)).orders[0]!;
      return order.status === 'SUCCEEDED' ? order : undefined;
    });
    // The customer's partial refund is at the PSP (slowly) when an operator terminates its workflow.
    settle().psp.inject({ operation: 'refund', paymentOrderId: captured.orderId }, { kind: 'slow', ms: 20_000, times: 1 });
    const partial = await settle().post(`/v1/payment-orders/${captured.orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': uniqueId('key') });
    expect(partial.status).toBe(202);
    const refundWorkflow = refundWorkflowId(partial.body.refundId);
    await eventually('the refund to be at the PSP', () => scheduled(refundWorkflow, 'refundAtPsp'));
    await settle().temporal.workflow.getHandle(refundWorkflow).terminate('an operator ended it');

    expect(await violations([checkoutId], 90_000)).toBe('');
  }, 180_000);

  it('a capture signalled from a shell to one payment order of a manual-capture checkout, then a cancel: nothing is kept', async () => {
    const checkoutId = await settle().createCheckout({
      capture: 'manual',
      paymentMethod: await card(),
      orders: [
        { sellerId: seller(), amount: 1000 },
        { sellerId: seller(), amount: 2000 },
      ],
    });
    await eventually('the checkout to wait for its capture', async () => (await settle().checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const { orders } = await settle().checkout(checkoutId);
    const first = orders[0]!.orderId;
    await signalFromShell(paymentOrderWorkflowId(first), 'capture');
    // Wait until the stray signal has had its effect, whichever it is.
    await eventually('the signal to be handled', async () => {
      const history = await settle().temporal.workflow.getHandle(paymentOrderWorkflowId(first)).fetchHistory();
      const signalled = history.events!.findIndex((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'capture');
      return signalled >= 0 && history.events!.slice(signalled).some((event) => event.workflowTaskCompletedEventAttributes);
    });
    if (await scheduled(paymentOrderWorkflowId(first), 'captureAndBookPaymentOrder')) {
      await settle().temporal.workflow.getHandle(paymentOrderWorkflowId(first)).result();
      expect(await orderStatus(first)).toBe('SUCCEEDED'); // captured behind its checkout's back
    }

    expect((await settle().post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
    const result = await settle().checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    // Canceled: an order not captured is voided, a captured one refunded; the checkout keeps nothing.
    expect(result.attention).toBeNull();
    expect(['VOIDED', 'REFUNDED']).toContain(result.orders[0]!.status);
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 120_000);

  it('a checkout terminated while its orders capture (one declined): the capture is booked, no hold is left, and verify names the stalled checkout', async () => {
    const [slowToCapture, declinesCapture] = [await card(), await card()];
    settle().psp.inject({ operation: 'capture', paymentMethod: slowToCapture }, { kind: 'slow', ms: 6_000 });
    settle().psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle().createCheckout({
      orders: [
        { sellerId: seller(), amount: 1000, paymentMethod: slowToCapture },
        { sellerId: seller(), amount: 2000, paymentMethod: declinesCapture },
      ],
    });
    const orders = await eventually('the orders to exist', async () => {
      const view = await settle().checkout(checkoutId);
      return view.orders.length === 2 && view.orders.every((order) => order.orderId) ? view.orders : undefined;
    });
    await eventually('both captures to be under way', async () => {
      for (const order of orders) if (!(await scheduled(paymentOrderWorkflowId(order.orderId), 'captureAndBookPaymentOrder'))) return false;
      return true;
    });
    await settle().temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).terminate('an operator ended it');
    const ended = [];
    for (const order of orders) ended.push(await settle().temporal.workflow.getHandle(paymentOrderWorkflowId(order.orderId)).result());
    expect(ended.map((order) => order.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(await orderBooks(settle().pool, orders[0]!.orderId)).toMatchObject({ wallet: 1000, captureTransactions: 1 });
    expect(await settle().psp.chargesFor(orders[1]!.orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);
    // Nothing finishes a checkout whose workflow was terminated: verify names it once it has stood an hour.
    // (The database is shared with other suites, whose verify must not see it: the clock goes back at once.)
    await settle().pool.query(`UPDATE checkouts SET updated_at = now() - interval '2 hours' WHERE id = $1`, [checkoutId]);
    try {
      const stalled = (await verifyBooks(settle().pool, 1_000)).find((check) => check.name === 'checkout_stalled')!;
      expect(stalled.examples.some((example) => example.startsWith(`${checkoutId} (CAPTURING)`))).toBe(true);
    } finally {
      await settle().pool.query('UPDATE checkouts SET updated_at = now() WHERE id = $1', [checkoutId]);
    }
  }, 120_000);

  it('a cancel signalled from a shell while a failed checkout refunds: the checkout stays FAILED, as the API says', async () => {
    const [slowToRefund, declinesCapture] = [await card(), await card()];
    settle().psp.inject({ operation: 'refund', paymentMethod: slowToRefund }, { kind: 'slow', ms: 8_000, times: 1 });
    settle().psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle().createCheckout({
      orders: [
        { sellerId: seller(), amount: 1000, paymentMethod: slowToRefund },
        { sellerId: seller(), amount: 2000, paymentMethod: declinesCapture },
      ],
    });
    await eventually('the checkout to refund its captured order', () => scheduled(checkoutWorkflowId(checkoutId), 'refundAtPsp'));
    const viaApi = await settle().post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'too late' });
    expect(viaApi.status).toBe(409);
    await signalFromShell(checkoutWorkflowId(checkoutId), 'cancel', '{"reason":"too late"}');

    const result = await settle().checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'FAILED', failureCode: 'expired_card' });
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 120_000);
});

describe.each(PSP_KINDS)('adversary, with PSP=%s', (kind) => {
  const { settle, card, violations } = withSettle(kind);
  const seller = () => uniqueId('seller');

  it('duplicate and concurrent refunds with answers lost after commit: each key refunds once, never more than was captured', async () => {
    const checkoutId = await settle().createCheckout({ paymentMethod: await card(), orders: [{ sellerId: seller(), amount: 1000 }] });
    const order = (await settle().checkoutResult(checkoutId)).orders[0]!;
    settle().psp.inject({ operation: 'refund', paymentOrderId: order.orderId }, { kind: 'timeoutAfterCommit', times: 2 });
    const refund = (key: string, body: unknown) => settle().post(`/v1/payment-orders/${order.orderId}/refunds`, body, { 'Idempotency-Key': key });
    const [k1, k2] = [uniqueId('key'), uniqueId('key')];
    const first = await Promise.all([refund(k1, { amount: 300 }), refund(k1, { amount: 300 }), refund(k1, { amount: 300 })]);
    const second = await Promise.all([refund(k2, {}), refund(k2, {})]);
    expect([...first, ...second].map((answer) => answer.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(first.map((answer) => answer.body.refundId)).size).toBe(1);
    expect(second.map((answer) => answer.body.amount)).toEqual([700, 700]);
    expect((await refund(uniqueId('key'), { amount: 1 })).status).toBe(400);
    for (const answer of [first[0]!, second[0]!]) {
      expect((await settle().temporal.workflow.getHandle(refundWorkflowId(answer.body.refundId)).result()).status).toBe('SUCCEEDED');
    }
    expect(await settle().psp.chargesFor(order.orderId)).toEqual([expect.objectContaining({ amountCaptured: 1000, amountRefunded: 1000 })]);
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 120_000);

  it('an authorization whose answers are lost after the hold was placed, canceled while it retries: the hold is released', async () => {
    const lost = await card();
    settle().psp.inject({ operation: 'authorize', paymentMethod: lost }, { kind: 'timeoutAfterCommit', times: 1_000 });
    const checkoutId = await settle().createCheckout({ capture: 'manual', paymentMethod: lost, orders: [{ sellerId: seller(), amount: 1500 }] });
    const orderId = await eventually('the order to exist', async () => (await settle().checkout(checkoutId)).orders[0]?.orderId);
    await eventually('the hold to be placed', async () => (await settle().psp.chargesFor(orderId)).some((charge) => charge.status === 'requires_capture'));
    expect((await settle().post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'buyer left' })).status).toBe(202);
    const result = await settle().checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    expect(result.orders[0]!.status).toBe('VOIDED');
    expect(await violations([checkoutId], 30_000)).toBe('');
  }, 120_000);
});

describe('adversary, with PSP=stripe', () => {
  const { settle, card, violations } = withSettle('stripe');
  const seller = () => uniqueId('seller');

  it('a partial refund slower than its activity deadline is refunded once at the PSP', async () => {
    const checkoutId = await settle().createCheckout({ paymentMethod: await card(), orders: [{ sellerId: seller(), amount: 1000 }] });
    const order = (await settle().checkoutResult(checkoutId)).orders[0]!;
    settle().psp.inject({ operation: 'refund', paymentOrderId: order.orderId }, { kind: 'slow', ms: 40_000, times: 1 });
    const startedAt = Date.now();
    const partial = await settle().post(`/v1/payment-orders/${order.orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': uniqueId('key') });
    expect(partial.status).toBe(202);
    expect((await settle().temporal.workflow.getHandle(refundWorkflowId(partial.body.refundId)).result()).status).toBe('SUCCEEDED');
    // Past the moment the first, abandoned attempt's request reaches the PSP.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 50_000 - Date.now())));
    expect(await settle().psp.chargesFor(order.orderId)).toEqual([expect.objectContaining({ amountCaptured: 1000, amountRefunded: 300 })]);
    expect(await violations([checkoutId], 10_000)).toBe('');
  }, 150_000);

  it('a payment never confirmed whose cancel the PSP refuses: the order is not recorded as holding money', async () => {
    const unconfirmed = await card();
    settle().psp.inject({ operation: 'authorize', paymentMethod: unconfirmed }, { kind: 'transient', times: 100_000 });
    settle().psp.inject({ operation: 'void', paymentMethod: unconfirmed }, { kind: 'decline', code: 'payment_intent_unexpected_state' });
    const checkoutId = await settle().createCheckout({ paymentMethod: unconfirmed, orders: [{ sellerId: seller(), amount: 1200 }] });
    const orderId = await eventually('the order to exist', async () => (await settle().checkout(checkoutId)).orders[0]?.orderId);
    await eventually('the intent to be created', async () =>
      (await settle().pool.query('SELECT 1 FROM stripe_payment_intents WHERE payment_order_id = $1', [orderId])).rowCount === 1,
    );
    expect((await settle().post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'buyer left' })).status).toBe(202);
    const result = await settle().checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    expect(await violations([checkoutId], 10_000)).toBe('');
    expect(result.orders[0]!.status).toBe('CANCELED');
  }, 120_000);
});
