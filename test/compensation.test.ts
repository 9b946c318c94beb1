import { expectBooksAgree } from './support/agreement';
import { orderBooks } from './support/books';
import { PSP_KINDS } from './support/psps';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

const sellers = (n: number) => Array.from({ length: n }, () => uniqueId('seller'));

describe.each(PSP_KINDS)('with PSP=%s', (kind) => {
let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle({ psp: kind });
});
afterAll(() => settle?.stop());
const card = (name: 'visa' | 'declines' = 'visa') => settle.psp.paymentMethod(name);

describe('a checkout whose orders do not all go through', () => {
  it('refunds the orders already captured when a capture is declined, and fails (atomic by default)', async () => {
    const [a, b, c] = sellers(3);
    const [visa, failsAtCapture] = [await card(), await card()];
    settle.psp.inject({ operation: 'capture', paymentMethod: failsAtCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle.createCheckout({
      paymentMethod: visa,
      orders: [
        { sellerId: a, amount: 1000 },
        { sellerId: b, amount: 2000 },
        { sellerId: c, amount: 3000, paymentMethod: failsAtCapture },
      ],
    });
    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'FAILED', failureCode: 'expired_card' });
    expect(result.failureReason).toContain('could not be captured');
    expect(result.orders.map((o) => [o.sellerId, o.status, o.failureCode])).toEqual([
      [a, 'REFUNDED', 'sibling_failed'],
      [b, 'REFUNDED', 'sibling_failed'],
      [c, 'FAILED', 'expired_card'],
    ]);
    expect(result.orders[2]!.failureReason).toBe("The buyer's card has expired.");
    for (const order of result.orders.slice(0, 2)) {
      expect(await orderBooks(settle.pool, order.orderId)).toEqual({ wallet: 0, payable: 0, captureTransactions: 1, refundTransactions: 1 });
    }
    expect((await settle.get(`/v1/wallets/${a}`)).body.balances).toEqual({ USD: 0 });
    expect(await settle.checkout(checkoutId)).toEqual(result);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('keeps the captured orders and ends PARTIALLY_SUCCEEDED when allowPartial is set', async () => {
    const [a, b, c] = sellers(3);
    const [visa, declines, failsAtCapture] = [await card(), await card('declines'), await card()];
    settle.psp.inject({ operation: 'capture', paymentMethod: failsAtCapture }, { kind: 'decline', code: 'insufficient_funds' });
    const checkoutId = await settle.createCheckout({
      allowPartial: true,
      paymentMethod: visa,
      orders: [
        { sellerId: a, amount: 1000 },
        { sellerId: b, amount: 2000, paymentMethod: declines },
        { sellerId: c, amount: 3000, paymentMethod: failsAtCapture },
      ],
    });
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('PARTIALLY_SUCCEEDED');
    expect(result.orders.map((o) => [o.sellerId, o.status, o.failureCode])).toEqual([
      [a, 'SUCCEEDED', null],
      [b, 'FAILED', 'card_declined'],
      [c, 'FAILED', 'insufficient_funds'],
    ]);
    expect((await settle.get(`/v1/wallets/${a}`)).body.balances).toEqual({ USD: 1000 });
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('fails when every order is declined, even with allowPartial', async () => {
    const result = await settle.checkoutResult(
      await settle.createCheckout({ allowPartial: true, paymentMethod: await card('declines'), orders: [{ sellerId: uniqueId('s'), amount: 100 }] }),
    );
    expect(result).toMatchObject({ status: 'FAILED', failureCode: 'card_declined' });
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('recovers from transient PSP errors by retrying, charging once', async () => {
    const flaky = await card();
    for (const operation of ['authorize', 'capture'] as const) {
      settle.psp.inject({ operation, paymentMethod: flaky }, { kind: 'transient', times: 2 });
    }
    const checkoutId = await settle.createCheckout({ paymentMethod: flaky, orders: [{ sellerId: uniqueId('s'), amount: 4200 }] });
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(await settle.psp.chargesFor(result.orders[0]!.orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 4200 })]);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('charges and refunds once when the PSP processed a call but its answer was lost', async () => {
    const lossy = await card();
    for (const operation of ['authorize', 'capture', 'refund'] as const) {
      settle.psp.inject({ operation, paymentMethod: lossy }, { kind: 'timeoutAfterCommit', times: 1 });
    }
    const checkoutId = await settle.createCheckout({
      paymentMethod: lossy,
      orders: [
        { sellerId: uniqueId('s'), amount: 500 },
        { sellerId: uniqueId('s'), amount: 700 },
      ],
    });
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    for (const order of result.orders) {
      const charges = await settle.psp.chargesFor(order.orderId);
      expect(charges).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: order.amount })]);
    }
    // A refund whose answer is lost is retried, and still refunds once.
    const refunded = result.orders[0]!;
    const refund = await settle.post(`/v1/payment-orders/${refunded.orderId}/refunds`, {}, { 'Idempotency-Key': uniqueId('key') });
    await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
    expect(await settle.psp.chargesFor(refunded.orderId)).toEqual([expect.objectContaining({ amountRefunded: refunded.amount })]);
    await expectBooksAgree(settle.pool, settle.psp, await settle.checkout(checkoutId));
  });
});

describe('refunds after success', () => {
  it('refunds in part, refuses more than is left, then refunds the rest', async () => {
    const seller = uniqueId('seller');
    const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: seller, amount: 1000 }] }));
    const orderId = result.orders[0]!.orderId;
    const refund = (body: unknown, key = uniqueId('key')) => settle.post(`/v1/payment-orders/${orderId}/refunds`, body, { 'Idempotency-Key': key });

    const key = uniqueId('key');
    const partial = await refund({ amount: 300 }, key);
    expect(partial.status).toBe(202);
    expect(partial.body).toMatchObject({ refundId: expect.stringMatching(/^re_/), paymentOrderId: orderId, amount: 300, status: 'PENDING' });
    const replay = await refund({ amount: 300 }, key);
    expect(replay.body).toEqual(partial.body);
    expect((await refund({ amount: 200 }, key)).status).toBe(409);

    const tooMuch = await refund({ amount: 701 });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error).toMatchObject({ code: 'amount_too_large', details: [{ field: 'amount', message: 'must be at most 700' }] });

    await settle.temporal.workflow.getHandle(`refund-${partial.body.refundId}`).result();
    expect((await settle.get(`/v1/refunds/${partial.body.refundId}`)).body).toMatchObject({ status: 'SUCCEEDED', amount: 300 });
    let order = (await settle.get(`/v1/payment-orders/${orderId}`)).body;
    expect(order).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 300 });
    expect((await settle.get(`/v1/wallets/${seller}`)).body.balances).toEqual({ USD: 700 });

    const rest = await refund(undefined);
    expect(rest.body).toMatchObject({ amount: 700 });
    await settle.temporal.workflow.getHandle(`refund-${rest.body.refundId}`).result();
    order = (await settle.get(`/v1/payment-orders/${orderId}`)).body;
    expect(order).toMatchObject({ status: 'REFUNDED', refundedAmount: 1000 });
    expect((await settle.get(`/v1/wallets/${seller}`)).body.balances).toEqual({ USD: 0 });
    expect(await orderBooks(settle.pool, orderId)).toEqual({ wallet: 0, payable: 0, captureTransactions: 1, refundTransactions: 2 });

    const nothingLeft = await refund({ amount: 1 });
    expect(nothingLeft.status).toBe(409);
    expect(nothingLeft.body.error.code).toBe('payment_order_not_refundable');
    await expectBooksAgree(settle.pool, settle.psp, await settle.checkout(result.checkoutId));
  });

  it('never lets refunds running side by side exceed the capture', async () => {
    const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: uniqueId('s'), amount: 1000 }] }));
    const orderId = result.orders[0]!.orderId;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': uniqueId('key') })),
    );
    // 1000 holds exactly three refunds of 300: three accepted, the other three refused for the amount, nothing else.
    const outcomes = answers.map((a) => (a.status === 202 ? 'accepted' : `${a.status} ${a.body?.error?.code}`)).sort();
    expect(outcomes).toEqual(['400 amount_too_large', '400 amount_too_large', '400 amount_too_large', 'accepted', 'accepted', 'accepted']);
    const accepted = answers.filter((a) => a.status === 202);
    await Promise.all(accepted.map((a) => settle.temporal.workflow.getHandle(`refund-${a.body.refundId}`).result()));
    const order = (await settle.get(`/v1/payment-orders/${orderId}`)).body;
    expect(order).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 900 });
    await expectBooksAgree(settle.pool, settle.psp, await settle.checkout(result.checkoutId));
  });

  it('refuses to refund an order that was never captured', async () => {
    const result = await settle.checkoutResult(
      await settle.createCheckout({ paymentMethod: await card('declines'), orders: [{ sellerId: uniqueId('s'), amount: 100 }] }),
    );
    const answer = await settle.post(`/v1/payment-orders/${result.orders[0]!.orderId}/refunds`, {}, { 'Idempotency-Key': uniqueId('key') });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('payment_order_not_refundable');
  });
});
});
