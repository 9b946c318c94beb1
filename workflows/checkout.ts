import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  patched,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import {
  pendingPaymentOrderView,
  type CheckoutInput,
  type CheckoutView,
  type PaymentOrderInput,
  type PaymentOrderView,
} from '../domain/checkout';
import { failureReason, printableText, type Failure } from '../domain/failures';
import { compensationFor } from '../domain/attention';
import { compensationWorkflowId, paymentOrderWorkflowId } from '../domain/ids';
import type { RefundReason } from '../domain/refund';
import { isTerminalCheckoutStatus, type CheckoutStatus } from '../domain/status';
import { isRefusedForGood, localDatabase, untilDone } from './activityOptions';
import {
  authorizationReportSignal,
  cancelSignal,
  cancelUpdate,
  captureSignal,
  captureUpdate,
  checkoutStatusQuery,
  CheckoutStatusAttribute,
  NOT_CANCELABLE,
  NOT_CAPTURABLE,
  releaseSignal,
  type AuthorizationReport,
  type CancelRequest,
} from './definitions';
import { compensationWorkflow } from './compensation';
import { isCaptureNotBooked, paymentOrderWorkflow } from './paymentOrder';
import { refundPaymentOrder } from './refund';

type Child = ChildWorkflowHandle<typeof paymentOrderWorkflow>;

const SIBLING_FAILED = (code: string): Failure => ({ code: 'sibling_failed', message: `another order of the checkout failed: ${code}` });
const ORDER_ABANDONED: Failure = { code: 'order_abandoned', message: "the payment order's workflow ended without an outcome" };
/** Longer than a PSP activity's start-to-close: no attempt of an ended order can still act after it. */
const ABANDONED_ATTEMPT_GRACE_MS = 35_000;
/** patched() id: the checkout's own database writes that no client acts upon run as local activities. */
const LOCAL_DATABASE_STEPS = 'checkout-local-database-steps';
/** patched() id: an abandoned order whose release found a capture the books refused is settled as such. */
const ABANDONED_CAPTURE_NOT_BOOKED = 'abandoned-capture-not-booked';
/** patched() id: a release of an abandoned order that the books refuse for good ends on the books, as above. */
const ABANDONED_RELEASE_REFUSED = 'abandoned-release-refused-for-good';
/** patched() id: a capture a release found and booked is refunded by a checkout that gives the money back. */
const REFUND_FOUND_CAPTURES = 'refund-found-captures';
const AUTHORIZATION_EXPIRED: Failure = { code: 'authorization_expired', message: failureReason('authorization_expired') };
const orderFailed = (paymentOrderId: string, what: string, code: string): Failure => ({
  code,
  message: `Payment order ${paymentOrderId} ${what}: ${failureReason(code)}`,
});

/**
 * A buyer's checkout across several sellers, as a saga. Records the checkout, starts one payment order per
 * seller in parallel, and captures only once every one has authorized (or, with allowPartial, those that
 * did). Whatever goes wrong, the undo is as cheap as the stage allows: orders not yet captured release their
 * holds (no money moves); captured ones are refunded, wallet debited back, ledger reversed.
 * A cancel (API, `cancel` signal, or Temporal's own cancellation) can arrive at any moment until the
 * outcome is settled.
 */
