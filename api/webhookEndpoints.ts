import { lookup } from 'node:dns/promises';
import { z } from 'zod';
import type { WebhookSettings } from '../config';
import {
  DEFAULT_WEBHOOK_DELIVERY_POLICY,
  isWebhookEndpointId,
  WEBHOOK_ENDPOINT_ID_PREFIX,
  webhookEndpointWorkflowId,
} from '../domain/webhookEndpoint';
import { webhookEndpointRequestSchema } from '../domain/webhookEndpointRequest';
import { newWebhookSecret } from '../domain/webhookSignature';
import { isPrivateAddress, literalAddress, PRIVATE_ADDRESS_REFUSED, webhookDestinationProblem } from '../domain/webhookUrl';
import {
  deleteWebhookEndpoint,
  disableWebhookEndpoint,
  eventFeedEnd,
  findWebhookEndpoint,
  insertWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  type WebhookDeliveryView,
  type WebhookEndpointView,
} from '../db/webhookEndpoints';
import type { webhookEndpointWorkflow } from '../workflows/webhookEndpoint';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { limitQuery, listAnswer, listSchema, startingAfterQuery } from './listings';
import { newId } from './requests';
import type { RouteRegistry } from './routes';

const timestamp = z.string().meta({ format: 'date-time' });

const webhookEndpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()).meta({ description: 'The event types delivered to it, or ["*"] for all' }),
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    createdAt: timestamp,
    disabledAt: timestamp.nullable(),
  })
  .meta({ id: 'WebhookEndpoint' });
tie<Same<z.output<typeof webhookEndpointSchema>, WebhookEndpointView>>();

const createdWebhookEndpointSchema = webhookEndpointSchema
  .extend({
    secret: z.string().meta({
      description: 'The signing secret (whsec_...): answered here only, keep it. Each delivery carries Settle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">',
    }),
  })
  .meta({ id: 'CreatedWebhookEndpoint' });

const webhookDeliverySchema = z
  .object({
    id: z.string(),
    endpointId: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    checkoutId: z.string().nullable(),
    status: z.enum(['pending', 'delivered', 'failed', 'canceled']).meta({
      description: 'pending: being tried; delivered: answered 2xx; failed: retries given up; canceled: the endpoint was disabled first',
    }),
    attempts: z.number().int().min(0),
    lastHttpStatus: z.number().int().nullable(),
    lastError: z.string().nullable().meta({ description: 'Why the last attempt failed (an HTTP status, a timeout, a refused address)' }),
    lastAttemptAt: timestamp.nullable(),
    nextAttemptAt: timestamp.nullable(),
    deliveredAt: timestamp.nullable(),
    failedAt: timestamp.nullable(),
    createdAt: timestamp,
  })
  .meta({ id: 'WebhookDelivery' });
tie<Same<z.output<typeof webhookDeliverySchema>, WebhookDeliveryView>>();

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
function tie<_T extends true>(): void {}

const endpointParams = z.strictObject({ id: z.string().max(200) });
const listQuery = z.strictObject({ limit: limitQuery, starting_after: startingAfterQuery });

/** How long creation waits for a DNS answer about the URL's host; without one, delivery-time checks decide. */
const RESOLVE_TIMEOUT_MS = 3_000;

/**
 * Refuses a URL whose host is a non-public address, or a name that resolves only to such. A name that does
 * not resolve (yet) is taken: every delivery checks the address it actually connects to.
 */
