import {
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
  releaseSignal,
  type AuthorizationReport,
} from './definitions';

const PSP_UNAVAILABLE: Failure = { code: 'psp_unavailable', message: 'the PSP did not answer before the deadline' };

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
      authorization = await authorizing.run(() => beforeDeadline.authorizePaymentOrder(order));
    } catch (error) {
      if (!isCancellation(error) && !(error instanceof ActivityFailure)) throw error;
      // Released while authorizing, or the PSP stayed unreachable: whatever the lost attempts did, undo it.
      const failure = release() ?? PSP_UNAVAILABLE;
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
    await untilDone.recordCapture(order);
    view.status = 'SUCCEEDED';
    return view;
  });
}

async function reportToCheckout(report: AuthorizationReport): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) throw new Error('a payment order runs as a child of its checkout');
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(authorizationReportSignal, report);
}