export async function checkoutWorkflow(input: CheckoutInput): Promise<CheckoutView> {
  const view: CheckoutView = {
    checkoutId: input.checkoutId,
    status: 'PENDING',
    customerId: input.customerId,
    currency: input.currency,
    totalAmount: input.orders.reduce((sum, order) => sum + order.amount, 0),
    capture: input.capture,
    allowPartial: input.allowPartial,
    failureCode: null,
    failureReason: null,
    attention: null,
    orders: input.orders.map(pendingPaymentOrderView),
  };
  const orderView = (paymentOrderId: string) => view.orders.find((order) => order.orderId === paymentOrderId)!;
  setHandler(checkoutStatusQuery, () => view);
  // A local activity's write is seen (database, event feed, API) before the workflow task that decided it is
  // recorded; should that task be lost with its worker, the decision is taken again, hearing signals that
  // came after the write. So only writes that no client acts upon may be local: the checkout's record
  // (PROCESSING) and CAPTURING. REQUIRES_CAPTURE (clients capture) and the outcome (clients act on it) are
  // written by activities, after the decision is in the history. Checkouts that began before keep all four
  // as activities.
  const quiet = patched(LOCAL_DATABASE_STEPS) ? localDatabase : untilDone;

  /** Once the outcome is decided, a cancel or capture comes too late. */
  let settled = false;
  let cancelRequest: Failure | undefined;
  let captureRequested = false;
  const requestCancel = (reason?: unknown) => {
    // Once the outcome is decided a cancel comes too late (the update says so; a signal is ignored).
    if (settled && !cancelRequest) return;
    cancelRequest ??= { code: 'checkout_canceled', message: `Canceled: ${printableReason(reason) || 'no reason given'}` };
  };
  setHandler(cancelSignal, (request) => requestCancel(request));
  setHandler(
    cancelUpdate,
    (request) => {
      requestCancel(request);
      return view;
    },
    {
      validator: (_request: CancelRequest) => {
        // Cancelling a checkout that is already canceling is cancelling it once: accepted, no new effect.
        if (isTerminalCheckoutStatus(view.status) || (settled && !cancelRequest)) {
          throw ApplicationFailure.create({ type: NOT_CANCELABLE, message: `the checkout is ${view.status} and can no longer be canceled` });
        }
      },
    },
  );
  /** The rule for a capture, for the API's update and the shell's signal alike. */
  const captureRefusal = (): string | undefined =>
    view.status !== 'REQUIRES_CAPTURE' || cancelRequest || settled
      ? `the checkout is ${view.status}${cancelRequest ? ' (canceling)' : settled ? ' (its authorization window ran out)' : ''}; only a manual-capture checkout waiting in REQUIRES_CAPTURE can be captured`
      : undefined;
  setHandler(captureSignal, () => {
    // A signal cannot be refused to its sender; one that breaks the rule is ignored (the update says why).
    if (!captureRefusal()) captureRequested = true;
  });
  setHandler(
    captureUpdate,
    () => {
      captureRequested = true;
      return view;
    },
    {
      validator: () => {
        const refusal = captureRefusal();
        if (refusal) throw ApplicationFailure.create({ type: NOT_CAPTURABLE, message: refusal });
      },
    },
  );
  CancellationScope.current().cancelRequested.catch(() => requestCancel('the checkout workflow was cancelled'));

  const reports = new Map<string, AuthorizationReport>();
  setHandler(authorizationReportSignal, (report) => {
    // Its own orders report once each; anything else (a signal from a shell) is not a report of this checkout.
    const order = view.orders.find((candidate) => candidate.orderId === report?.paymentOrderId);
    if (!order || (report.outcome !== 'authorized' && report.outcome !== 'failed')) return;
    reports.set(report.paymentOrderId, report);
    order.status = report.outcome === 'authorized' ? 'AUTHORIZED' : 'FAILED';
    order.pspReference = report.pspReference;
    order.failureCode = report.failureCode ?? null;
  });

  const setStatus = async (status: CheckoutStatus) => {
    // The view moves first: once the database (and so the event feed) says REQUIRES_CAPTURE, a client acting
    // on it must find the checkout already taking its capture.
    view.status = status;
    await (status === 'CAPTURING' ? quiet : untilDone).setCheckoutStatus(input.checkoutId, status);
    upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: status }]);
  };
  const finish = async (status: CheckoutStatus, failure?: Failure): Promise<CheckoutView> => {
    settled = true;
    const final = await untilDone.completeCheckout(input.checkoutId, status, failure);
    Object.assign(view, final);
    upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: status }]);
    if (view.attention) {
      // The PSP refused a void or a refund: the record says what is still held, and this keeps trying.
      await startChild(compensationWorkflow, {
        workflowId: compensationWorkflowId(input.checkoutId),
        args: [compensationFor({ checkoutId: input.checkoutId, status, failure: failure ?? null }, input.orders)],
        parentClosePolicy: 'ABANDON',
      }).catch((error: unknown) => {
        // Already retrying (this checkout's outcome recorded once before, by an earlier run): leave it be.
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      });
    }
    return view;
  };

  // Every step from here on runs to its end; a cancel is a decision taken at the next step.
  return CancellationScope.nonCancellable(async () => {
    await quiet.recordCheckout(input);
    view.status = 'PROCESSING';
    upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: 'PROCESSING' }]);
    if (cancelRequest) {
      await untilDone.cancelPaymentOrders(input.orders.map((order) => order.paymentOrderId), cancelRequest);
      return finish('CANCELED', cancelRequest);
    }

    const children: Child[] = await Promise.all(
      input.orders.map((order) =>
        startChild(paymentOrderWorkflow, {
          workflowId: paymentOrderWorkflowId(order.paymentOrderId),
          args: [{ ...order, captureFromCheckoutOnly: true }],
          // Should this checkout end without deciding (terminated by an operator), each order is asked to
          // release its hold; a capture already under way still finishes and is booked.
          parentClosePolicy: 'REQUEST_CANCEL',
        }),
      ),
    );
    /** Tells every order still holding (or still seeking) an authorization to let it go. */
    const releaseAll = (failure: Failure) =>
      Promise.all(
        children
          .filter((_, index) => reports.get(input.orders[index]!.paymentOrderId)?.outcome !== 'failed')
          // An order that finished in the meantime holds nothing: the signal finding no workflow is fine.
          .map((child) => child.signal(releaseSignal, failure).catch(() => undefined)),
      );
    /**
     * Every order's outcome; the live view shows each as soon as it is known. A payment order always ends
     * with its outcome; should its workflow fail or be terminated all the same, the books say where it stands,
     * and an order that never reported counts as not authorized.
     */
    const outcomes = children.map((child, index) => {
      const paymentOrderId = input.orders[index]!.paymentOrderId;
      return child.result().then(
        (order) => order,
        () => settleAbandonedOrder(input.orders[index]!),
      ).then((order) => {
        Object.assign(orderView(paymentOrderId), order);
        if (!reports.has(paymentOrderId)) {
          reports.set(paymentOrderId, { paymentOrderId, outcome: 'failed', pspReference: order.pspReference, failureCode: order.failureCode ?? 'internal_error' });
        }
        return order;
      });
    });
    const results = (): Promise<PaymentOrderView[]> => Promise.all(outcomes);
    /**
     * A release may find its order captured after all (a capture that landed late, or one made from the PSP's
     * dashboard) and book it. An outcome that gives the money back refunds such a capture now, as it does one
     * of its own, rather than leaving it to the compensation's first retry, an hour on, as if refused.
     */
    const giveBackFoundCaptures = async (orders: PaymentOrderView[], reason: RefundReason) => {
      const found = orders.filter((order) => order.status === 'SUCCEEDED');
      if (found.length === 0 || !patched(REFUND_FOUND_CAPTURES)) return;
      await Promise.all(found.map((order) => refundPaymentOrder(order.orderId, reason)));
    };

    // Phase one: every order authorizes, unless the checkout is canceled first.
    await condition(() => reports.size === children.length || cancelRequest !== undefined);
    if (cancelRequest) {
      await releaseAll(cancelRequest);
      await giveBackFoundCaptures(await results(), 'checkout_canceled');
      return finish('CANCELED', cancelRequest);
    }
    const declined = [...reports.values()].filter((report) => report.outcome === 'failed');
    if (declined.length === children.length || (declined.length > 0 && !input.allowPartial)) {
      settled = true;
      const failure = orderFailed(declined[0]!.paymentOrderId, 'was declined', declined[0]!.failureCode ?? 'card_declined');
      await releaseAll(SIBLING_FAILED(failure.code));
      await giveBackFoundCaptures(await results(), 'sibling_failed');
      return finish('FAILED', failure);
    }

    if (input.capture === 'manual') {
      await setStatus('REQUIRES_CAPTURE');
      const decided = await condition(() => captureRequested || cancelRequest !== undefined, input.authorizationWindowMs);
      if (!decided || cancelRequest) {
        settled = true; // from here a capture is refused: the holds are being released
        const failure = cancelRequest ?? AUTHORIZATION_EXPIRED;
        await releaseAll(failure);
        await giveBackFoundCaptures(await results(), 'checkout_canceled');
        return finish('CANCELED', failure);
      }
    }

    // Phase two: capture every authorized order.
    await setStatus('CAPTURING');
    await Promise.all(
      children
        .filter((_, index) => reports.get(input.orders[index]!.paymentOrderId)?.outcome === 'authorized')
        // An order whose workflow has ended (released from a shell, terminated) cannot be told: its outcome,
        // not captured, counts as a failed capture below.
        .map((child) => child.signal(captureSignal, { checkoutRunId: workflowInfo().runId }).catch(() => undefined)),
    );
    const orders = await results();
    const captured = orders.filter((order) => order.status === 'SUCCEEDED');
    const captureFailed = orders.filter((order) => order.status !== 'SUCCEEDED' && reports.get(order.orderId)?.outcome === 'authorized');

    const firstCaptureFailure = captureFailed[0] && orderFailed(captureFailed[0].orderId, 'could not be captured', captureFailed[0].failureCode ?? 'capture_failed');
    if (cancelRequest || (firstCaptureFailure && !input.allowPartial) || captured.length === 0) {
      settled = true;
      const reason: RefundReason = cancelRequest ? 'checkout_canceled' : 'sibling_failed';
      await Promise.all(captured.map((order) => refundPaymentOrder(order.orderId, reason)));
      return finish(cancelRequest ? 'CANCELED' : 'FAILED', cancelRequest ?? firstCaptureFailure);
    }
    return captured.length === orders.length ? finish('SUCCEEDED') : finish('PARTIALLY_SUCCEEDED');
  });
}

