import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
  ActivityFailure,
  TemporalFailure,
} from '@temporalio/workflow';
import type { ReleaseOutcome } from '../activities';
import { CAPTURE_NOT_BOOKED_ERROR } from '../domain/attention';
import { pendingPaymentOrderView, type PaymentOrderInput, type PaymentOrderView } from '../domain/checkout';
import { failureFrom, failureReason, type Failure } from '../domain/failures';
import { formatMoney } from '../domain/money';
import { beforeDeadline, untilDone } from './activityOptions';
import {
  authorizationReportSignal,
  captureSignal,
  paymentOrderStatusQuery,
  pspEventSignal,
  releaseSignal,
  type AuthorizationReport,
} from './definitions';

const PSP_UNAVAILABLE: Failure = { code: 'psp_unavailable', message: 'the PSP did not answer before the deadline' };
const NOT_COMPLETED: Failure = { code: 'payment_not_completed', message: 'the payment waited on the buyer or the bank for too long' };
const RELEASED: Failure = { code: 'released', message: 'the hold was released on request' };
const CHECKOUT_CLOSED: Failure = { code: 'checkout_closed', message: 'the checkout ended without deciding this order' };
/** A payment waiting on the buyer or the bank is asked after again after these waits, unless a webhook comes first. */
const FIRST_RECHECK_MS = 5_000;
const LONGEST_RECHECK_MS = 10 * 60_000;
const GIVE_UP_AFTER_MS = 24 * 60 * 60_000;
/** patched() id: the capture is booked by the activity that makes it. */
const CAPTURE_AND_BOOK = 'capture-and-book';
/** patched() id: a capture the PSP made and the books refused is recorded as such. */
const CAPTURE_NOT_BOOKED = 'capture-not-booked';

/**
 * One seller's share of a checkout. Phase one: authorize (a hold, no money moves) and report to the
 * checkout. Phase two, on the checkout's word: capture and book it (wallet and ledger), or release the hold.
 * A release may come at any moment, even while the authorization is in flight; no hold is ever left behind
 * unless the PSP refuses to release it, and then the order says so. Whatever happens, the workflow ends with
 * the order's outcome, never a failure: its checkout acts on every order's outcome.
 */
