import { checkoutWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import { ledgerPostings, unbalancedTransactions } from './support/books';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle();
});
afterAll(() => settle?.stop());

describe('a checkout across three sellers', () => {
  it('captures every order, credits each seller exactly its amount, and posts a balanced ledger', async () => {
    const sellers = [uniqueId('seller'), uniqueId('seller'), uniqueId('seller')];
    const amounts = [2500, 1250, 999];
    const customerId = uniqueId('cus');
    const created = await settle.post(
      '/v1/checkouts',
      {
        customerId,
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        orders: sellers.map((sellerId, i) => ({ sellerId, amount: amounts[i] })),
      },
      { 'Idempotency-Key': uniqueId('key') },
    );
    expect(created.status).toBe(202);
    expect(created.body).toEqual({
      checkoutId: expect.stringMatching(/^chk_[0-9a-f]{32}$/),
      status: 'PENDING',
      links: { self: `/v1/checkouts/${created.body.checkoutId}` },
    });
    const { checkoutId } = created.body;

    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');

    // The API answers the same outcome once the workflow is done.
    const read = await settle.get(`/v1/checkouts/${checkoutId}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ checkoutId, status: 'SUCCEEDED', customerId, currency: 'USD', totalAmount: 4749 });
    expect(read.body.orders).toHaveLength(3);
    read.body.orders.forEach((order: any, i: number) => {
      expect(order).toMatchObject({ sellerId: sellers[i], amount: amounts[i], currency: 'USD', status: 'SUCCEEDED' });
      expect(order.pspReference).toMatch(/^pi_sim_/);
    });
    const orderIds: string[] = read.body.orders.map((order: any) => order.orderId);

    // Each payment order is readable on its own.
    const order = await settle.get(`/v1/payment-orders/${orderIds[0]}`);
    expect(order.body).toMatchObject({ orderId: orderIds[0], checkoutId, sellerId: sellers[0], amount: 2500, status: 'SUCCEEDED' });

    // Wallets hold exactly their amounts.
    for (const [i, sellerId] of sellers.entries()) {
      const wallet = await settle.get(`/v1/wallets/${sellerId}`);
      expect(wallet.body).toEqual({ sellerId, balances: { USD: amounts[i] } });
    }

    // One capture transaction per order: the seller is owed the gross; the PSP owes the net and kept its fee
    // (the test PSP charges Stripe's 2.9 % + 30, rounded half up).
    const fees = [103, 66, 59];
    expect(read.body.orders.map((order: any) => order.feeAmount)).toEqual(fees);
    const postings = await ledgerPostings(settle.pool, orderIds);
    expect(postings).toEqual(
      orderIds.flatMap((paymentOrderId, i) => [
        { paymentOrderId, step: 'capture', accountId: 'psp_clearing:USD', direction: 'debit', amount: amounts[i]! - fees[i]!, currency: 'USD' },
        { paymentOrderId, step: 'capture', accountId: 'psp_fees:USD', direction: 'debit', amount: fees[i], currency: 'USD' },
        {
          paymentOrderId,
          step: 'capture',
          accountId: `seller_payable:${sellers[i]}:USD`,
          direction: 'credit',
          amount: amounts[i],
          currency: 'USD',
        },
      ]),
    );
    expect(await unbalancedTransactions(settle.pool)).toBe(0);

    // The PSP charged each order once, for its amount.
    for (const [i, orderId] of orderIds.entries()) {
      const charges = await settle.psp.chargesFor(orderId);
      expect(charges).toHaveLength(1);
      expect(charges[0]).toMatchObject({ status: 'succeeded', amount: amounts[i], amountCaptured: amounts[i] });
    }

    // Temporal holds the checkout and one child workflow per order, found by their domain ids.
    const parent = await settle.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).describe();
    expect(parent.status.name).toBe('COMPLETED');
    expect(parent.typedSearchAttributes.get({ name: 'CheckoutStatus', type: 'KEYWORD' } as never)).toBe('SUCCEEDED');
    for (const orderId of orderIds) {
      const child = await settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId)).describe();
      expect(child.status.name).toBe('COMPLETED');
      expect(child.parentExecution?.workflowId).toBe(checkoutWorkflowId(checkoutId));
    }
  });

  it('answers the live state while the checkout runs', async () => {
    // A PSP that takes a second per call keeps the checkout authorizing long enough to look at it.
    const slow = await startSettle({ pspLatencyMs: 1000 });
    try {
      const sellerId = uniqueId('seller');
      const created = await slow.post(
        '/v1/checkouts',
        { customerId: uniqueId('cus'), currency: 'EUR', paymentMethod: 'pm_card_visa', orders: [{ sellerId, amount: 100 }] },
        { 'Idempotency-Key': uniqueId('key') },
      );
      const early = await slow.get(`/v1/checkouts/${created.body.checkoutId}`);
      expect(early.status).toBe(200);
      expect(early.body).toMatchObject({ checkoutId: created.body.checkoutId, currency: 'EUR', totalAmount: 100 });
      expect(['PENDING', 'PROCESSING']).toContain(early.body.status);
      expect(early.body.orders).toEqual([expect.objectContaining({ sellerId, amount: 100, status: 'PENDING', pspReference: null })]);

      await slow.checkoutResult(created.body.checkoutId);
      const done = await slow.get(`/v1/checkouts/${created.body.checkoutId}`);
      expect(done.body.status).toBe('SUCCEEDED');
      expect(done.body.orders[0].status).toBe('SUCCEEDED');
    } finally {
      await slow.stop();
    }
  });

  it('fails the checkout and voids the authorized orders when one order is declined', async () => {
    const [good, declined] = [uniqueId('seller'), uniqueId('seller')];
    const created = await settle.post(
      '/v1/checkouts',
      {
        customerId: uniqueId('cus'),
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        orders: [
          { sellerId: good, amount: 700 },
          { sellerId: declined, amount: 300, paymentMethod: 'pm_card_chargeCustomerFail' },
        ],
      },
      { 'Idempotency-Key': uniqueId('key') },
    );
    const result = await settle.checkoutResult(created.body.checkoutId);
    expect(result.status).toBe('FAILED');
    expect(result.orders.map((order) => [order.sellerId, order.status])).toEqual([
      [good, 'VOIDED'],
      [declined, 'FAILED'],
    ]);
    expect((await settle.get(`/v1/wallets/${good}`)).status).toBe(404);
    expect(await ledgerPostings(settle.pool, result.orders.map((order) => order.orderId))).toEqual([]);
    const [voided] = await settle.psp.chargesFor(result.orders[0]!.orderId);
    expect(voided).toMatchObject({ status: 'canceled', amountCaptured: 0 });
  });
});
