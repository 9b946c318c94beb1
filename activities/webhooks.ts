import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import {
  DELIVERIES_RECORDED_SIGNAL,
  endpointWantsEvent,
  webhookDeliveryWorkflowId,
  type WebhookDeliveryPolicy,
} from '../domain/webhookEndpoint';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, webhookSignature } from '../domain/webhookSignature';
import { isPrivateAddress, PRIVATE_ADDRESS_REFUSED, webhookDestinationProblem } from '../domain/webhookUrl';
import { decodeCursor, readEvents } from '../db/events';
import type { Pool } from '../db/pool';
import {
  cancelDelivery,
  findDeliveryToSend,
  findWebhookEndpoint,
  nextPendingDelivery,
  recordDeliveryAttempt,
  recordWebhookDeliveries,
  type AttemptResult,
  type DeliveryToSend,
  type WebhookDeliveryStatus,
} from '../db/webhookEndpoints';
import { asActivities } from './attempt';

export interface WebhookDeps {
  pool: Pool;
  /** Starts and signals the delivery workflows (on the worker's own connection). */
  temporal: Client;
  taskQueue: string;
  /** Development only: let deliveries reach loopback and private addresses. */
  allowPrivateNetworks: boolean;
}

/** A poll of the outbox waits this long for new events before it answers, then the workflow polls again. */
const LONG_POLL_MS = 20_000;
const POLL_EVERY_MS = 250;
const EVENTS_PER_READ = 200;

export interface WebhookPoll {
  endpointId: string;
  /** A cursor of the event feed (db/events.ts): the events after it are the endpoint's to receive. */
  cursor: string;
  policy: WebhookDeliveryPolicy;
}

export type WebhookPollResult = { endpoint: 'enabled'; cursor: string } | { endpoint: 'disabled' | 'missing' };

export interface WebhookAttempt {
  deliveryId: string;
  /** Try again after this long if this attempt fails; null: this is the last attempt. */
  retryInMs: number | null;
  timeoutMs: number;
}

export interface DeliveryGroup {
  endpointId: string;
  group: string;
  policy: WebhookDeliveryPolicy;
}

/**
 * The side effects of outgoing webhooks: reading the outbox for an endpoint and recording its deliveries, and
 * sending one attempt of one delivery. Each may be repeated: deliveries are recorded once per (endpoint,
 * event), and a receiver dedupes a repeated send by the event id it carries.
 */
