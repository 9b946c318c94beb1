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
 * Money moving between the PSP and a seller, on the platform's books. A positive amount is a capture: the PSP
 * now owes the platform the money (debit PSP clearing) and the platform owes it to the seller (credit seller
 * payable). A negative amount is a refund, the same entries reversed.
 */
export function sellerPayableTransaction(movement: {
  paymentOrderId: string;
  step: string;
  description: string;
  sellerId: string;
  currency: Currency;
  amount: number;
}): LedgerTransaction {
  const amount = Math.abs(movement.amount);
  const clearing = pspClearingAccount(movement.currency);
  const payable = sellerPayableAccount(movement.sellerId, movement.currency);
  const [debit, credit] = movement.amount > 0 ? [clearing, payable] : [payable, clearing];
  return {
    paymentOrderId: movement.paymentOrderId,
    step: movement.step,
    description: movement.description,
    entries: [
      { account: debit, direction: 'debit', amount },
      { account: credit, direction: 'credit', amount },
    ],
  };
}
