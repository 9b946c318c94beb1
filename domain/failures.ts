/**
 * Why a payment order or checkout did not succeed: a machine-readable code (the PSP's decline code where
 * there is one) and a sentence a support agent can read to a buyer.
 */
const reasons: Record<string, string> = {
  card_declined: "The buyer's card was declined.",
  generic_decline: "The buyer's card was declined.",
  insufficient_funds: "The buyer's card has insufficient funds.",
  lost_card: "The buyer's card was reported lost.",
  stolen_card: "The buyer's card was reported stolen.",
  expired_card: "The buyer's card has expired.",
  incorrect_cvc: "The card's security code was incorrect.",
  processing_error: 'The card issuer could not process the payment.',
  resource_missing: 'The payment method does not exist at the payment provider.',
  payment_intent_unexpected_state: 'The payment provider no longer holds this authorization.',
  payment_not_completed: 'The buyer did not complete the payment (authentication or bank confirmation) in time.',
  psp_unavailable: 'The payment provider could not be reached in time; no money was taken.',
  sibling_failed: 'Reversed because another order of the same checkout did not succeed.',
  checkout_canceled: 'Reversed because the checkout was canceled.',
  authorization_expired: 'Released because the checkout was not captured before its authorization window ran out.',
  capture_not_booked: 'The payment provider captured the payment but Settle could not book it; a person must look at it.',
};

export function failureReason(code: string): string {
  return reasons[code] ?? `The payment did not go through (${code}).`;
}

export interface Failure {
  code: string;
  message: string;
}

/** The failure type of an activity whose write the database refused for what it holds: final, never retried. */
export const DATABASE_REJECTED = 'DatabaseRejectedError';

/**
 * Text as it may be kept: no control characters (tab and newline aside) and no lone surrogates, which
 * PostgreSQL and JSON refuse, at most `max` characters. For text that reaches a workflow without passing the
 * API (a signal sent from a shell).
 */
export function printableText(value: unknown, max = 500): string {
  if (typeof value !== 'string') return '';
  return value
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ')
    .slice(0, max);
}

/** A failure as a signal from a shell may carry it: a code of Settle's form and printable text, or defaults. */
export function failureFrom(input: unknown, fallback: Failure): Failure {
  const given = typeof input === 'object' && input !== null ? (input as Partial<Record<keyof Failure, unknown>>) : {};
  const code = typeof given.code === 'string' && /^[a-z0-9_]{1,64}$/.test(given.code) ? given.code : fallback.code;
  return { code, message: printableText(given.message) || fallback.message };
}
