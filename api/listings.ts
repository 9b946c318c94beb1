import { z } from 'zod';
import { EXTERNAL_ID_PATTERN, isCheckoutId, isPaymentOrderId } from '../domain/ids';
import { CHECKOUT_STATUSES, PAYMENT_ORDER_STATUSES, REFUND_STATUSES } from '../domain/status';
import { listCheckouts, listPaymentOrders, listRefunds, statsOver, UNKNOWN_CURSOR, type Listed, type Stats } from '../db/listings';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import type { RouteRegistry } from './routes';
import { checkoutViewSchema, paymentOrderSchema, refundViewSchema } from './schemas';

/*
 * Lists as Stripe answers them: newest first, `limit` items from the one after `starting_after` (an id from
 * the previous page), `has_more` when there are others beyond. Query keys are flat (`created[gte]` is one
 * key), and a key a list does not know is refused, so a misspelt filter never answers everything.
 */

export const limitQuery = z
  .string()
  .regex(/^[0-9]{1,3}$/, 'must be an integer from 1 to 100')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be an integer from 1 to 100').max(100, 'must be an integer from 1 to 100'))
  .default(10)
  .meta({ description: 'How many items, 1 to 100 (10 by default)' });

export const startingAfterQuery = z
  .string()
  .max(200)
  .optional()
  .meta({ description: 'The id of the last item of the previous page: the page starts with the item after it' });

const timestamp = z
  .string()
  .pipe(
    z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 timestamp with a time zone, such as 2026-01-31T00:00:00Z' })
      // PostgreSQL has no year 0; every other year the format allows it takes.
      .refine((value) => !value.startsWith('0000'), 'must be in year 1 or later'),
  );

const createdRange = {
  'created[gte]': timestamp.optional().meta({ description: 'Created at or after this time (ISO 8601)' }),
  'created[lt]': timestamp.optional().meta({ description: 'Created before this time (ISO 8601)' }),
};

/** A range whose end is not after its start can hold nothing: a mistake, named. */
function refuseEmptyRange(query: { 'created[gte]'?: string; 'created[lt]'?: string }, context: z.RefinementCtx): void {
  const { 'created[gte]': gte, 'created[lt]': lt } = query;
  if (gte !== undefined && lt !== undefined && Date.parse(lt) <= Date.parse(gte)) {
    context.addIssue({ code: 'custom', path: ['created[lt]'], message: 'must be later than created[gte]' });
  }
}

const externalId = z.string().regex(EXTERNAL_ID_PATTERN, 'must be 1-64 letters, digits, "_", "." or "-"');

const checkoutsQuery = z
  .strictObject({
    limit: limitQuery,
    starting_after: startingAfterQuery,
    status: z.enum(CHECKOUT_STATUSES).optional(),
    customerId: externalId.optional(),
    ...createdRange,
  })
  .superRefine(refuseEmptyRange);

const paymentOrdersQuery = z
  .strictObject({
    limit: limitQuery,
    starting_after: startingAfterQuery,
    status: z.enum(PAYMENT_ORDER_STATUSES).optional(),
    checkoutId: z.string().refine(isCheckoutId, 'must be a checkout id (chk_ and 32 hex digits)').optional(),
    sellerId: externalId.optional(),
    customerId: externalId.optional().meta({ description: "The customer of the order's checkout" }),
    ...createdRange,
  })
  .superRefine(refuseEmptyRange);

const refundsQuery = z
  .strictObject({
    limit: limitQuery,
    starting_after: startingAfterQuery,
    status: z.enum(REFUND_STATUSES).optional(),
    paymentOrderId: z.string().refine(isPaymentOrderId, 'must be a payment order id (po_ and 32 hex digits)').optional(),
    ...createdRange,
  })
  .superRefine(refuseEmptyRange);

const statsQuery = z
  .strictObject({
    'created[gte]': timestamp.meta({ description: 'Created at or after this time (ISO 8601)' }),
    'created[lt]': timestamp.meta({ description: 'Created before this time (ISO 8601)' }),
  })
  .superRefine(refuseEmptyRange);

export function listSchema<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      object: z.literal('list'),
      data: z.array(item),
      has_more: z.boolean().meta({ description: 'Whether items follow this page: ask again with starting_after set to the last id' }),
      url: z.string().meta({ description: 'The path of this list' }),
    })
    .meta({ id });
}

