import type { Currency } from './money';

/** Ledger accounts are named by what they hold, one per currency. */
export interface LedgerAccount {
  id: string;
  kind: 'asset' | 'liability' | 'revenue' | 'expense';
  currency: Currency;
}

export function pspClearingAccount(currency: Currency): LedgerAccount {
  return { id: `psp_clearing:${currency}`, kind: 'asset', currency };
}

export function pspFeesAccount(currency: Currency): LedgerAccount {
  return { id: `psp_fees:${currency}`, kind: 'expense', currency };
}

export function sellerPayableAccount(sellerId: string, currency: Currency): LedgerAccount {
  return { id: `seller_payable:${sellerId}:${currency}`, kind: 'liability', currency };
}

export interface LedgerEntry {
  account: LedgerAccount;
  direction: 'debit' | 'credit';
  amount: number;
}

export interface LedgerTransaction {
  /** With step, the natural key: one transaction per (payment order, step), ever. */
  paymentOrderId: string;
  step: string;
  description: string;
  entries: LedgerEntry[];
}

/**
 * Money moving between the PSP and a seller, on the platform's books. A positive amount is a capture: the
 * platform owes the seller the gross (credit seller payable); the PSP owes the platform the net (debit PSP
 * clearing) and kept its fee (debit PSP fees, an expense the platform bears). A negative amount is a
 * refund: the gross goes back out through the PSP (debit seller payable, credit PSP clearing); as with
 * Stripe, the capture's fee is not returned.
 */
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

export function sellerPayableTransaction(movement: SellerMovement): LedgerTransaction {
  const gross = Math.abs(movement.amount);
  const clearing = pspClearingAccount(movement.currency);
  const payable = sellerPayableAccount(movement.sellerId, movement.currency);
  const entries: LedgerEntry[] =
    movement.amount > 0
      ? [
          { account: clearing, direction: 'debit', amount: gross - (movement.fee ?? 0) },
          { account: pspFeesAccount(movement.currency), direction: 'debit', amount: movement.fee ?? 0 },
          { account: payable, direction: 'credit', amount: gross },
        ]
      : [
          { account: payable, direction: 'debit', amount: gross },
          { account: clearing, direction: 'credit', amount: gross },
        ];
  return {
    paymentOrderId: movement.paymentOrderId,
    step: movement.step,
    description: movement.description,
    // A zero fee (or a fee that took it all) leaves a zero leg, which the ledger does not record.
    entries: entries.filter((entry) => entry.amount > 0),
  };
}
