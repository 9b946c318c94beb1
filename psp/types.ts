import type { Currency } from '../domain/money';
import type { SettlementRow } from '../domain/settlement';

/**
 * What Settle asks of a payment service provider. Every call carries an idempotency key derived from the
 * payment order and the step, so that a call repeated after a lost answer does not move money twice.
 */
export interface Psp {
  /** Places a hold on the buyer's funds (manual capture); no money moves yet. */
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  capture(request: CaptureRequest): Promise<CaptureResult>;
  /** Releases an authorization that was never captured. */
  void(request: VoidRequest): Promise<void>;
  refund(request: RefundRequest): Promise<RefundResult>;
  /**
   * The payment the PSP holds for a payment order, if any. How an authorization whose answer was lost
   * (or whose retries were abandoned) is found afterwards, so that its hold can be released.
   */
  findPayment(paymentOrderId: string, options?: PspCallOptions): Promise<PspPayment | null>;
  /** The day's settlement rows (every capture and refund), streamed, in the order the PSP lists them. */
  settlementRows(day: { start: Date; end: Date }): AsyncIterable<SettlementRow>;
}

export interface PspPayment {
  pspReference: string;
  /** unconfirmed: made but never confirmed (or waiting on the buyer), so no funds are held yet. */
  status: 'unconfirmed' | 'authorized' | 'captured' | 'canceled' | 'declined';
  /** For a captured payment: the PSP's fee. */
  fee?: number;
}

/**
 * Every PSP call carries the signal of the activity attempt making it: once the attempt is cancelled or
 * its deadline passes, an adapter sends nothing more and commits nothing more, so an abandoned attempt
 * can never place a hold after the release path looked.
 */
export interface PspCallOptions {
  signal?: AbortSignal;
}

export interface AuthorizeRequest extends PspCallOptions {
  paymentOrderId: string;
  amount: number;
  currency: Currency;
  paymentMethod: string;
  idempotencyKey: string;
}

export type AuthorizeResult =
  | { outcome: 'authorized'; pspReference: string }
  | { outcome: 'declined'; pspReference: string | null; declineCode: string; message: string }
  /** Waiting on the buyer (3-D Secure) or the bank; ask again when the PSP says something changed. */
  | { outcome: 'pending'; pspReference: string; reason: 'requires_action' | 'processing' };

export interface CaptureRequest extends PspCallOptions {
  pspReference: string;
  amount: number;
  idempotencyKey: string;
}

export interface CaptureResult {
  pspReference: string;
  amountCaptured: number;
  /** What the PSP kept of it, in the same currency. */
  fee: number;
}

export interface VoidRequest extends PspCallOptions {
  pspReference: string;
  idempotencyKey: string;
}

export interface RefundRequest extends PspCallOptions {
  pspReference: string;
  amount: number;
  idempotencyKey: string;
}

export interface RefundResult {
  refundReference: string;
}

/** Idempotency keys are functions of the payment order and the step: the same step always sends the same key. */
export function pspIdempotencyKey(paymentOrderId: string, step: string): string {
  return `settle:${paymentOrderId}:${step}`;
}
