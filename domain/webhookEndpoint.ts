import { CHECKOUT_STATUSES, PAYMENT_ORDER_STATUSES, REFUND_STATUSES } from './status';

/**
 * Webhook endpoints: where Settle sends the events of its outbox, and which. Workflow code imports this file:
 * nothing here may touch Node's built-ins.
 */

export const WEBHOOK_ENDPOINT_ID_PREFIX = 'we_';
export const WEBHOOK_DELIVERY_ID_PREFIX = 'whd_';

const ID_BODY = /^[0-9a-f]{32}$/;

export function isWebhookEndpointId(value: string): boolean {
  return value.startsWith(WEBHOOK_ENDPOINT_ID_PREFIX) && ID_BODY.test(value.slice(WEBHOOK_ENDPOINT_ID_PREFIX.length));
}

export function isWebhookDeliveryId(value: string): boolean {
  return value.startsWith(WEBHOOK_DELIVERY_ID_PREFIX) && ID_BODY.test(value.slice(WEBHOOK_DELIVERY_ID_PREFIX.length));
}

/** The workflow that reads the outbox for one endpoint and hands its events on. */
export function webhookEndpointWorkflowId(endpointId: string): string {
  return `webhook-endpoint-${endpointId}`;
}

/**
 * Events are delivered in order within a group: a checkout's events (and those of its orders and refunds)
 * form one; events of no checkout (reconciliation runs) form another.
 */
export const WITHOUT_CHECKOUT_GROUP = 'without-checkout';

export function webhookDeliveryWorkflowId(endpointId: string, group: string): string {
  return `webhook-delivery-${endpointId}-${group}`;
}

/** Sent to a group's delivery workflow when new deliveries of its group were recorded. */
export const DELIVERIES_RECORDED_SIGNAL = 'deliveriesRecorded';

/**
 * How a delivery is retried: the first retry after `firstRetryMs`, each wait then doubling up to
 * `longestRetryMs`, until `retryForMs` after the first attempt; each attempt waits `attemptTimeoutMs` at most
 * for the receiver's answer. Carried in the workflows' input, so that one Settle's setting holds for all of
 * its deliveries, and tests can run them in seconds.
 */
export interface WebhookDeliveryPolicy {
  firstRetryMs: number;
  longestRetryMs: number;
  retryForMs: number;
  attemptTimeoutMs: number;
}

/** Stripe-like: the first retry after 30 s, doubling up to an hour, for a day; 10 s for each answer. */
export const DEFAULT_WEBHOOK_DELIVERY_POLICY: WebhookDeliveryPolicy = {
  firstRetryMs: 30_000,
  longestRetryMs: 60 * 60_000,
  retryForMs: 24 * 60 * 60_000,
  attemptTimeoutMs: 10_000,
};

/** Every event type the outbox writes (see db/transition.ts, db/checkouts.ts, db/paymentOrders.ts, db/reconciliation.ts). */
export const WEBHOOK_EVENT_TYPES: readonly string[] = [
  'checkout.created',
  ...CHECKOUT_STATUSES.filter((status) => status !== 'PENDING').map((status) => `checkout.${status.toLowerCase()}`),
  'checkout.attention_required',
  'checkout.attention_resolved',
  ...PAYMENT_ORDER_STATUSES.filter((status) => status !== 'PENDING').map((status) => `payment_order.${status.toLowerCase()}`),
  'payment_order.release_refused',
  'payment_order.capture_not_booked',
  'refund.created',
  ...REFUND_STATUSES.filter((status) => status !== 'PENDING').map((status) => `refund.${status.toLowerCase()}`),
  'reconciliation.completed',
  'reconciliation.failed',
];

export const ALL_EVENTS = '*';

export function endpointWantsEvent(events: readonly string[], type: string): boolean {
  return events.includes(ALL_EVENTS) || events.includes(type);
}
