import { condition, setHandler, startChild, upsertSearchAttributes, type ChildWorkflowHandle } from '@temporalio/workflow';
import { pendingPaymentOrderView, type CheckoutInput, type CheckoutView } from '../domain/checkout';
import { paymentOrderWorkflowId } from '../domain/ids';
import type { CheckoutStatus } from '../domain/status';
import { books } from './activityOptions';
import {
  authorizationReportSignal,
  captureSignal,
  checkoutStatusQuery,
  CheckoutStatusAttribute,
  voidSignal,
  type AuthorizationReport,
} from './definitions';
import { paymentOrderWorkflow } from './paymentOrder';

/**
 * A buyer's checkout across several sellers. Records the checkout, starts one payment order per seller in
 * parallel, and once every one has authorized tells each to capture. If any fails to authorize, the others
 * release their holds and the checkout fails: a decline costs a void, never a refund.
 */
export async function checkoutWorkflow(input: CheckoutInput): Promise<CheckoutView> {
  const view: CheckoutView = {
    checkoutId: input.checkoutId,
    status: 'PENDING',
    customerId: input.customerId,
    currency: input.currency,
    totalAmount: input.orders.reduce((sum, order) => sum + order.amount, 0),
    orders: input.orders.map(pendingPaymentOrderView),
  };
  setHandler(checkoutStatusQuery, () => view);

  const reports = new Map<string, AuthorizationReport>();
  setHandler(authorizationReportSignal, (report) => {
    reports.set(report.paymentOrderId, report);
    const order = view.orders.find((o) => o.orderId === report.paymentOrderId);
    if (order) {
      order.status = report.outcome === 'authorized' ? 'AUTHORIZED' : 'FAILED';
      order.pspReference = report.pspReference;
    }
  });

  const setStatus = async (status: CheckoutStatus, failureReason: string | null = null) => {
    await books.setCheckoutStatus(input.checkoutId, status, failureReason);
    view.status = status;
    upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: status }]);
  };

  await books.recordCheckout(input);
  view.status = 'PROCESSING';
  upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: 'PROCESSING' }]);

  const children: ChildWorkflowHandle<typeof paymentOrderWorkflow>[] = await Promise.all(
    input.orders.map((order) =>
      startChild(paymentOrderWorkflow, { workflowId: paymentOrderWorkflowId(order.paymentOrderId), args: [order] }),
    ),
  );

  await condition(() => reports.size === input.orders.length);
  const failed = [...reports.values()].filter((report) => report.outcome === 'failed');
  if (failed.length === 0) {
    await setStatus('CAPTURING');
    await Promise.all(children.map((child) => child.signal(captureSignal)));
  } else {
    await Promise.all(
      children
        .filter((_, index) => reports.get(input.orders[index]!.paymentOrderId)?.outcome === 'authorized')
        .map((child) => child.signal(voidSignal)),
    );
  }

  const results = await Promise.all(children.map((child) => child.result()));
  view.orders = results;
  if (failed.length === 0 && results.every((order) => order.status === 'SUCCEEDED')) {
    await setStatus('SUCCEEDED');
  } else {
    const reason = failed.map((report) => `payment order ${report.paymentOrderId} failed: ${report.failureCode}`).join('; ');
    await setStatus('FAILED', reason || 'a payment order did not succeed');
  }
  return view;
}
