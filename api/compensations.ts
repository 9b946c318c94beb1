import { Router } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { compensationWorkflowId, isCheckoutId } from '../domain/ids';
import { findCheckoutView } from '../db/checkouts';
import { retryCompensationSignal } from '../workflows/definitions';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { parseBody } from './requests';

/**
 * A finished checkout whose void or refund the PSP refused carries `attention` (what is still held, and
 * why). Settle retries on its own; this asks it to try again now.
 */
export function compensationRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.post('/v1/checkouts/:id/retry-compensation', async (req, res) => {
    parseBody(req, z.strictObject({}), { optional: true });
    const checkoutId = req.params.id;
    const checkout = isCheckoutId(checkoutId) ? await findCheckoutView(ctx.pool, checkoutId) : undefined;
    if (!checkout) throw ApiError.notFound('checkout', checkoutId);
    if (!checkout.attention) {
      throw new ApiError(409, 'nothing_to_retry', `the checkout is ${checkout.status} and holds nothing its outcome gave back`);
    }
    try {
      await ctx.temporal.workflow.getHandle(compensationWorkflowId(checkoutId)).signal(retryCompensationSignal);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      throw new ApiError(
        409,
        'compensation_ended',
        'Settle has stopped retrying this compensation; refund what is left with POST /v1/payment-orders/:id/refunds',
      );
    }
    res.status(202).json({ checkoutId, status: checkout.status, attention: checkout.attention, retryRequested: true });
  });

  return router;
}