export async function paymentOrderWorkflow(order: PaymentOrderInput): Promise<PaymentOrderView> {
  const view: PaymentOrderView = pendingPaymentOrderView(order);
  setHandler(paymentOrderStatusQuery, () => view);

  // The checkout's decision. A release wins over a capture that has not begun; a capture is only taken from
  // the checkout and once the order is authorized, so a stray or early capture cannot override the checkout.
  let decision: 'capture' | Failure | undefined;
  let captureStarted = false;
  const releaseRequested = (failure: unknown) => {
    // From the checkout, or from a shell (checked: it is kept with the order).
    if (!captureStarted && typeof decision !== 'object') decision = failureFrom(failure, RELEASED);
  };
  setHandler(captureSignal, (request) => {
    // An order started by a checkout that does not name itself (code from before it did, still running
    // during a rolling deploy) takes the capture as it always did.
    const fromCheckout = !order.captureFromCheckoutOnly || request?.checkoutRunId === workflowInfo().parent?.runId;
    if (view.status === 'AUTHORIZED' && fromCheckout) decision ??= 'capture';
  });
  setHandler(releaseSignal, releaseRequested);
  // The checkout closing (Temporal's parent-close policy REQUEST_CANCEL) is a release of whatever is undecided.
  CancellationScope.current().cancelRequested.catch(() => releaseRequested(CHECKOUT_CLOSED));
  const release = (): Failure | undefined => (typeof decision === 'object' ? decision : undefined);
  let pspEvents = 0;
  setHandler(pspEventSignal, () => {
    pspEvents += 1;
  });

  let reported = false;
  /** The PSP confirmed the capture: from here, a failure is a capture the books do not have yet. */
  let capturedAtPsp = false;
  const report = async (outcome: AuthorizationReport) => {
    reported = true;
    // A checkout that has already closed waits for nothing: its close released this order.
    await reportToCheckout(outcome).catch(() => undefined);
  };

  /** Authorizes; a payment waiting on the buyer or bank is asked after on each webhook, or on a timer. */
  const authorize = async () => {
    const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
    // Counted before each attempt: a webhook that arrives while an attempt is in flight is not lost.
    let seen = pspEvents;
    let result = await beforeDeadline.authorizePaymentOrder(order);
    for (let wait = FIRST_RECHECK_MS; result.outcome === 'pending'; wait = Math.min(wait * 2, LONGEST_RECHECK_MS)) {
      view.pspReference = result.pspReference;
      if (Date.now() > giveUpAt) throw ApplicationFailure.create({ type: 'PaymentNotCompleted', message: NOT_COMPLETED.message });
      await condition(() => pspEvents > seen, wait);
      seen = pspEvents;
      result = await beforeDeadline.authorizePaymentOrder(order);
    }
    return result;
  };

  const fail = (status: PaymentOrderView['status'], failure: Failure) => {
    view.status = status;
    view.failureCode = failure.code;
    view.failureMessage = failure.message;
    view.failureReason = failureReason(failure.code);
  };

  /** What a release (or a refused one) leaves: the status, and the capture if one landed after all. */
  const released = (outcome: ReleaseOutcome, failure: Failure) => {
    if (outcome.outcome === 'released') fail(outcome.status, failure);
    else if (outcome.outcome === 'captured') {
      view.status = 'SUCCEEDED';
      view.feeAmount = outcome.fee;
    } else fail('AUTHORIZED', failure); // the order's record says the release was refused; its checkout, why it was asked
  };

  const run = async (): Promise<PaymentOrderView> => {
    const authorizing = new CancellationScope();
    void condition(() => release() !== undefined).then(() => authorizing.cancel());
    let authorization;
    try {
      authorization = await authorizing.run(authorize);
    } catch (error) {
      const gaveUp = error instanceof ApplicationFailure && error.type === 'PaymentNotCompleted';
      if (!isCancellation(error) && !(error instanceof ActivityFailure) && !gaveUp) throw error;
      // Released while authorizing, the PSP stayed unreachable, or the buyer never finished: undo whatever was done.
      const failure = release() ?? (gaveUp ? NOT_COMPLETED : PSP_UNAVAILABLE);
      const resolution = await untilDone.releaseUnconfirmedAuthorization(order, failure);
      view.pspReference = resolution.pspReference;
      fail(resolution.status, resolution.status === 'AUTHORIZED' ? { code: 'release_refused', message: failure.message } : failure);
      await report({ paymentOrderId: order.paymentOrderId, outcome: 'failed', pspReference: null, failureCode: failure.code });
      return view;
    }

    view.pspReference = authorization.pspReference;
    if (authorization.outcome === 'failed') {
      fail('FAILED', authorization.failure);
      await report({
        paymentOrderId: order.paymentOrderId,
        outcome: 'failed',
        pspReference: authorization.pspReference,
        failureCode: authorization.failure.code,
      });
      return view;
    }
    const pspReference = authorization.pspReference;
    view.status = 'AUTHORIZED';
    await report({ paymentOrderId: order.paymentOrderId, outcome: 'authorized', pspReference });

    await condition(() => decision !== undefined);
    const releasing = release();
    if (releasing) {
      released(await untilDone.releasePaymentOrder(order, pspReference, releasing), releasing);
      return view;
    }

    captureStarted = true;
    // Capture and booking in one step (three history events and a workflow task fewer); orders that began
    // before keep their two steps.
    const bookedWithCapture = patched(CAPTURE_AND_BOOK);
    let capture;
    let booked = false;
    try {
      capture = await (bookedWithCapture ? beforeDeadline.captureAndBookPaymentOrder : beforeDeadline.capturePaymentOrder)(order, pspReference);
      booked = bookedWithCapture;
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      capture = await untilDone.resolveUnconfirmedCapture(order, pspReference);
    }
    if (capture.outcome === 'failed') {
      released(await untilDone.releasePaymentOrder(order, pspReference, capture.failure, 'FAILED'), capture.failure);
      return view;
    }
    capturedAtPsp = true;
    if (!booked) await untilDone.recordCapture(order, capture.fee);
    view.status = 'SUCCEEDED';
    view.feeAmount = capture.fee;
    return view;
  };

  // Money-moving steps are never interrupted; a release is a decision the workflow acts on.
  return CancellationScope.nonCancellable(async () => {
    try {
      return await run();
    } catch (error) {
      // A step failed for good (the database refused a write, say). The order ends as the books last had it,
      // with the reason; its checkout records what the PSP still holds. A defect in this code is not caught
      // here: it fails the workflow task, which Temporal retries until a fixed worker runs it.
      if (!(error instanceof TemporalFailure)) throw error;
      const books = await untilDone.paymentOrderState(order.paymentOrderId).catch(() => undefined);
      Object.assign(view, books ?? {});
      // The money is taken, not held: the order and its checkout's attention must say so, not "hold". The
      // capture is this workflow's own, or one a release found at the PSP and could not book.
      const foundCaptured = isCaptureNotBooked(error);
      const unbooked = (capturedAtPsp || foundCaptured) && view.status === 'AUTHORIZED' && patched(CAPTURE_NOT_BOOKED);
      const failure: Failure = !unbooked
        ? { code: 'internal_error', message: error.message }
        : foundCaptured
          ? { code: 'capture_not_booked', message: error.cause!.message }
          : { code: 'capture_not_booked', message: `the PSP captured ${formatMoney(order)} but the books refused it: ${error.message}` };
      if (unbooked) await untilDone.recordCaptureNotBooked(order, failure).catch(() => undefined);
      fail(view.status, failure);
      if (!reported) await report({ paymentOrderId: order.paymentOrderId, outcome: 'failed', pspReference: view.pspReference, failureCode: failure.code });
      return view;
    }
  });
}

/**
 * Whether a step failed as a release that found the order captured at the PSP and could not book it: the
 * activity recorded `capture_not_booked` on the order, so its caller has its answer in the books.
 */
export function isCaptureNotBooked(error: unknown): error is ActivityFailure & { cause: ApplicationFailure } {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && error.cause.type === CAPTURE_NOT_BOOKED_ERROR;
}

async function reportToCheckout(report: AuthorizationReport): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) throw new Error('a payment order runs as a child of its checkout');
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(authorizationReportSignal, report);
}
