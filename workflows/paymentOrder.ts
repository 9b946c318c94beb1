import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  workflowInfo,
  ActivityFailure,
} from '@temporalio/workflow';
import { pendingPaymentOrderView, type PaymentOrderInput, type PaymentOrderView } from '../domain/checkout';
import { failureReason, type Failure } from '../domain/failures';
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
/** A payment waiting on the buyer or the bank is asked after again after these waits, unless a webhook comes first. */
const FIRST_RECHECK_MS = 5_000;
const LONGEST_RECHECK_MS = 10 * 60_000;
const GIVE_UP_AFTER_MS = 24 * 60 * 60_000;

/**
 * One seller's share of a checkout. Phase one: authorize (a hold, no money moves) and report to the
 * checkout. Phase two, on the checkout's word: capture and book it (wallet and ledger), or release the hold.
 * A release may come at any moment, even while the authorization is in flight; no hold is ever left behind.
 */
export async function paymentOrderWorkflow(order: PaymentOrderInput): Promise<PaymentOrderView> {
  const view: PaymentOrderView = pendingPaymentOrderView(order);
  setHandler(paymentOrderStatusQuery, () => view);

  let decision: 'capture' | Failure | undefined;
  setHandler(captureSignal, () => {
    decision ??= 'capture';
  });
  setHandler(releaseSignal, (failure) => {
    decision ??= failure;
  });
  const release = (): Failure | undefined => (typeof decision === 'object' ? decision : undefined);
  let pspEvents = 0;
  setHandler(pspEventSignal, () => {
    pspEvents += 1;
  });

  /** Authorizes; a payment waiting on the buyer or bank is asked after on each webhook, or on a timer. */
  const authorize = async () => {
    let result = await beforeDeadline.authorizePaymentOrder(order);
    const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
    for (let wait = FIRST_RECHECK_MS; result.outcome === 'pending'; wait = Math.min(wait * 2, LONGEST_RECHECK_MS)) {
      view.pspReference = result.pspReference;
      if (Date.now() > giveUpAt) throw ApplicationFailure.create({ type: 'PaymentNotCompleted', message: NOT_COMPLETED.message });
      const seen = pspEvents;
      await condition(() => pspEvents > seen, wait);
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

  // Money-moving steps are never interrupted; a release is a decision the workflow acts on.
  return CancellationScope.nonCancellable(async () => {
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
      fail(resolution.status, failure);
      await reportToCheckout({ paymentOrderId: order.paymentOrderId, outcome: 'failed', pspReference: null, failureCode: failure.code });
      return view;
    }

    view.pspReference = authorization.pspReference;
    if (authorization.outcome === 'failed') {
      fail('FAILED', authorization.failure);
      await reportToCheckout({
        paymentOrderId: order.paymentOrderId,
        outcome: 'failed',
        pspReference: authorization.pspReference,
        failureCode: authorization.failure.code,
      });
      return view;
    }
    const pspReference = authorization.pspReference;
    view.status = 'AUTHORIZED';
    await reportToCheckout({ paymentOrderId: order.paymentOrderId, outcome: 'authorized', pspReference });

    await condition(() => decision !== undefined);
    const released = release();
    if (released) {
      await untilDone.voidPaymentOrder(order, pspReference, released);
      fail('VOIDED', released);
      return view;
    }

    let capture;
    try {
      capture = await beforeDeadline.capturePaymentOrder(order, pspReference);
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      capture = await untilDone.resolveUnconfirmedCapture(order, pspReference);
    }
    if (capture.outcome === 'failed') {
      await untilDone.voidPaymentOrder(order, pspReference, capture.failure, 'FAILED');
      fail('FAILED', capture.failure);
      return view;
    }
    await untilDone.recordCapture(order, capture.fee);
    view.status = 'SUCCEEDED';
    return view;
  });
}

async function reportToCheckout(report: AuthorizationReport): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) throw new Error('a payment order runs as a child of its checkout');
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(authorizationReportSignal, report);
}
