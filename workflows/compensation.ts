import { condition, patched, setHandler, uuid4 } from '@temporalio/workflow';
import type { CompensationInput } from '../domain/attention';
import type { CheckoutView, PaymentOrderInput } from '../domain/checkout';
import { REFUND_ID_PREFIX } from '../domain/refund';
import { isRefusedForGood, untilDone } from './activityOptions';
import { retryCompensationSignal } from './definitions';
import { isCaptureNotBooked } from './paymentOrder';
import { refundPaymentOrder } from './refund';

/** Settle tries again on its own after these waits (doubling), and stops trying after the last. */
const FIRST_RETRY_MS = 60 * 60_000;
const LONGEST_RETRY_MS = 24 * 60 * 60_000;
const GIVE_UP_AFTER_MS = 30 * 24 * 60 * 60_000;
/** patched() id: a release that finds a capture the books still refuse ends this round, not the workflow. */
const CAPTURE_NOT_BOOKED_RETRIED = 'compensation-capture-not-booked';
/** patched() id: a release whose write the books refuse for good ends this round too. */
const RELEASE_REFUSED_RETRIED = 'compensation-release-refused-for-good';

/**
 * A finished checkout whose compensation the PSP refused (a void or a refund) still holds the buyer's money;
 * its record says how much and why. This workflow, `compensation-<checkoutId>`, started by the checkout,
 * tries again: on its own with growing waits, and at once on the `retryCompensation` signal. It ends when
 * nothing is held any more, or after 30 days, leaving the record for a person; the API's
 * POST /v1/checkouts/:id/retry-compensation signals it, starting it again if it is no longer running.
 */
export async function compensationWorkflow(input: CompensationInput): Promise<CheckoutView> {
  let requested = 0;
  setHandler(retryCompensationSignal, () => {
    requested += 1;
  });
  const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
  let view: CheckoutView | undefined;
  for (let wait = FIRST_RETRY_MS, handled = 0; ; wait = Math.min(wait * 2, LONGEST_RETRY_MS)) {
    await condition(() => requested > handled, Math.max(1, Math.min(wait, giveUpAt - Date.now())));
    handled = requested;
    await Promise.all(input.orders.map((order) => compensateOrder(order, input)));
    view = await untilDone.refreshAttention(input.checkoutId);
    if (!view.attention || Date.now() >= giveUpAt) return view;
  }
}

/** Releases the order's hold if it still has one, then refunds what it kept if the checkout gave it back. */
async function compensateOrder(order: PaymentOrderInput, input: CompensationInput): Promise<void> {
  let state = await untilDone.paymentOrderState(order.paymentOrderId);
  if (state.status === 'AUTHORIZED' && state.pspReference) {
    try {
      await untilDone.releasePaymentOrder(order, state.pspReference, input.failure, 'VOIDED', uuid4());
    } catch (error) {
      // The PSP captured the order and the books still refuse the capture: the order says so
      // (capture_not_booked), and the next round tries again; the other orders' rounds go on. So does any
      // other write of the release that the books refuse for good.
      const answered = (isCaptureNotBooked(error) && patched(CAPTURE_NOT_BOOKED_RETRIED)) || (isRefusedForGood(error) && patched(RELEASE_REFUSED_RETRIED));
      if (!answered) throw error;
      return;
    }
    state = await untilDone.paymentOrderState(order.paymentOrderId);
  }
  if (input.refundCaptured && (state.status === 'SUCCEEDED' || state.status === 'PARTIALLY_REFUNDED')) {
    await refundPaymentOrder(order.paymentOrderId, input.reason, REFUND_ID_PREFIX + uuid4().replace(/-/g, ''));
  }
}
