import { sellerPayableTransaction, type SellerMovement } from '../domain/ledger';
import { postLedgerTransaction } from './ledger';
import type { Queryable } from './pool';
import { moveWallet } from './wallets';

/**
 * Moves what the platform owes a seller: the wallet and the ledger together, so a wallet always equals its
 * seller-payable account. Run inside the transaction that also records why the money moved.
 */
export async function moveSellerBalance(tx: Queryable, movement: SellerMovement): Promise<void> {
  await moveWallet(tx, movement);
  await postLedgerTransaction(tx, sellerPayableTransaction(movement));
}

/** The step a capture is booked under: one ledger transaction and one wallet movement per order. */
export const CAPTURE_STEP = 'capture';

/**
 * Whether the order's capture is in the books already, the order's row locked for the rest of the transaction.
 * A booking run again after its answer was lost must find it there even when a refund has since moved the
 * order's status on, so the books are asked, not the status. The lock comes first, and the question in a
 * statement of its own, which sees a booking that committed while this one waited.
 */
export async function captureBooked(tx: Queryable, paymentOrderId: string): Promise<boolean> {
  await tx.query('SELECT 1 FROM payment_orders WHERE id = $1 FOR UPDATE', [paymentOrderId]);
  const { rows } = await tx.query<{ booked: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE payment_order_id = $1 AND step = $2) AS booked',
    [paymentOrderId, CAPTURE_STEP],
  );
  return rows[0]!.booked;
}
