/**
 * How a PSP failure is classified, once, for every adapter. The class name is the Temporal failure type:
 * workflows list the final ones in nonRetryableErrorTypes.
 */

/** The PSP could not be reached or answered with a temporary error; the same call may be repeated. */
export class PspTransientError extends Error {
  override name = 'PspTransientError';
}

/** The request itself is wrong (unknown payment, amount over what is capturable...); repeating cannot help. */
export class PspInvalidRequestError extends Error {
  override name = 'PspInvalidRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const FINAL_PSP_ERRORS = ['PspInvalidRequestError'];
