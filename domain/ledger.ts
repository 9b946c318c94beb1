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
 * A capture: the PSP now owes the platform the amount (debit PSP clearing), and the platform owes it to
 * the seller (credit seller payable).
 */
export function captureTransaction(order: {
  paymentOrderId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
}): LedgerTransaction {
  return {
    paymentOrderId: order.paymentOrderId,
    step: 'capture',
    description: `capture of payment order ${order.paymentOrderId}`,
    entries: [
      { account: pspClearingAccount(order.currency), direction: 'debit', amount: order.amount },
      { account: sellerPayableAccount(order.sellerId, order.currency), direction: 'credit', amount: order.amount },
    ],
  };
}

/**
 * A refund reverses (part of) a capture: the platform no longer owes the seller the amount (debit seller
 * payable), and the money goes back out through the PSP (credit PSP clearing).
 */
export function refundTransaction(refund: {
  refundId: string;
  paymentOrderId: string;
  sellerId: string;
  amount: number;
  currency: Currency;
}): LedgerTransaction {
  return {
    paymentOrderId: refund.paymentOrderId,
    step: `refund:${refund.refundId}`,
    description: `refund ${refund.refundId} of payment order ${refund.paymentOrderId}`,
    entries: [
      { account: sellerPayableAccount(refund.sellerId, refund.currency), direction: 'debit', amount: refund.amount },
      { account: pspClearingAccount(refund.currency), direction: 'credit', amount: refund.amount },
    ],
  };
}
