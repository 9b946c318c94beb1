import { continueAsNew, defineSignal, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { DeliveryGroup, WebhookActivities } from '../activities/webhooks';
import { DELIVERIES_RECORDED_SIGNAL, type WebhookDeliveryPolicy } from '../domain/webhookEndpoint';

/** New deliveries of this workflow's group were recorded (sent by the endpoint's poll, with signalWithStart). */
export const deliveriesRecordedSignal = defineSignal(DELIVERIES_RECORDED_SIGNAL);

// Reading the database and recording an attempt retry until done; a receiver's refusal is not an activity
// failure but an answer (see attemptWebhookDelivery), so these retries are Settle's own trouble only.
const UNTIL_DONE = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' };

const { nextWebhookDelivery } = proxyActivities<WebhookActivities>({ startToCloseTimeout: '30s', retry: UNTIL_DONE });

/** Deliveries per run before the workflow continues as new, to bound its history. */
const DELIVERIES_PER_RUN = 200;

/**
 * `webhook-delivery-<endpointId>-<group>`: sends one group's deliveries (one checkout's events, or those of no
 * checkout) one by one, in the feed's order, each until the receiver answers 2xx or its day of retries is
 * over; then the next. Groups run side by side. Ends when the group has nothing left to send; a new delivery
 * starts it again.
 */
export async function webhookDeliveryWorkflow(input: DeliveryGroup): Promise<void> {
  let recorded = 0;
  setHandler(deliveriesRecordedSignal, () => {
    recorded += 1;
  });
  const { attemptWebhookDelivery } = proxyActivities<WebhookActivities>({
    startToCloseTimeout: input.policy.attemptTimeoutMs + 30_000,
    retry: UNTIL_DONE,
  });
  for (let sent = 0; sent < DELIVERIES_PER_RUN && !workflowInfo().continueAsNewSuggested; ) {
    const seen = recorded;
    const deliveryId = await nextWebhookDelivery(input.endpointId, input.group);
    if (deliveryId === null) {
      // Done, unless a delivery was recorded after the read: then read again.
      if (recorded === seen) return;
      continue;
    }
    const giveUpAt = Date.now() + input.policy.retryForMs;
    for (let wait = input.policy.firstRetryMs; ; wait = nextWait(wait, input.policy)) {
      const retryInMs = Date.now() + wait <= giveUpAt ? wait : null;
      const status = await attemptWebhookDelivery({ deliveryId, retryInMs, timeoutMs: input.policy.attemptTimeoutMs });
      if (status !== 'pending') break;
      await sleep(wait);
    }
    sent += 1;
  }
  // Signals that arrived meanwhile need no carrying over: the next run reads what is pending.
  await continueAsNew<typeof webhookDeliveryWorkflow>(input);
}

function nextWait(wait: number, policy: WebhookDeliveryPolicy): number {
  return Math.min(wait * 2, policy.longestRetryMs);
}
