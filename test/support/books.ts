import type { Pool } from '../../db/pool';

export interface LedgerPosting {
  paymentOrderId: string;
  step: string;
  accountId: string;
  direction: 'debit' | 'credit';
  amount: number;
  currency: string;
}

/** Every ledger entry written for the given payment orders, in the order the ids are given. */
export async function ledgerPostings(pool: Pool, paymentOrderIds: string[]): Promise<LedgerPosting[]> {
  const { rows } = await pool.query(
    `SELECT t.payment_order_id, t.step, e.account_id, e.direction, e.amount, e.currency
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
      WHERE t.payment_order_id = ANY($1) ORDER BY array_position($1, t.payment_order_id), t.id, e.id`,
    [paymentOrderIds],
  );
  return rows.map((row) => ({
    paymentOrderId: row.payment_order_id,
    step: row.step,
    accountId: row.account_id,
    direction: row.direction,
    amount: Number(row.amount),
    currency: row.currency.trim(),
  }));
}

/** Debits minus credits per (transaction, currency); a balanced ledger answers only zeros. */
export async function unbalancedTransactions(pool: Pool): Promise<number> {
  const { rows } = await pool.query(`
    SELECT count(*) AS n FROM (
      SELECT transaction_id, currency
        FROM ledger_entries
       GROUP BY transaction_id, currency
      HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0) unbalanced`);
  return Number(rows[0].n);
}

export interface OrderBooks {
  /** What the seller's wallet moved for this order, net. */
  wallet: number;
  /** What the ledger says the platform owes the seller for this order (credits minus debits of seller payable). */
  payable: number;
  captureTransactions: number;
  refundTransactions: number;
}

export async function orderBooks(pool: Pool, paymentOrderId: string): Promise<OrderBooks> {
  const { rows } = await pool.query(
    `SELECT
       (SELECT coalesce(sum(amount), 0) FROM wallet_movements WHERE payment_order_id = $1) AS wallet,
       (SELECT coalesce(sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END), 0)
          FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
         WHERE t.payment_order_id = $1 AND e.account_id LIKE 'seller_payable:%') AS payable,
       (SELECT count(*) FROM ledger_transactions WHERE payment_order_id = $1 AND step = 'capture') AS captures,
       (SELECT count(*) FROM ledger_transactions WHERE payment_order_id = $1 AND step LIKE 'refund:%') AS refunds`,
    [paymentOrderId],
  );
  const row = rows[0];
  return {
    wallet: Number(row.wallet),
    payable: Number(row.payable),
    captureTransactions: Number(row.captures),
    refundTransactions: Number(row.refunds),
  };
}