const statusTotalSchema = z
  .object({
    status: z.string(),
    currency: z.string().regex(/^[A-Z]{3}$/),
    count: z.number().int().min(0),
    amount: z.number().int().min(0).meta({ description: 'Integer minor units of this currency, never summed with another' }),
  })
  .meta({ id: 'StatusTotal' });

const statsSchema = z
  .object({
    object: z.literal('stats'),
    created: z.object({ gte: z.string(), lt: z.string() }),
    checkouts: z.array(statusTotalSchema).meta({ description: "Checkouts by status and currency; a checkout's amount is its total" }),
    paymentOrders: z.array(statusTotalSchema),
    refunds: z.array(statusTotalSchema),
  })
  .meta({ id: 'Stats' });

export function invalidCursor(startingAfter: string, what: string): ApiError {
  return new ApiError(400, 'invalid_cursor', `starting_after '${startingAfter}' is not the id of any ${what}`, [
    { field: 'starting_after', message: `is not the id of any ${what}` },
  ]);
}

/** The list answer, or 400 when the cursor named no item of the list. */
/** A list as Stripe answers it; a starting_after that names no item of it is a 400. */
export function listAnswer<T>(listed: Listed<T>, url: string, startingAfter: string | undefined, what: string) {
  if (listed === UNKNOWN_CURSOR) throw invalidCursor(startingAfter ?? '', what);
  return { object: 'list' as const, data: listed.data, has_more: listed.hasMore, url };
}

function range(query: { 'created[gte]'?: string; 'created[lt]'?: string }) {
  return { gte: query['created[gte]'], lt: query['created[lt]'] };
}

const listErrors = [400];

export function listingRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'get',
    path: '/v1/checkouts',
    operationId: 'listCheckouts',
    tag: 'Checkouts',
    summary: 'Checkouts, newest first, as they are recorded',
    description: 'A running checkout is listed as the database last recorded it; GET /v1/checkouts/{id} answers its live state.',
    query: checkoutsQuery,
    responses: { 200: { description: 'A page of checkouts', schema: listSchema(checkoutViewSchema, 'CheckoutList') } },
    errors: listErrors,
    handler: async ({ query }, _req, res) => {
      const listed = await listCheckouts(
        ctx.pool,
        { status: query.status, customerId: query.customerId },
        { limit: query.limit, startingAfter: query.starting_after, created: range(query) },
      );
      res.json(listAnswer(listed, '/v1/checkouts', query.starting_after, 'checkout'));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/payment-orders',
    operationId: 'listPaymentOrders',
    tag: 'Payment orders',
    summary: 'Payment orders, newest first',
    query: paymentOrdersQuery,
    responses: { 200: { description: 'A page of payment orders', schema: listSchema(paymentOrderSchema, 'PaymentOrderList') } },
    errors: listErrors,
    handler: async ({ query }, _req, res) => {
      const listed = await listPaymentOrders(
        ctx.pool,
        { status: query.status, checkoutId: query.checkoutId, sellerId: query.sellerId, customerId: query.customerId },
        { limit: query.limit, startingAfter: query.starting_after, created: range(query) },
      );
      res.json(listAnswer(listed, '/v1/payment-orders', query.starting_after, 'payment order'));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/refunds',
    operationId: 'listRefunds',
    tag: 'Refunds',
    summary: 'Refunds, newest first',
    query: refundsQuery,
    responses: { 200: { description: 'A page of refunds', schema: listSchema(refundViewSchema, 'RefundList') } },
    errors: listErrors,
    handler: async ({ query }, _req, res) => {
      const listed = await listRefunds(
        ctx.pool,
        { status: query.status, paymentOrderId: query.paymentOrderId },
        { limit: query.limit, startingAfter: query.starting_after, created: range(query) },
      );
      res.json(listAnswer(listed, '/v1/refunds', query.starting_after, 'refund'));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/stats',
    operationId: 'getStats',
    tag: 'Stats',
    summary: 'Counts and amounts by status and currency of checkouts, payment orders and refunds created in a range',
    description: 'Reads every row created in the range: keep ranges to what a dashboard shows (a day, a month).',
    query: statsQuery,
    responses: { 200: { description: 'The totals', schema: statsSchema } },
    errors: listErrors,
    handler: async ({ query }, _req, res) => {
      const created = { gte: query['created[gte]'], lt: query['created[lt]'] };
      const stats: Stats = await statsOver(ctx.pool, created);
      res.json({ object: 'stats', created, ...stats });
    },
  });
}