export function createWebhookActivities({ pool, temporal, taskQueue, allowPrivateNetworks }: WebhookDeps) {
  return asActivities({
    /**
     * Reads the feed after the cursor until it finds events the endpoint takes, or for about 20 s; records a
     * delivery for each and wakes the delivery workflow of each group concerned. Answers how far it read.
     */
    async pollWebhookEvents(poll: WebhookPoll): Promise<WebhookPollResult> {
      const endpoint = await findWebhookEndpoint(pool, poll.endpointId);
      if (!endpoint) return { endpoint: 'missing' };
      if (endpoint.status !== 'enabled') return { endpoint: 'disabled' };
      let cursor = poll.cursor;
      const until = Date.now() + LONG_POLL_MS;
      for (;;) {
        const position = decodeCursor(cursor);
        // Never read from the start instead: that would send the endpoint every event ever recorded.
        if (!position) throw ApplicationFailure.nonRetryable(`not a cursor of the event feed: ${cursor}`, 'InvalidFeedCursor');
        const page = await readEvents(pool, position, EVENTS_PER_READ);
        cursor = page.nextCursor;
        const wanted = page.events.filter((event) => endpointWantsEvent(endpoint.events, event.type));
        if (wanted.length > 0) {
          const groups = await recordWebhookDeliveries(
            pool,
            endpoint.id,
            wanted.map((event) => event.id),
          );
          if (groups.length === 0 && (await findWebhookEndpoint(pool, endpoint.id))?.status !== 'enabled') return { endpoint: 'disabled' };
          await Promise.all(groups.map((group) => wakeDeliveries({ endpointId: endpoint.id, group, policy: poll.policy })));
          return { endpoint: 'enabled', cursor };
        }
        // A long stretch of events the endpoint does not take is read on by the next poll, within its deadline.
        if (Date.now() >= until) return { endpoint: 'enabled', cursor };
        if (page.hasMore) continue;
        // Rejects when the workflow cancels this poll (the endpoint was disabled).
        await Context.current().sleep(POLL_EVERY_MS);
      }
    },

    async nextWebhookDelivery(endpointId: string, group: string): Promise<string | null> {
      return (await nextPendingDelivery(pool, endpointId, group)) ?? null;
    },

    /** One attempt: sends the event, signed, and records what the receiver answered. */
    async attemptWebhookDelivery(attempt: WebhookAttempt): Promise<WebhookDeliveryStatus> {
      const delivery = await findDeliveryToSend(pool, attempt.deliveryId);
      if (!delivery) return 'canceled';
      if (delivery.status !== 'pending') return delivery.status;
      if (delivery.endpoint.status !== 'enabled') {
        await cancelDelivery(pool, delivery.id);
        return 'canceled';
      }
      const answer = await send(delivery, attempt.timeoutMs, allowPrivateNetworks);
      const result: AttemptResult =
        answer.httpStatus !== null && answer.httpStatus >= 200 && answer.httpStatus < 300
          ? { outcome: 'delivered', httpStatus: answer.httpStatus }
          : { outcome: 'failed', httpStatus: answer.httpStatus, error: answer.error, retryInMs: attempt.retryInMs };
      return recordDeliveryAttempt(pool, delivery.id, result);
    },
  });

  /** Starts the group's delivery workflow, or tells the running one that it has more to send. */
  async function wakeDeliveries(group: DeliveryGroup): Promise<void> {
    await temporal.workflow.signalWithStart('webhookDeliveryWorkflow', {
      workflowId: webhookDeliveryWorkflowId(group.endpointId, group.group),
      taskQueue,
      args: [group],
      signal: DELIVERIES_RECORDED_SIGNAL,
      signalArgs: [],
    });
  }
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;

/** What a webhook's body says: the event as the feed has it, with Stripe's `object` and `created` (unix seconds). */
export function webhookBody(event: DeliveryToSend['event']): string {
  return JSON.stringify({
    id: event.id,
    object: 'event',
    type: event.type,
    created: Math.floor(Date.parse(event.createdAt) / 1000),
    createdAt: event.createdAt,
    checkoutId: event.checkoutId,
    paymentOrderId: event.paymentOrderId,
    refundId: event.refundId,
    reconciliationId: event.reconciliationId,
    data: event.data,
  });
}

interface Answer {
  httpStatus: number | null;
  error: string | null;
}

const MAX_ERROR_LENGTH = 500;

/**
 * POSTs the event to the endpoint, and answers its HTTP status, or why there was none. Redirects are not
 * followed (a 3xx is a failure): a receiver must not send Settle's signed events elsewhere.
 */
function send(delivery: DeliveryToSend, timeoutMs: number, allowPrivateNetworks: boolean): Promise<Answer> {
  const url = new URL(delivery.endpoint.url);
  // Node connects to an address written in the URL without asking `lookup`: it is checked here, with the
  // port, for an endpoint stored before today's rules.
  const problem = allowPrivateNetworks ? undefined : webhookDestinationProblem(url);
  if (problem !== undefined) return Promise.resolve({ httpStatus: null, error: `not sent: ${problem}` });
  const body = webhookBody(delivery.event);
  const timestamp = Math.floor(Date.now() / 1000);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ httpStatus: answer.httpStatus, error: answer.error?.slice(0, MAX_ERROR_LENGTH) ?? null });
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent: false,
      lookup: allowPrivateNetworks ? undefined : publicAddressesOnly,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'User-Agent': 'Settle-Webhooks/1',
        [SIGNATURE_HEADER]: webhookSignature(delivery.endpoint.secret, timestamp, body),
        [EVENT_ID_HEADER]: delivery.event.id,
      },
    });
    const timer = setTimeout(() => settle({ httpStatus: null, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    request.on('response', (response) => {
      response.resume();
      settle({ httpStatus: response.statusCode ?? null, error: response.statusCode && response.statusCode < 300 ? null : `HTTP ${response.statusCode}` });
    });
    request.on('error', (error: Error & { code?: string }) => settle({ httpStatus: null, error: error.code ? `${error.code}: ${error.message}` : error.message }));
    request.end(body);
  });
}

/**
 * Name resolution for deliveries: only public addresses are handed to the connection, so a name that now
 * resolves to a private address (DNS rebinding) reaches nothing.
 */
const publicAddressesOnly: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    const usable = addresses.filter((entry) => !isPrivateAddress(entry.address));
    if (usable.length === 0) {
      // The addresses are not named: the delivery log would map the internal network for whoever made the endpoint.
      const refused = Object.assign(new Error(`${hostname} ${PRIVATE_ADDRESS_REFUSED}`), {
        code: 'EPRIVATEADDRESS',
      });
      callback(refused, '', 0);
      return;
    }
    if (options.all) (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  });
};
