import { randomUUID } from 'node:crypto';
import { compensationWorkflowId, checkoutWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { withTransaction } from '../db/pool';
import { reserveRefund } from '../db/refunds';
import { verifyBooks } from '../db/verify';
import { captureSignal } from '../workflows/definitions';
import { PSP_KINDS } from './support/psps';
import { invariantViolations } from './support/invariants';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';
import { signalFromShell } from './support/shell';
import { activityScheduled } from './support/history';




describe.each(PSP_KINDS)('with PSP=%s', (kind) => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle({ psp: kind });
  });
  afterAll(() => settle?.stop());

  const card = () => settle.psp.paymentMethod('visa');
  const seller = () => uniqueId('seller');
  const invariantsHold = async (checkoutId: string) =>
    expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');
  const eventTypes = async (checkoutId: string) =>
    (await settle.pool.query('SELECT type FROM events WHERE checkout_id = $1 ORDER BY id', [checkoutId])).rows.map((row) => row.type);
  const scheduled = (workflowId: string, activityType: string) => activityScheduled(settle.temporal, workflowId, activityType);

  describe('a compensation the PSP refuses', () => {
    it('a capture declined and its void refused: the sibling captured meanwhile is booked and refunded, the hold is recorded, a retry releases it', async () => {
      const [visa, slowToCapture, refusesEverything] = [await card(), await card(), await card()];
      settle.psp.inject({ operation: 'capture', paymentMethod: slowToCapture }, { kind: 'slow', ms: 1_500 });
      settle.psp.inject({ operation: 'capture', paymentMethod: refusesEverything }, { kind: 'decline', code: 'expired_card' });
      settle.psp.inject({ operation: 'void', paymentMethod: refusesEverything }, { kind: 'decline', code: 'payment_intent_unexpected_state' });
      const checkoutId = await settle.createCheckout({
        paymentMethod: visa,
        orders: [
          { sellerId: seller(), amount: 1000, paymentMethod: slowToCapture },
          { sellerId: seller(), amount: 2000 },
          { sellerId: seller(), amount: 3000, paymentMethod: refusesEverything },
        ],
      });
      const result = await settle.checkoutResult(checkoutId);
      expect(result).toMatchObject({ status: 'FAILED', failureCode: 'expired_card' });
      expect(result.orders.map((order) => order.status)).toEqual(['REFUNDED', 'REFUNDED', 'AUTHORIZED']);
      expect(result.orders[2]).toMatchObject({ failureCode: 'release_refused' });
      expect(result.attention).toMatchObject({ code: 'release_refused', heldAmount: 3000 });
      expect(result.attention!.message).toContain(result.orders[2]!.orderId);
      expect(await eventTypes(checkoutId)).toContain('checkout.attention_required');
      await invariantsHold(checkoutId);

      // The PSP would release it now: the retry asked through the API does.
      settle.psp.inject({ operation: 'void', paymentMethod: refusesEverything }, { kind: 'transient', times: 0 });
      const retry = await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {});
      expect(retry.status).toBe(202);
      const resolved = await settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId)).result();
      expect(resolved.attention).toBeNull();
      expect(resolved.orders[2]!.status).toBe('VOIDED');
      expect(await settle.checkout(checkoutId)).toMatchObject({ status: 'FAILED', attention: null });
      expect(await eventTypes(checkoutId)).toContain('checkout.attention_resolved');
      expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).body.error.code).toBe('nothing_to_retry');
      await invariantsHold(checkoutId);
    });

    it('a refund refused: the checkout fails saying what it still holds; the retry signal from a shell refunds it', async () => {
      const [visa, refundRefused, declinesCapture] = [await card(), await card(), await card()];
      settle.psp.inject({ operation: 'refund', paymentMethod: refundRefused }, { kind: 'decline', code: 'charge_disputed' });
      settle.psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
      const checkoutId = await settle.createCheckout({
        paymentMethod: visa,
        orders: [
          { sellerId: seller(), amount: 1000, paymentMethod: refundRefused },
          { sellerId: seller(), amount: 3000, paymentMethod: declinesCapture },
        ],
      });
      const result = await settle.checkoutResult(checkoutId);
      expect(result.status).toBe('FAILED');
      expect(result.orders.map((order) => order.status)).toEqual(['SUCCEEDED', 'FAILED']);
      expect(result.attention).toMatchObject({ code: 'refund_refused', heldAmount: 1000 });
      expect(result.attention!.message).toContain(result.orders[0]!.orderId);
      expect((await settle.get(`/v1/checkouts/${checkoutId}`)).body.attention).toEqual(result.attention);
      await invariantsHold(checkoutId);

      settle.psp.inject({ operation: 'refund', paymentMethod: refundRefused }, { kind: 'transient', times: 0 });
      await signalFromShell(compensationWorkflowId(checkoutId), 'retryCompensation');
      const resolved = await settle.temporal.workflow.getHandle(compensationWorkflowId(checkoutId)).result();
      expect(resolved).toMatchObject({ status: 'FAILED', attention: null });
      expect(resolved.orders[0]).toMatchObject({ status: 'REFUNDED', refundedAmount: 1000 });
      await invariantsHold(checkoutId);
    });
  });

  describe('a payment order that ends without an outcome', () => {
    it('terminated while authorizing: its checkout does not wait forever, and every hold is released', async () => {
      const down = await card();
      settle.psp.inject({ operation: 'authorize', paymentMethod: down }, { kind: 'transient', times: 10_000 });
      const checkoutId = await settle.createCheckout({
        orders: [
          { sellerId: seller(), amount: 1000 },
          { sellerId: seller(), amount: 2000, paymentMethod: down },
        ],
      });
      const stuck = await eventually('the checkout to be authorizing', async () => {
        const view = await settle.checkout(checkoutId);
        return view.orders[0]?.status === 'AUTHORIZED' ? view.orders[1] : undefined;
      });
      await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(stuck.orderId)).terminate('an operator ended it');
      const result = await settle.checkoutResult(checkoutId);
      expect(result.status).toBe('FAILED');
      expect(result.orders.map((order) => order.status)).toEqual(['VOIDED', 'CANCELED']);
      expect(result.orders[1]!.failureCode).toBe('order_abandoned');
      await invariantsHold(checkoutId);
    });
  });

  it('a checkout that is terminated asks its orders to release their holds', async () => {
    const checkoutId = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: seller(), amount: 1200 }, { sellerId: seller(), amount: 800 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const { orders } = await settle.checkout(checkoutId);
    await settle.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).terminate('an operator ended it');
    for (const order of orders) {
      const released = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(order.orderId)).result();
      expect(released).toMatchObject({ status: 'VOIDED', failureCode: 'checkout_closed' });
      expect(await settle.psp.chargesFor(order.orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);
    }
  });

  it('an authorization slower than its deadline, released meanwhile, never places a hold afterwards', async () => {
    const slow = await card();
    settle.psp.inject({ operation: 'authorize', paymentMethod: slow }, { kind: 'slow', ms: 40_000 });
    const startedAt = Date.now();
    const checkoutId = await settle.createCheckout({ paymentMethod: slow, orders: [{ sellerId: seller(), amount: 1500 }] });
    await eventually('the checkout to be authorizing', async () => (await settle.checkout(checkoutId)).status === 'PROCESSING');
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'too slow' })).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    expect(result.orders[0]!.status).toBe('CANCELED');
    // Past the moment the abandoned attempt would have answered: it placed nothing.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 45_000 - Date.now())));
    const charges = await settle.psp.chargesFor(result.orders[0]!.orderId);
    expect(charges.filter((charge) => charge.status === 'requires_capture' || charge.status === 'succeeded')).toEqual([]);
    await invariantsHold(checkoutId);
  }, 120_000);

  it('a capture asked for after the authorization window ran out is refused while the holds are released', async () => {
    const slowToVoid = await card();
    settle.psp.inject({ operation: 'void', paymentMethod: slowToVoid }, { kind: 'slow', ms: 5_000 });
    const shortWindow = await startSettle({ psp: kind, authorizationWindowMs: 1 });
    try {
      const checkoutId = await shortWindow.createCheckout({ capture: 'manual', paymentMethod: slowToVoid, orders: [{ sellerId: seller(), amount: 900 }] });
      const orderId = await eventually('the order to exist', async () => (await shortWindow.checkout(checkoutId)).orders[0]?.orderId);
      // The window ran out and the release is under way; the checkout's status has not moved yet.
      await eventually('the release to be under way', () => scheduled(paymentOrderWorkflowId(orderId), 'releasePaymentOrder'));
      const capture = await shortWindow.post(`/v1/checkouts/${checkoutId}/capture`, {});
      expect(capture.status).toBe(409);
      expect(capture.body.error.code).toBe('checkout_not_capturable');
      const result = await shortWindow.checkoutResult(checkoutId);
      expect(result).toMatchObject({ status: 'CANCELED', failureCode: 'authorization_expired' });
      expect(result.orders[0]!.status).toBe('VOIDED');
    } finally {
      await shortWindow.stop();
    }
  });
});