/**
 * A payment order whose workflow ended without an outcome (terminated, say) is settled by its checkout:
 * once any PSP attempt it left running has reached its deadline, whatever the PSP holds for it is released
 * (or, if it was captured after all, booked), and the order is answered as the books then have it.
 */
async function settleAbandonedOrder(order: PaymentOrderInput): Promise<PaymentOrderView> {
  await sleep(ABANDONED_ATTEMPT_GRACE_MS);
  const state = await untilDone.paymentOrderState(order.paymentOrderId);
  try {
    if (state.status === 'PENDING') await untilDone.releaseUnconfirmedAuthorization(order, ORDER_ABANDONED);
    if (state.status === 'AUTHORIZED' && state.pspReference) await untilDone.releasePaymentOrder(order, state.pspReference, ORDER_ABANDONED);
  } catch (error) {
    // The release found the order captured at the PSP and the books refused the capture: the order now says
    // so (capture_not_booked), and the checkout ends on it, naming the money, instead of failing unfinished.
    // Any other write the books refuse for good, on an order they have AUTHORIZED, ends it the same way: their
    // record says the hold, and the compensation tries again. On a PENDING order it still fails the workflow:
    // the books' record of such an order cannot say what the PSP holds.
    const answered =
      (isCaptureNotBooked(error) && patched(ABANDONED_CAPTURE_NOT_BOOKED)) ||
      (state.status === 'AUTHORIZED' && isRefusedForGood(error) && patched(ABANDONED_RELEASE_REFUSED));
    if (!answered) throw error;
  }
  return untilDone.paymentOrderState(order.paymentOrderId);
}

/**
 * A cancel reason as it may be kept: text only. The API validates its input; the `cancel` signal comes from
 * a shell unchecked, and a NUL byte or a lone surrogate would be refused by every write that carries it.
 */
function printableReason(reason: unknown): string {
  return printableText(typeof reason === 'object' && reason !== null ? (reason as { reason?: unknown }).reason : reason);
}
