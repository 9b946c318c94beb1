import { randomUUID } from 'node:crypto';
import type { CheckoutInput } from '../domain/checkout';
import { CHECKOUT_ID_PREFIX, PAYMENT_ORDER_ID_PREFIX, checkoutWorkflowId } from '../domain/ids';
import type { Currency } from '../domain/money';
import { newId } from '../api/requests';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * A checkout whose workflow no worker runs (all workers down, or a task queue nobody polls): Temporal would
 * keep a cancel or a capture waiting for ever. The API answers 503 once its deadline passes.
 */
let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle({ workflowAnswerTimeoutMs: 1_500 });
});
afterAll(() => settle?.stop());

it('answers 503 checkout_unresponsive to a cancel, a capture and a read of a checkout no worker runs', async () => {
  const checkoutId = newId(CHECKOUT_ID_PREFIX);
  const input: CheckoutInput = {
    checkoutId,
    customerId: uniqueId('cus'),
    currency: 'USD' as Currency,
    capture: 'manual',
    allowPartial: false,
    authorizationWindowMs: 60_000,
    orders: [{ paymentOrderId: newId(PAYMENT_ORDER_ID_PREFIX), checkoutId, sellerId: uniqueId('seller'), amount: 500, currency: 'USD' as Currency, paymentMethod: 'pm_card_visa' }],
  };
  const handle = await settle.temporal.workflow.start('checkoutWorkflow', {
    workflowId: checkoutWorkflowId(checkoutId),
    taskQueue: `nobody-polls-${randomUUID()}`,
    args: [input],
  });
  try {
    for (const action of ['cancel', 'capture']) {
      const answer = await settle.post(`/v1/checkouts/${checkoutId}/${action}`, {});
      expect([action, answer.status, answer.body.error?.code]).toEqual([action, 503, 'checkout_unresponsive']);
      expect(answer.headers.get('Retry-After')).not.toBeNull();
    }
    const read = await settle.get(`/v1/checkouts/${checkoutId}`);
    expect([read.status, read.body.error?.code]).toEqual([503, 'checkout_unresponsive']);
  } finally {
    await handle.terminate('test over');
  }
});
