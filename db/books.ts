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
