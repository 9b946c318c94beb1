import { randomBytes, randomUUID } from 'node:crypto';
import { createActivities } from '../activities';
import type { CheckoutInput } from '../domain/checkout';
import type { Currency } from '../domain/money';
import { insertCheckout } from '../db/checkouts';
import { migrate } from '../db/migrate';
import { createPool, withTransaction, type Pool } from '../db/pool';
import { transition } from '../db/transition';
import { allowedTransitions, IllegalTransitionError } from '../domain/status';
import { SimulatedPsp } from '../psp/simulated';
import { ledgerPostings } from './support/books';
import { uniqueId } from './support/settle';

let pool: Pool;
beforeAll(() => {
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 4);
});
afterAll(() => pool?.end());

const USD = 'USD' as Currency;

async function recordedCheckout(amounts: number[]): Promise<CheckoutInput> {
  const checkoutId = `chk_${randomBytes(16).toString('hex')}`;
  const input: CheckoutInput = {
    checkoutId,
    customerId: uniqueId('cus'),
    currency: USD,
    capture: 'automatic',
    allowPartial: false,
    authorizationWindowMs: 60_000,
    orders: amounts.map((amount) => ({
      paymentOrderId: `po_${randomBytes(16).toString('hex')}`,
      checkoutId,
      sellerId: uniqueId('seller'),
      amount,
      currency: USD,
      paymentMethod: 'pm_card_visa',
    })),
  };
  await withTransaction(pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
  return input;
}

/** Inserts a ledger transaction with the given entries directly, as a buggy or malicious writer would. */
async function insertRawTransaction(orderId: string, entries: Array<[string, number]>, step = `raw-${randomUUID()}`): Promise<void> {
  await withTransaction(pool, async (tx) => {
    await tx.query(
      `INSERT INTO ledger_accounts (id, kind, currency) VALUES ('psp_clearing:USD', 'asset', 'USD'), ('test:USD', 'liability', 'USD')
       ON CONFLICT DO NOTHING`,
    );
    const { rows } = await tx.query(
      `INSERT INTO ledger_transactions (payment_order_id, step, description) VALUES ($1, $2, 'test') RETURNING id`,
      [orderId, step],
    );
    for (const [direction, amount] of entries) {
      await tx.query(
        `INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency) VALUES ($1, $2, $3, $4, 'USD')`,
        [rows[0].id, direction === 'debit' ? 'psp_clearing:USD' : 'test:USD', direction, amount],
      );
    }
  });
}

describe('the database guards the ledger', () => {
  it('refuses a transaction whose debits do not equal its credits', async () => {
    const { orders } = await recordedCheckout([100]);
    await expect(insertRawTransaction(orders[0]!.paymentOrderId, [['debit', 100], ['credit', 99]])).rejects.toThrow(
      /unbalanced in USD: debits 100 <> credits 99/,
    );
    expect(await ledgerPostings(pool, [orders[0]!.paymentOrderId])).toEqual([]);
  });

  it('refuses a transaction with a single entry', async () => {
    const { orders } = await recordedCheckout([100]);
    await expect(insertRawTransaction(orders[0]!.paymentOrderId, [['debit', 100]])).rejects.toThrow(/needs at least two/);
  });

  it('accepts a balanced transaction, then refuses to update, delete or truncate its entries', async () => {
    const { orders } = await recordedCheckout([100]);
    await insertRawTransaction(orders[0]!.paymentOrderId, [['debit', 100], ['credit', 60], ['credit', 40]]);
    const [entry] = (await pool.query(
      `SELECT e.id FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id WHERE t.payment_order_id = $1`,
      [orders[0]!.paymentOrderId],
    )).rows;
    await expect(pool.query('UPDATE ledger_entries SET amount = 1 WHERE id = $1', [entry.id])).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(pool.query('DELETE FROM ledger_entries WHERE id = $1', [entry.id])).rejects.toThrow(/append-only: DELETE refused/);
    await expect(pool.query('TRUNCATE ledger_entries CASCADE')).rejects.toThrow(/append-only/);
    await expect(
      pool.query('DELETE FROM ledger_transactions WHERE payment_order_id = $1', [orders[0]!.paymentOrderId]),
    ).rejects.toThrow(/append-only: DELETE refused/);
    expect(await ledgerPostings(pool, [orders[0]!.paymentOrderId])).toHaveLength(3);
  });

  it('refuses an entry in a currency other than its account', async () => {
    const { orders } = await recordedCheckout([100]);
    await expect(
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query(
          `INSERT INTO ledger_transactions (payment_order_id, step, description) VALUES ($1, 'x', 'test') RETURNING id`,
          [orders[0]!.paymentOrderId],
        );
        await tx.query(`INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency)
                        VALUES ($1, 'psp_clearing:USD', 'debit', 5, 'EUR'), ($1, 'psp_clearing:USD', 'credit', 5, 'EUR')`, [rows[0].id]);
      }),
    ).rejects.toThrow(/foreign key/);
  });

  it('refuses a second ledger transaction for the same payment order and step', async () => {
    const orderId = (await recordedCheckout([100])).orders[0]!.paymentOrderId;
    await insertRawTransaction(orderId, [['debit', 100], ['credit', 100]], 'capture');
    // Written directly, without the ON CONFLICT the application uses: the database itself says no.
    await expect(insertRawTransaction(orderId, [['debit', 100], ['credit', 100]], 'capture')).rejects.toMatchObject({
      code: '23505',
      constraint: 'ledger_transactions_payment_order_id_step_key',
    });
    expect((await ledgerPostings(pool, [orderId])).map((posting) => [posting.step, posting.direction, posting.amount])).toEqual([
      ['capture', 'debit', 100],
      ['capture', 'credit', 100],
    ]);
    // Another step of the same order is a transaction of its own.
    await insertRawTransaction(orderId, [['debit', 40], ['credit', 40]], 'refund:re_1');
    expect(await ledgerPostings(pool, [orderId])).toHaveLength(4);
  });

  it("refuses a second movement of a seller's wallet for the same payment order and step", async () => {
    const order = (await recordedCheckout([100])).orders[0]!;
    // In a transaction rolled back at the end: a raw movement without its wallet balance would be a breach
    // that every other suite's verify, on this shared database, would see.
    const tx = await pool.connect();
    try {
      await tx.query('BEGIN');
      const move = async (amount: number) => {
        await tx.query('SAVEPOINT move');
        try {
          await tx.query(`INSERT INTO wallet_movements (payment_order_id, step, seller_id, currency, amount) VALUES ($1, 'capture', $2, 'USD', $3)`, [
            order.paymentOrderId,
            order.sellerId,
            amount,
          ]);
        } catch (error) {
          await tx.query('ROLLBACK TO SAVEPOINT move');
          throw error;
        }
      };
      await tx.query(`INSERT INTO wallets (seller_id, currency) VALUES ($1, 'USD')`, [order.sellerId]);
      await move(100);
      for (const amount of [100, 250]) {
        await expect(move(amount)).rejects.toMatchObject({ code: '23505', constraint: 'wallet_movements_pkey' });
      }
      const { rows } = await tx.query('SELECT step, amount FROM wallet_movements WHERE payment_order_id = $1', [order.paymentOrderId]);
      expect(rows.map((row) => [row.step, Number(row.amount)])).toEqual([['capture', 100]]);
    } finally {
      await tx.query('ROLLBACK');
      tx.release();
    }
  });

  it('applies each migration once', async () => {
    expect(await migrate(pool)).toEqual([]);
  });
});

