import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { WebhookActivities, WebhookPoll } from '../activities/webhooks';

const { pollWebhookEvents } = proxyActivities<WebhookActivities>({
  // A poll answers within about 20 s; it heartbeats, so a poll on a worker that died is retried soon.
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Polls per run before the workflow continues as new: an idle endpoint polls three times a minute. */
const POLLS_PER_RUN = 500;

/**
 * `webhook-endpoint-<id>`, one per enabled endpoint: reads the outbox in commit order from its cursor, and hands
 * the events the endpoint takes to their groups' delivery workflows (webhookDeliveryWorkflow). Started by the
 * API when the endpoint is created; cancelled when it is disabled, and ends by itself if it finds the
 * endpoint disabled or gone.
 */
export async function webhookEndpointWorkflow(input: WebhookPoll): Promise<void> {
  let cursor = input.cursor;
  for (let polls = 0; polls < POLLS_PER_RUN && !workflowInfo().continueAsNewSuggested; polls++) {
    const result = await pollWebhookEvents({ ...input, cursor });
    if (result.endpoint !== 'enabled') return;
    cursor = result.cursor;
  }
  await continueAsNew<typeof webhookEndpointWorkflow>({ ...input, cursor });
}
