import { condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import { pendingPaymentOrderView, type PaymentOrderInput, type PaymentOrderView } from '../domain/checkout';
import { books, psp } from './activityOptions';
import {
  authorizationReportSignal,
  captureSignal,
  paymentOrderStatusQuery,
  voidSignal,
  type AuthorizationReport,
} from './definitions';

/**
 * One seller's share of a checkout. Phase one: authorize (a hold, no money moves) and report to the
 * checkout. Phase two, on the checkout's word: capture and book it (wallet and ledger), or void the hold.
 */
export async function paymentOrderWorkflow(order: PaymentOrderInput): Promise<PaymentOrderView> {
  const view: PaymentOrderView = pendingPaymentOrderView(order);
  setHandler(paymentOrderStatusQuery, () => view);

  let decision: 'capture' | 'void' | undefined;
  setHandler(captureSignal, () => {
    decision ??= 'capture';
  });
  setHandler(voidSignal, () => {
    decision ??= 'void';
  });

  const authorization = await psp.authorizePaymentOrder(order);
  view.pspReference = authorization.pspReference;
  view.status = authorization.outcome === 'authorized' ? 'AUTHORIZED' : 'FAILED';
  await reportToCheckout({
    paymentOrderId: order.paymentOrderId,
    outcome: authorization.outcome,
    pspReference: authorization.pspReference,
    ...(authorization.outcome === 'failed' ? { failureCode: authorization.code } : {}),
  });
  if (authorization.outcome === 'failed') return view;

  await condition(() => decision !== undefined);
  if (decision === 'void') {
    await psp.voidPaymentOrder(order, authorization.pspReference);
    view.status = 'VOIDED';
    return view;
  }
  await psp.capturePaymentOrder(order, authorization.pspReference);
  await books.recordCapture(order);
  view.status = 'SUCCEEDED';
  return view;
}

async function reportToCheckout(report: AuthorizationReport): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) throw new Error('a payment order runs as a child of its checkout');
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(authorizationReportSignal, report);
}
