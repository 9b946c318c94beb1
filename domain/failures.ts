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
