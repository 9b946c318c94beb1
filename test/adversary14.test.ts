import { randomBytes } from 'node:crypto';
import { createActivities } from '../activities';
import type { PaymentOrderInput } from '../domain/checkout';
import type { RefundInput } from '../domain/refund';
import { createPool, withTransaction, type Pool } from '../db/pool';
import { reserveRefund } from '../db/refunds';
import { deleteWebhookEndpoint, recordWebhookDeliveries } from '../db/webhookEndpoints';
import { SimulatedPsp } from '../psp/simulated';
import { atOnce } from './support/atOnce';
import { recordedOrder, recordedWebhookEndpoint } from './support/records';

/**
 * A capture's booking that committed but whose answer never reached the workflow (the worker died after the
 * commit, or the commit landed past the attempt's deadline) is retried. Meanwhile the order reads SUCCEEDED,
 * so a client may refund it. The retry must find the capture booked, as it would without the refund, and not
 * take the refund's status for a rule that forbids the booking.
 */
let pool: Pool;
let activities: ReturnType<typeof createActivities>;
beforeAll(() => {
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 8);
  activities = createActivities({ pool, psp: new SimulatedPsp(pool, { fee: { basisPoints: 290, fixed: 30 } }) });
});
afterAll(() => pool?.end());

/** A customer's refund as the API and the refund workflow make it, up to the PSP: reserved, then made there. */
async function refundedAtPsp(order: PaymentOrderInput, amount: number): Promise<{ refund: RefundInput; pspReference: string }> {
  const refundId = `re_${randomBytes(16).toString('hex')}`;
  const reservation = await withTransaction(pool, (tx) =>
    reserveRefund(tx, { refundId, paymentOrderId: order.paymentOrderId, amount, reason: 'requested_by_customer' }),
  );
  if (reservation.kind !== 'reserved') throw new Error(`refund not reserved: ${JSON.stringify(reservation)}`);
  const atPsp = await activities.refundAtPsp(reservation.refund);
  if (atPsp.outcome !== 'done') throw new Error(`refund refused: ${JSON.stringify(atPsp)}`);
  return { refund: reservation.refund, pspReference: atPsp.pspReference! };
}

/** The same refund, booked too. */
async function customerRefund(order: PaymentOrderInput, amount: number): Promise<void> {
  const { refund, pspReference } = await refundedAtPsp(order, amount);
  await activities.recordRefund(refund, pspReference, 'requested_by_customer');
}

async function capturedOnce(paymentOrderId: string): Promise<{ movements: number; ledgerTransactions: number; wallet: number }> {
  const { rows } = await pool.query(
    `SELECT (SELECT count(*) FROM wallet_movements WHERE payment_order_id = $1 AND step = 'capture')::int AS movements,
            (SELECT count(*) FROM ledger_transactions WHERE payment_order_id = $1 AND step = 'capture')::int AS "ledgerTransactions",
            (SELECT coalesce(sum(amount), 0) FROM wallet_movements WHERE payment_order_id = $1)::int AS wallet`,
    [paymentOrderId],
  );
  return rows[0];
}

describe('a capture booked whose answer was lost, then refunded by the client, then retried', () => {
  for (const refunded of [{ name: 'in part', amount: 400 }, { name: 'in full', amount: 1_000 }]) {
    it(`answers the capture again and books nothing twice (refunded ${refunded.name})`, async () => {
      const order = await recordedOrder(pool);
      const authorization = await activities.authorizePaymentOrder(order);
      expect(authorization.outcome).toBe('authorized');
      const pspReference = (authorization as { pspReference: string }).pspReference;

      // The first attempt captures and books; its answer is lost.
      const first = await activities.captureAndBookPaymentOrder(order, pspReference);
      expect(first.outcome).toBe('done');
      // The order reads SUCCEEDED: the client refunds it before the workflow's retry runs.
      await customerRefund(order, refunded.amount);

      // Temporal retries the attempt whose answer it did not hear.
      const retried = await activities.captureAndBookPaymentOrder(order, pspReference).catch((error: Error) => error);
      expect(retried).toEqual(first);
      // What the workflow does when that retry fails: asks the PSP, then books with recordCapture.
      const booked = await activities.recordCapture(order, first.outcome === 'done' ? first.fee : 0).catch((error: Error) => error);
      expect(booked).toBeUndefined();
      expect(await capturedOnce(order.paymentOrderId)).toEqual({ movements: 1, ledgerTransactions: 1, wallet: 1_000 - refunded.amount });
    });
  }
});

describe('refunds of one order booked at once', () => {
  it('add up on the order: the last one booked makes it REFUNDED, never a PARTIALLY_REFUNDED order refunded in full', async () => {
    const refused: string[] = [];
    const wrong: string[] = [];
    for (let round = 0; round < 40; round += 1) {
      const order = await recordedOrder(pool);
      const authorization = await activities.authorizePaymentOrder(order);
      const captured = await activities.captureAndBookPaymentOrder(order, (authorization as { pspReference: string }).pspReference);
      expect(captured.outcome).toBe('done');
      const parts = [300, 300, 400];
      const reserved = [];
      for (const amount of parts) reserved.push(await refundedAtPsp(order, amount));
      refused.push(...(await atOnce(reserved.map(({ refund, pspReference }) => () => activities.recordRefund(refund, pspReference, 'requested_by_customer')))));
      const { rows } = await pool.query('SELECT status, refunded_amount::int AS refunded FROM payment_orders WHERE id = $1', [order.paymentOrderId]);
      if (rows[0].status !== 'REFUNDED' || rows[0].refunded !== 1_000) wrong.push(`${order.paymentOrderId}: ${rows[0].status} ${rows[0].refunded}`);
    }
    expect(refused).toEqual([]);
    expect(wrong).toEqual([]);
  });
});

describe('an endpoint whose workflow could not be started, removed while a poll of that workflow records its deliveries', () => {
  it('is found gone by the poll, or kept for it: the poll is never refused for good', async () => {
    const pollRefused: string[] = [];
    const removalRefused: string[] = [];
    for (let round = 0; round < 150; round += 1) {
      const endpoint = await recordedWebhookEndpoint(pool);
      const { checkoutId } = await recordedOrder(pool);
      const { rows: events } = await pool.query<{ id: string }>('SELECT id::text FROM events WHERE checkout_id = $1', [checkoutId]);
      await Promise.all([
        recordWebhookDeliveries(pool, endpoint.id, events.map((event) => event.id)).catch((error: { code?: string; message: string }) =>
          pollRefused.push(`${error.code}: ${error.message}`),
        ),
        deleteWebhookEndpoint(pool, endpoint.id).catch((error: { code?: string; message: string }) => removalRefused.push(`${error.code}: ${error.message}`)),
      ]);
    }
    // The removal's refusal is logged by the API and the endpoint kept (its workflow delivers to it); the
    // poll's is a class-23 error, which fails the endpoint's poll for good.
    expect(pollRefused).toEqual([]);
  });
});
