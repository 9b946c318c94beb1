import { execFile } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';
import { createPool, withTransaction, type Pool } from '../db/pool';
import { verifyBooks } from '../db/verify';
import { buildSettle, type Build } from './support/build';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

let settle: TestSettle;
let pool: Pool;
let seller: string;
let orderId: string;
let refundId: string;
beforeAll(async () => {
  settle = await startSettle();
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 2);
  seller = uniqueId('seller');
  const result = await settle.checkoutResult(await settle.createCheckout({ orders: [{ sellerId: seller, amount: 5000 }] }));
  orderId = result.orders[0]!.orderId;
  const refund = await settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 1000 }, { 'Idempotency-Key': uniqueId('key') });
  refundId = refund.body.refundId;
  await settle.temporal.workflow.getHandle(`refund-${refundId}`).result();
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
      'checkout_stalled',
      'refund_stalled',
      'held_without_record',
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

  it('names a succeeded refund whose ledger reversal was deleted', async () => {
    const breaches = await verifyTampered(async (tx) => {
      const { rows } = await tx.query(`SELECT id FROM ledger_transactions WHERE payment_order_id = $1 AND step = $2`, [orderId, `refund:${refundId}`]);
      await tx.query('DELETE FROM ledger_entries WHERE transaction_id = $1', [rows[0].id]);
      await tx.query('DELETE FROM ledger_transactions WHERE id = $1', [rows[0].id]);
    });
    expect(Object.keys(breaches).sort()).toEqual(['refund_reversal_mismatch', 'wallet_ledger_mismatch']);
    expect(breaches.refund_reversal_mismatch).toEqual([`${refundId} (SUCCEEDED): 0 reversals`]);
  });

  it('names a refund whose amount no longer adds up to what its order says was refunded', async () => {
    const breaches = await verifyTampered((tx) => tx.query('UPDATE refunds SET amount = amount + 1 WHERE id = $1', [refundId]));
    expect(Object.keys(breaches)).toEqual(['refunded_amount_mismatch']);
    expect(breaches.refunded_amount_mismatch).toEqual([`${orderId}: refunded_amount 1000, refunds 1001`]);
  });

  it('names an order that is not captured but has a capture transaction', async () => {
    const breaches = await verifyTampered((tx) => tx.query(`UPDATE payment_orders SET status = 'FAILED' WHERE id = $1`, [orderId]));
    expect(breaches.capture_transaction_mismatch).toEqual([`${orderId} (FAILED): 1 capture transactions`]);
  });

  it('names an order whose refunded amount was changed behind its refunds', async () => {
    const breaches = await verifyTampered((tx) => tx.query('UPDATE payment_orders SET refunded_amount = 0 WHERE id = $1', [orderId]));
    expect(breaches.refunded_amount_mismatch).toEqual([`${orderId}: refunded_amount 0, refunds 1000`]);
  });

  it('names a finished checkout whose record of money held was changed, and one that holds an authorization it never recorded', async () => {
    const { rows } = await pool.query('SELECT checkout_id FROM payment_orders WHERE id = $1', [orderId]);
    const checkoutId = rows[0].checkout_id;
    const recorded = await verifyTampered((tx) =>
      tx.query(`UPDATE checkouts SET held_amount = 300, attention_code = 'refund_refused' WHERE id = $1`, [checkoutId]),
    );
    expect(recorded.held_without_record).toEqual([`${checkoutId}: holds 0, its record says 300 (refund_refused)`]);
    const authorized = await verifyTampered((tx) => tx.query(`UPDATE payment_orders SET status = 'AUTHORIZED' WHERE id = $1`, [orderId]));
    expect(authorized.held_without_record).toEqual([`${checkoutId}: holds 5000, its record says 0 (no record)`]);
  });

  it("names an order the PSP's records disagree with", async () => {
    const breaches = await verifyTampered((tx) =>
      tx.query('UPDATE psp_simulator_payments SET amount_refunded = amount_refunded + 500 WHERE payment_order_id = $1', [orderId]),
    );
    expect(Object.keys(breaches)).toEqual(['psp_mismatch']);
    expect(breaches.psp_mismatch![0]).toContain(`${orderId}: ours captured 5000 refunded 1000`);
  });
});

describe('npm run verify', () => {
  let build: Build;
  let own: TestSettle;
  let databaseUrl: string;
  beforeAll(async () => {
    // A database of its own: the command judges everything in it, and the test tampers with it for real.
    own = await startSettle({ isolatedDatabase: true });
    build = await buildSettle();
    databaseUrl = own.pool.options.connectionString!;
    const result = await own.checkoutResult(await own.createCheckout({ orders: [{ sellerId: uniqueId('seller'), amount: 2500 }] }));
    const refund = await own.post(`/v1/payment-orders/${result.orders[0]!.orderId}/refunds`, { amount: 400 }, { 'Idempotency-Key': uniqueId('key') });
    await own.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
  }, 180_000);
  afterAll(() => own?.stop());

  /** The command as `npm run verify` runs it after its build: `node dist/bin/verify.js`. */
  const verify = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(build.dir, 'bin', 'verify.js')], { env: { ...build.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });

  it('exits 0 on books that hold, every check ok', async () => {
    const { code, stdout } = await verify({ DATABASE_URL: databaseUrl });
    expect(stdout).not.toMatch(/FAIL/);
    expect(stdout.split('\n').filter((line) => line.startsWith('ok ')).length).toBe((await verifyBooks(own.pool)).length);
    expect(stdout).toMatch(/^books verified in \d+ ms$/m);
    expect(code).toBe(0);
  });

  it('exits 1 naming the check and the refund when the books were tampered with', async () => {
    const { rows } = await own.pool.query('SELECT id, payment_order_id FROM refunds');
    expect(rows).toHaveLength(1);
    await withTransaction(own.pool, async (tx) => {
      // As an intruder with direct database access would, and committed: the command runs in another process.
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query('UPDATE refunds SET amount = amount + 1 WHERE id = $1', [rows[0].id]);
    });
    const { code, stdout } = await verify({ DATABASE_URL: databaseUrl });
    expect(stdout).toContain(`FAIL  every payment order's refunded amount is the sum of its succeeded refunds: 1 breach(es) [refunded_amount_mismatch]`);
    expect(stdout).toContain(`${rows[0].payment_order_id}: refunded_amount 400, refunds 401`);
    expect(stdout.match(/^FAIL/gm)).toHaveLength(1);
    expect(stdout).toMatch(/^1 breach\(es\) found$/m);
    expect(code).toBe(1);
  });

  it('exits 2, saying why, when it cannot check at all', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = '1';
    const { code, stderr } = await verify({ DATABASE_URL: unreachable.toString() });
    expect(stderr).toContain('verify could not run: cannot reach DATABASE_URL');
    expect(code).toBe(2);
  });
});