async function refusePrivateDestination(url: URL): Promise<void> {
  const refuse = (why: string) => {
    throw new ApiError(400, 'url_not_allowed', `url: ${why}`, [{ field: 'url', message: why }]);
  };
  const problem = webhookDestinationProblem(url);
  if (problem !== undefined) refuse(problem);
  if (literalAddress(url) !== undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const resolved = await Promise.race([
    lookup(url.hostname, { all: true }).catch(() => []),
    new Promise<[]>((resolve) => {
      timer = setTimeout(() => resolve([]), RESOLVE_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  if (resolved.length > 0 && resolved.every((entry) => isPrivateAddress(entry.address))) {
    // Without the addresses: the answer would map the internal network for whoever asks.
    refuse(`${url.hostname} ${PRIVATE_ADDRESS_REFUSED}`);
  }
}

/**
 * Webhook endpoints: where Settle sends its events. Creating one starts its workflow
 * (`webhook-endpoint-<id>`), which delivers every later event of the types it names; disabling it stops that.
 */
export function webhookEndpointRoutes(ctx: ApiContext, api: RouteRegistry): void {
  const settings: WebhookSettings = ctx.webhookEndpoints ?? { allowPrivateNetworks: false, delivery: DEFAULT_WEBHOOK_DELIVERY_POLICY };

  const existing = async (id: string) => {
    const endpoint = isWebhookEndpointId(id) ? await findWebhookEndpoint(ctx.pool, id) : undefined;
    if (!endpoint) throw ApiError.notFound('webhook endpoint', id);
    const { secret: _secret, ...view } = endpoint;
    return view;
  };

  api.route({
    method: 'post',
    path: '/v1/webhook-endpoints',
    operationId: 'createWebhookEndpoint',
    tag: 'Webhook endpoints',
    summary: 'Register a URL to receive events, signed; the answer holds its signing secret, shown only here',
    description:
      'Events recorded from now on whose type is in `events` (or all, with "*") are POSTed to the URL, one checkout\'s in order, ' +
      'retried with exponential backoff for a day. Only http(s) URLs on public addresses.',
    body: webhookEndpointRequestSchema,
    responses: {
      201: {
        description: 'Created; deliveries start with the next event',
        schema: createdWebhookEndpointSchema,
        headers: { Location: { description: 'Where the endpoint is read', schema: z.string(), required: true } },
      },
    },
    handler: async ({ body }, _req, res) => {
      const url = new URL(body.url);
      if (!settings.allowPrivateNetworks) await refusePrivateDestination(url);
      const id = newId(WEBHOOK_ENDPOINT_ID_PREFIX);
      const secret = newWebhookSecret();
      const endpoint = await insertWebhookEndpoint(ctx.pool, {
        id,
        url: url.toString(),
        events: body.events,
        description: body.description ?? null,
        secret,
      });
      try {
        await ctx.temporal.workflow.start<typeof webhookEndpointWorkflow>('webhookEndpointWorkflow', {
          workflowId: webhookEndpointWorkflowId(id),
          taskQueue: ctx.taskQueue,
          args: [{ endpointId: id, cursor: await eventFeedEnd(ctx.pool), policy: settings.delivery }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
      } catch (error) {
        // Nothing would deliver to it: the endpoint is not kept, and the client may try again.
        await deleteWebhookEndpoint(ctx.pool, id).catch((cleanup) => ctx.logger.warn({ err: cleanup, webhookEndpointId: id }, 'endpoint left unstarted'));
        throw error;
      }
      res.status(201).location(`/v1/webhook-endpoints/${id}`).json({ ...endpoint, secret });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/webhook-endpoints',
    operationId: 'listWebhookEndpoints',
    tag: 'Webhook endpoints',
    summary: 'Webhook endpoints, newest first',
    query: listQuery,
    responses: { 200: { description: 'A page of webhook endpoints', schema: listSchema(webhookEndpointSchema, 'WebhookEndpointList') } },
    errors: [400],
    handler: async ({ query }, _req, res) => {
      const listed = await listWebhookEndpoints(ctx.pool, { limit: query.limit, startingAfter: query.starting_after });
      res.json(listAnswer(listed, '/v1/webhook-endpoints', query.starting_after, 'webhook endpoint'));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/webhook-endpoints/:id',
    operationId: 'getWebhookEndpoint',
    tag: 'Webhook endpoints',
    summary: 'A webhook endpoint (without its secret)',
    params: endpointParams,
    responses: { 200: { description: 'The webhook endpoint', schema: webhookEndpointSchema } },
    handler: async ({ params }, _req, res) => {
      res.json(await existing(params.id));
    },
  });

  api.route({
    method: 'post',
    path: '/v1/webhook-endpoints/:id/disable',
    operationId: 'disableWebhookEndpoint',
    tag: 'Webhook endpoints',
    summary: 'Stop delivering to a webhook endpoint; what it had still to receive is canceled. Disabling twice is disabling once',
    params: endpointParams,
    responses: { 200: { description: 'The disabled endpoint', schema: webhookEndpointSchema } },
    handler: async ({ params }, _req, res) => {
      const disabled = isWebhookEndpointId(params.id) ? await disableWebhookEndpoint(ctx.pool, params.id) : undefined;
      if (!disabled) throw ApiError.notFound('webhook endpoint', params.id);
      // The database decides: a delivery finds its endpoint disabled and sends nothing, and the endpoint's
      // workflow ends at its next poll if this cancel does not reach it.
      await ctx.temporal.workflow
        .getHandle(webhookEndpointWorkflowId(params.id))
        .cancel()
        .catch((error) => ctx.logger.debug({ err: error, webhookEndpointId: params.id }, 'endpoint workflow not canceled'));
      res.json(disabled);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/webhook-endpoints/:id/deliveries',
    operationId: 'listWebhookDeliveries',
    tag: 'Webhook endpoints',
    summary: "An endpoint's delivery log, newest first: each event sent, its attempts and how the last one went",
    params: endpointParams,
    query: listQuery,
    responses: { 200: { description: 'A page of deliveries', schema: listSchema(webhookDeliverySchema, 'WebhookDeliveryList') } },
    errors: [400],
    handler: async ({ params, query }, _req, res) => {
      const endpoint = await existing(params.id);
      const listed = await listWebhookDeliveries(ctx.pool, endpoint.id, { limit: query.limit, startingAfter: query.starting_after });
      res.json(listAnswer(listed, `/v1/webhook-endpoints/${endpoint.id}/deliveries`, query.starting_after, 'delivery of this endpoint'));
    },
  });
}
