import { sellerPayableTransaction } from '../domain/ledger';
import type { Currency } from '../domain/money';
import { postLedgerTransaction } from './ledger';
import type { Queryable } from './pool';
import { moveWallet } from './wallets';

export interface SellerMovement {
  paymentOrderId: string;
  /** With the payment order, the natural key: the movement happens once per (order, step). */
  step: string;
  description: string;
  sellerId: string;
  currency: Currency;
  /** Positive credits the seller (a capture), negative debits (a refund). */
  amount: number;
  /** A capture's PSP fee, posted to its own account. */
  fee?: number;
}

/**
 * Moves what the platform owes a seller: the wallet and the ledger together, so a wallet always equals its
 * seller-payable account. Run inside the transaction that also records why the money moved.
 */
export async function moveSellerBalance(tx: Queryable, movement: SellerMovement): Promise<void> {
  await moveWallet(tx, movement);
  await postLedgerTransaction(tx, sellerPayableTransaction(movement));
}
