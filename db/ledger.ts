import type { LedgerTransaction } from '../domain/ledger';
import type { Queryable } from './pool';

/**
 * Posts a ledger transaction once per (payment order, step); a repeat changes nothing and answers false.
 * The database checks at commit that its debits equal its credits.
 */
export async function postLedgerTransaction(db: Queryable, txn: LedgerTransaction): Promise<boolean> {
  const accounts = new Map(txn.entries.map((entry) => [entry.account.id, entry.account]));
  // No conflict target: an account is unique by id and by (id, currency), and only the target's index takes a
  // concurrent first insert as "already there"; the other raises a unique violation.
  await db.query(
    `INSERT INTO ledger_accounts (id, kind, currency)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
    [[...accounts.keys()], [...accounts.values()].map((a) => a.kind), [...accounts.values()].map((a) => a.currency)],
  );
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ledger_transactions (payment_order_id, step, description) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING id`,
    [txn.paymentOrderId, txn.step, txn.description],
  );
  const transactionId = rows[0]?.id;
  if (transactionId === undefined) return false;
  await db.query(
    `INSERT INTO ledger_entries (transaction_id, account_id, direction, amount, currency)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[])`,
    [
      transactionId,
      txn.entries.map((entry) => entry.account.id),
      txn.entries.map((entry) => entry.direction),
      txn.entries.map((entry) => entry.amount),
      txn.entries.map((entry) => entry.account.currency),
    ],
  );
  return true;
}
