import { Router } from 'express';
import { z } from 'zod';
import { plainText } from '../domain/checkoutRequest';
import { decodeCursor, readEvents } from '../db/events';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { parseParams } from './requests';

const querySchema = z.strictObject({
  after: plainText({ max: 100 }).optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1).max(500).default(100),
});

/** The event feed: every state change of checkouts, payment orders and refunds, in commit order. */
export function eventRoutes(ctx: ApiContext): Router {
  const router = Router();
  router.get('/v1/events', async (req, res) => {
    const query = parseParams(req.query, querySchema);
    const after = query.after === undefined ? undefined : decodeCursor(query.after);
    if (query.after !== undefined && !after) {
      throw new ApiError(400, 'invalid_cursor', 'after must be a cursor this feed handed out (nextCursor)', [
        { field: 'after', message: 'is not a cursor of this feed' },
      ]);
    }
    const page = await readEvents(ctx.pool, after, query.limit);
    res.json({ data: page.events, nextCursor: page.nextCursor, hasMore: page.hasMore });
  });
  return router;
}