describe('activities repeated by Temporal write once', () => {
  it('captures and books in one step once, however often (and however concurrently) the step runs', async () => {
    const psp = new SimulatedPsp(pool, { seed: randomUUID() });
    const activities = createActivities({ pool, psp });
    const { orders } = await recordedCheckout([2600]);
    const order = orders[0]!;
    const authorization = await activities.authorizePaymentOrder(order);
    if (authorization.outcome !== 'authorized') throw new Error('expected an authorization');

    const outcomes = await Promise.all([1, 2, 3].map(() => activities.captureAndBookPaymentOrder(order, authorization.pspReference)));
    outcomes.push(await activities.captureAndBookPaymentOrder(order, authorization.pspReference));
    expect(new Set(outcomes.map((outcome) => JSON.stringify(outcome))).size).toBe(1);
    expect(outcomes[0]).toMatchObject({ outcome: 'done' });

    expect(await psp.chargesFor(order.paymentOrderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: 2600 })]);
    const wallet = await pool.query('SELECT balance FROM wallets WHERE seller_id = $1', [order.sellerId]);
    expect(Number(wallet.rows[0].balance)).toBe(2600);
    expect(await ledgerPostings(pool, [order.paymentOrderId])).toHaveLength(2);
  });

  it('authorizes, captures and books a payment order once however often each step runs', async () => {
    const psp = new SimulatedPsp(pool, { seed: randomUUID() });
    const activities = createActivities({ pool, psp });
    const { orders } = await recordedCheckout([4200]);
    const order = orders[0]!;

    const [first, second] = [await activities.authorizePaymentOrder(order), await activities.authorizePaymentOrder(order)];
    expect(second).toEqual(first);
    if (first.outcome !== 'authorized') throw new Error('expected an authorization');
    await Promise.all([activities.capturePaymentOrder(order, first.pspReference), activities.capturePaymentOrder(order, first.pspReference)]);
    await activities.recordCapture(order, 0);
    await activities.recordCapture(order, 0);

    expect(await psp.chargesFor(order.paymentOrderId)).toEqual([
      expect.objectContaining({ status: 'succeeded', amount: 4200, amountCaptured: 4200 }),
    ]);
    const wallet = await pool.query('SELECT balance FROM wallets WHERE seller_id = $1', [order.sellerId]);
    expect(Number(wallet.rows[0].balance)).toBe(4200);
    expect(await ledgerPostings(pool, [order.paymentOrderId])).toHaveLength(2);
    const status = await pool.query('SELECT status, psp_reference FROM payment_orders WHERE id = $1', [order.paymentOrderId]);
    expect(status.rows[0]).toEqual({ status: 'SUCCEEDED', psp_reference: first.pspReference });
  });

  it('refuses to book a capture for an order that was never authorized', async () => {
    const activities = createActivities({ pool, psp: new SimulatedPsp(pool) });
    const { orders } = await recordedCheckout([100]);
    await expect(activities.recordCapture(orders[0]!, 0)).rejects.toThrow(/cannot go from PENDING to SUCCEEDED/);
    expect(await ledgerPostings(pool, [orders[0]!.paymentOrderId])).toEqual([]);
  });
});

describe('the database enforces the status rules', () => {
  it('holds exactly the transitions of domain/status.ts', async () => {
    for (const entity of ['checkout', 'payment_order', 'refund'] as const) {
      const { rows } = await pool.query('SELECT from_status, to_status FROM status_transitions WHERE entity = $1', [entity]);
      const inDatabase = rows.map((row) => `${row.from_status}->${row.to_status}`).sort();
      expect(inDatabase).toEqual(allowedTransitions(entity).map(([from, to]) => `${from}->${to}`).sort());
    }
  });

  it('refuses an illegal transition written directly, and writes no event for it', async () => {
    const { checkoutId } = await recordedCheckout([100]);
    await expect(pool.query(`UPDATE checkouts SET status = 'SUCCEEDED' WHERE id = $1`, [checkoutId])).rejects.toThrow(
      /checkout .* cannot go from PROCESSING to SUCCEEDED/,
    );
    await expect(transition(pool, { entity: 'checkout', id: checkoutId, to: 'SUCCEEDED' })).rejects.toThrow(IllegalTransitionError);
    const { rows } = await pool.query('SELECT type FROM events WHERE checkout_id = $1', [checkoutId]);
    expect(rows.map((row) => row.type)).toEqual(['checkout.created']);
  });
});
