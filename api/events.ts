import { z } from 'zod';
import { plainText } from '../domain/checkoutRequest';
import { decodeCursor, readEvents } from '../db/events';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import type { RouteRegistry } from './routes';
import { eventSchema } from './schemas';

const querySchema = z.strictObject({
  after: plainText({ max: 100 }).optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1).max(500).default(100),
});

/** The event feed: every state change of checkouts, payment orders and refunds, in commit order. */
export function eventRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'get',
    path: '/v1/events',
    operationId: 'listEvents',
    tag: 'Events',
    summary: 'Every state change of checkouts, payment orders, refunds and reconciliations, in commit order',
    query: querySchema,
    responses: {
      200: {
        description: 'A page of events; pass nextCursor as after to read on',
        schema: z.object({ data: z.array(eventSchema), nextCursor: z.string(), hasMore: z.boolean() }),
      },
    },
    handler: async ({ query }, _req, res) => {
      const after = query.after === undefined ? undefined : decodeCursor(query.after);
      if (query.after !== undefined && !after) {
        throw new ApiError(400, 'invalid_cursor', 'after must be a cursor this feed handed out (nextCursor)', [
          { field: 'after', message: 'is not a cursor of this feed' },
        ]);
      }
      const page = await readEvents(ctx.pool, after, query.limit);
      res.json({ data: page.events, nextCursor: page.nextCursor, hasMore: page.hasMore });
    },
  });
}
