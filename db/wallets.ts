import { amountFromDb, type Currency } from '../domain/money';
import type { Queryable } from './pool';

export interface WalletMovement {
  paymentOrderId: string;
  step: string;
  sellerId: string;
  currency: Currency;
  /** Positive credits the seller, negative debits. */
  amount: number;
}

/**
 * Moves a seller's balance once per (payment order, step): a repeat finds the movement already recorded
 * and changes nothing. Answers whether this call moved the balance.
 */
export async function moveWallet(db: Queryable, movement: WalletMovement): Promise<boolean> {
  await db.query(
    `INSERT INTO wallets (seller_id, currency) VALUES ($1, $2) ON CONFLICT (seller_id, currency) DO NOTHING`,
    [movement.sellerId, movement.currency],
  );
  const inserted = await db.query(
    `INSERT INTO wallet_movements (payment_order_id, step, seller_id, currency, amount)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_order_id, step) DO NOTHING`,
    [movement.paymentOrderId, movement.step, movement.sellerId, movement.currency, movement.amount],
  );
  if (inserted.rowCount === 0) return false;
  await db.query(
    `UPDATE wallets SET balance = balance + $3, updated_at = now() WHERE seller_id = $1 AND currency = $2`,
    [movement.sellerId, movement.currency, movement.amount],
  );
  return true;
}

export async function walletBalances(db: Queryable, sellerId: string): Promise<Record<string, number> | undefined> {
  const { rows } = await db.query<{ currency: string; balance: string }>(
    'SELECT currency, balance FROM wallets WHERE seller_id = $1 ORDER BY currency',
    [sellerId],
  );
  if (rows.length === 0) return undefined;
  return Object.fromEntries(rows.map((row) => [row.currency, amountFromDb(row.balance)]));
}
