/**
 * How a PSP failure is classified, once, for every adapter. The class name is the Temporal failure type:
 * workflows list the final ones in nonRetryableErrorTypes.
 */

/** The PSP did not process the request (unreachable, rate-limited, 5xx before processing): repeat it. */
export class PspTransientError extends Error {
  override name = 'PspTransientError';
}

/**
 * The request may or may not have been processed (a timeout or a dropped connection after sending). Safe
 * to repeat only with the same idempotency key, which every Settle call carries.
 */
export class PspUnknownOutcomeError extends Error {
  override name = 'PspUnknownOutcomeError';
}

/**
 * The PSP refused a request because its idempotency key came before with other parameters: a defect in
 * Settle (every step sends one request under its key), not the PSP's word on the payment. Never taken as a
 * decline or a final refusal: whether the first request under that key went through is unknown here, so
 * it is retried like an unknown outcome, and its own name marks it for whoever watches failing activities.
 */
export class PspIdempotencyKeyReusedError extends Error {
  override name = 'PspIdempotencyKeyReusedError';
}

/** The PSP refused the payment (a card decline, an expired authorization). Final. */
export class PspDeclinedError extends Error {
  override name = 'PspDeclinedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The request itself is wrong (unknown payment method, amount above what is capturable). Final. */
export class PspInvalidRequestError extends Error {
  override name = 'PspInvalidRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A final answer from the PSP: the request will not succeed however often it is repeated. */
export function isFinalPspError(error: unknown): error is PspDeclinedError | PspInvalidRequestError {
  return error instanceof PspDeclinedError || error instanceof PspInvalidRequestError;
}