describe('with PSP=simulated', () => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle({ psp: 'simulated' });
  });
  afterAll(() => settle?.stop());

  /**
   * A checkout whose first order (1000) is captured while its second's capture is slow, and whose third's
   * capture is then declined: a refund of the first can be asked for before the checkout fails and compensates.
   */
  const failingWithOneOrderCaptured = async () => {
    const declinesCapture = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'capture', paymentMethod: declinesCapture }, { kind: 'decline', code: 'expired_card' });
    const slowToCapture = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'capture', paymentMethod: slowToCapture }, { kind: 'slow', ms: 2_000 });
    const checkoutId = await settle.createCheckout({
      orders: [
        { sellerId: uniqueId('s'), amount: 1000 },
        { sellerId: uniqueId('s'), amount: 500, paymentMethod: slowToCapture },
        { sellerId: uniqueId('s'), amount: 3000, paymentMethod: declinesCapture },
      ],
    });
    const captured = await eventually('the first order to be captured', async () => {
      const order = (await settle.checkout(checkoutId)).orders[0]!;
      return order.status === 'SUCCEEDED' ? order : undefined;
    });
    return { checkoutId, captured };
  };

  it("a customer's partial refund refused while the compensation refunded the rest: the compensation refunds that part too", async () => {
    const { checkoutId, captured } = await failingWithOneOrderCaptured();
    // The customer's refund is refused at the PSP (its first attempt, answered late), after the compensation
    // reserved and refunded only what was left.
    settle.psp.inject({ operation: 'refund', paymentOrderId: captured.orderId }, { kind: 'decline', code: 'charge_disputed', times: 1, afterMs: 10_000 });
    const partial = await settle.post(`/v1/payment-orders/${captured.orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': uniqueId('key') });
    expect(partial.status).toBe(202);
    const refused = await settle.temporal.workflow.getHandle(`refund-${partial.body.refundId}`).result();
    expect(refused.status).toBe('FAILED');
    const { rows } = await settle.pool.query(`SELECT amount, status FROM refunds WHERE id = $1`, [`re_comp_${captured.orderId}`]);
    expect(rows[0]).toMatchObject({ amount: '700', status: 'SUCCEEDED' });

    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('FAILED');
    expect(result.orders[0]).toMatchObject({ status: 'REFUNDED', refundedAmount: 1000 });
    expect(result.attention).toBeNull();
    expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');
  }, 90_000);

  it('a refund the API accepted but whose workflow never started is not waited on for ever by a compensation', async () => {
    const { checkoutId, captured } = await failingWithOneOrderCaptured();
    // What the API does before it starts the refund's workflow, and then the start never happens.
    const stranded = `re_${randomUUID().replace(/-/g, '')}`;
    await withTransaction(settle.pool, (tx) =>
      reserveRefund(tx, { refundId: stranded, paymentOrderId: captured.orderId, amount: 300, reason: 'requested_by_customer' }),
    );
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('FAILED');
    expect(result.orders[0]).toMatchObject({ status: 'REFUNDED', refundedAmount: 1000 });
    expect((await settle.get(`/v1/refunds/${stranded}`)).body).toMatchObject({ status: 'SUCCEEDED', amount: 300 });
    expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');
  });

  it('a cancel reason with a NUL byte from a shell cancels the checkout, its reason kept as text', async () => {
    const checkoutId = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('s'), amount: 700 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    await signalFromShell(checkoutWorkflowId(checkoutId), 'cancel', '{"reason":"a\\u0000b\\ud800c"}');
    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'CANCELED', failureReason: 'Canceled: a b\ufffdc' });
    expect(result.orders[0]!.status).toBe('VOIDED');
  });

  it('a release signalled from a shell with text no database takes releases the hold, its reason kept as text', async () => {
    const checkoutId = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('s'), amount: 700 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    const orderId = (await settle.checkout(checkoutId)).orders[0]!.orderId;
    await signalFromShell(paymentOrderWorkflowId(orderId), 'release', '{"code":"x\\u0000y","message":"by\\u0000hand"}');
    const released = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).result();
    expect(released).toMatchObject({ status: 'VOIDED', failureCode: 'released', failureMessage: 'by hand' });
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
    expect(await settle.checkoutResult(checkoutId)).toMatchObject({ status: 'CANCELED' });
  });

  it('an authorization report signalled from a shell for an order the checkout does not have is ignored', async () => {
    const checkoutId = await settle.createCheckout({ capture: 'manual', orders: [{ sellerId: uniqueId('s'), amount: 400 }] });
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    await signalFromShell(checkoutWorkflowId(checkoutId), 'authorizationReport', '{"paymentOrderId":"po_bogus","outcome":"authorized","pspReference":null}');
    await signalFromShell(checkoutWorkflowId(checkoutId), 'authorizationReport', '"not a report"');
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'still works' })).status).toBe(202);
    expect(await settle.checkoutResult(checkoutId)).toMatchObject({ status: 'CANCELED', orders: [expect.objectContaining({ status: 'VOIDED' })] });
  });

  it('a capture signal sent before the checkout waits for its capture is ignored', async () => {
    const slow = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'authorize', paymentMethod: slow }, { kind: 'slow', ms: 1_500 });
    const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: slow, orders: [{ sellerId: uniqueId('s'), amount: 600 }] });
    const orderId = await eventually('the order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
    await eventually('the order to be authorizing', () =>
      settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).describe().then(() => true, () => false),
    );
    await signalFromShell(checkoutWorkflowId(checkoutId), 'capture');
    // And one sent straight to the payment order, which only its checkout may decide.
    await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).signal(captureSignal);
    await signalFromShell(paymentOrderWorkflowId(orderId), 'capture');
    await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
    expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason: 'changed my mind' })).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.orders[0]!.status).toBe('VOIDED');
    expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);
  });

  it('verify names a finished checkout that keeps money without a record of it', async () => {
    const isolated = await startSettle({ psp: 'simulated', isolatedDatabase: true });
    try {
      const refused = await isolated.psp.paymentMethod('visa');
      const declines = await isolated.psp.paymentMethod('visa');
      isolated.psp.inject({ operation: 'refund', paymentMethod: refused }, { kind: 'decline', code: 'charge_disputed' });
      isolated.psp.inject({ operation: 'capture', paymentMethod: declines }, { kind: 'decline', code: 'expired_card' });
      const checkoutId = await isolated.createCheckout({
        orders: [
          { sellerId: uniqueId('s'), amount: 1000, paymentMethod: refused },
          { sellerId: uniqueId('s'), amount: 2000, paymentMethod: declines },
        ],
      });
      expect((await isolated.checkoutResult(checkoutId)).attention).toMatchObject({ heldAmount: 1000 });
      expect((await verifyBooks(isolated.pool)).filter((check) => check.breaches > 0)).toEqual([]);
      await isolated.pool.query('UPDATE checkouts SET held_amount = 0, attention_code = NULL, attention_message = NULL WHERE id = $1', [checkoutId]);
      const breaches = (await verifyBooks(isolated.pool)).filter((check) => check.breaches > 0);
      expect(breaches.map((check) => check.name)).toEqual(['held_without_record']);
      expect(breaches[0]!.examples[0]).toContain(`${checkoutId}: holds 1000, its record says 0 (no record)`);
    } finally {
      await isolated.stop();
    }
  });
});
