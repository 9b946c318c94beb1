import type pg from 'pg';
import { createPool, type Pool } from '../db/pool';
import { verifyBooks } from '../db/verify';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

let settle: TestSettle;
let pool: Pool;
let seller: string;
let orderId: string;
beforeAll(async () => {
  settle = await startSettle();
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 2);
  seller = uniqueId('seller');
  const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: seller, amount: 5000 }] }));
  orderId = result.orders[0]!.orderId;
  const refund = await settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 1000 }, { 'Idempotency-Key': uniqueId('key') });
  await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
});
afterAll(async () => {
  await pool?.end();
  await settle?.stop();
});

/** Tampers inside a transaction, verifies what that transaction sees, and rolls back: nobody else sees it. */
async function verifyTampered(tamper: (tx: pg.PoolClient) => Promise<unknown>) {
  const tx = await pool.connect();
  try {
    await tx.query('BEGIN');
    // As an intruder with direct database access would: the append-only triggers do not fire.
    await tx.query(`SET LOCAL session_replication_role = replica`);
    await tamper(tx);
    const results = await verifyBooks(tx, 100);
    return Object.fromEntries(results.filter((check) => check.breaches > 0).map((check) => [check.name, check.examples]));
  } finally {
    await tx.query('ROLLBACK');
    tx.release();
  }
}

describe('verify', () => {
  it('passes on books written by checkouts and refunds', async () => {
    const results = await verifyBooks(pool);
    expect(results.filter((check) => check.breaches > 0)).toEqual([]);
    expect(results.map((check) => check.name)).toEqual([
      'ledger_unbalanced',
      'wallet_movements_mismatch',
      'wallet_ledger_mismatch',
      'capture_transaction_mismatch',
      'refund_reversal_mismatch',
      'refunded_amount_mismatch',
      'psp_mismatch',
    ]);
  });

  it('names a wallet changed behind the books', async () => {
    const breaches = await verifyTampered((tx) => tx.query('UPDATE wallets SET balance = balance + 1 WHERE seller_id = $1', [seller]));
    expect(Object.keys(breaches).sort()).toEqual(['wallet_ledger_mismatch', 'wallet_movements_mismatch']);
    expect(breaches.wallet_ledger_mismatch).toEqual([`${seller} USD: wallet 4001, ledger 4000`]);
  });

  it('names a ledger entry edited in place', async () => {
    const breaches = await verifyTampered((tx) =>
      tx.query(
        `UPDATE ledger_entries SET amount = amount + 7
          WHERE account_id = $1 AND transaction_id = (SELECT id FROM ledger_transactions WHERE payment_order_id = $2 AND step = 'capture')`,
        [`seller_payable:${seller}:USD`, orderId],
      ),
    );
    expect(Object.keys(breaches).sort()).toEqual(['ledger_unbalanced', 'wallet_ledger_mismatch']);
    expect(breaches.ledger_unbalanced![0]).toMatch(/debits - credits = -7$/);
  });

  it('names a capture whose ledger transaction was deleted', async () => {
    const breaches = await verifyTampered(async (tx) => {
      const { rows } = await tx.query(`SELECT id FROM ledger_transactions WHERE payment_order_id = $1 AND step = 'capture'`, [orderId]);
      await tx.query('DELETE FROM ledger_entries WHERE transaction_id = $1', [rows[0].id]);
      await tx.query('DELETE FROM ledger_transactions WHERE id = $1', [rows[0].id]);
    });
    expect(breaches.capture_transaction_mismatch).toEqual([`${orderId} (PARTIALLY_REFUNDED): 0 capture transactions`]);
    expect(breaches.wallet_ledger_mismatch).toEqual([`${seller} USD: wallet 4000, ledger -1000`]);
  });

  it("names an order the PSP's records disagree with", async () => {
    const breaches = await verifyTampered((tx) =>
      tx.query('UPDATE psp_simulator_payments SET amount_refunded = amount_refunded + 500 WHERE payment_order_id = $1', [orderId]),
    );
    expect(Object.keys(breaches)).toEqual(['psp_mismatch']);
    expect(breaches.psp_mismatch![0]).toContain(`${orderId}: ours captured 5000 refunded 1000`);
  });
});
