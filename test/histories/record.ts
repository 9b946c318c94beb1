/**
 * Records the workflow histories that test/replay.test.ts replays, exported with the real CLI. Run it to
 * add histories of new paths, or when old histories are retired on purpose, never to make a failing
 * replay pass:
 *
 *   npx jest --roots test --testMatch '<rootDir>/test/histories/record.ts'
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkoutWorkflowId } from '../../domain/ids';
import { eventually, startSettle, uniqueId, type TestSettle } from '../support/settle';

let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle();
});
afterAll(() => settle?.stop());

/** Exports a history as an operator would, with the real CLI: `temporal workflow show --output json`. */
async function save(name: string, workflowId: string): Promise<void> {
  const { stdout } = await promisify(execFile)(process.env.SETTLE_TEST_TEMPORAL_CLI!, [
    'workflow', 'show', '--address', process.env.SETTLE_TEST_TEMPORAL_ADDRESS!, '--workflow-id', workflowId, '--output', 'json',
  ], { maxBuffer: 64 * 1024 * 1024 });
  await writeFile(path.join(__dirname, `${name}.json`), stdout);
}

it('records a checkout on each path', async () => {
  const orders = () => [
    { sellerId: uniqueId('seller'), amount: 1500 },
    { sellerId: uniqueId('seller'), amount: 2500 },
  ];
  const succeeded = await settle.createCheckout({ orders: orders() });
  const result = await settle.checkoutResult(succeeded);
  await save('checkout-succeeded', checkoutWorkflowId(succeeded));
  await save('payment-order-succeeded', `payment-order-${result.orders[0]!.orderId}`);

  const declined = await settle.createCheckout({ orders: [orders()[0]!, { ...orders()[1]!, paymentMethod: 'pm_card_chargeCustomerFail' }] });
  await settle.checkoutResult(declined);
  await save('checkout-declined', checkoutWorkflowId(declined));

  const canceled = await settle.createCheckout({ capture: 'manual', orders: orders() });
  await eventually('authorization', async () => (await settle.checkout(canceled)).status === 'REQUIRES_CAPTURE');
  await settle.post(`/v1/checkouts/${canceled}/cancel`, { reason: 'recorded' });
  await settle.checkoutResult(canceled);
  await save('checkout-canceled', checkoutWorkflowId(canceled));

  const refund = await settle.post(`/v1/payment-orders/${result.orders[1]!.orderId}/refunds`, { amount: 100 }, { 'Idempotency-Key': uniqueId('key') });
  await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
  await save('refund-succeeded', `refund-${refund.body.refundId}`);
});
