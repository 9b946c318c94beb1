import { Router } from 'express';
import { z } from 'zod';
import { compensationFor } from '../domain/attention';
import { compensationWorkflowId, isCheckoutId } from '../domain/ids';
import { findCheckoutView, findPaymentOrderInputs } from '../db/checkouts';
import type { compensationWorkflow } from '../workflows/compensation';
import { retryCompensationSignal } from '../workflows/definitions';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { parseBody } from './requests';

/**
 * A finished checkout whose void or refund the PSP refused carries `attention` (what is still held, and
 * why). Settle retries on its own; this asks it to try again now. The retrying workflow is started again
 * if it is no longer running (it gave up after its 30 days, or was terminated): a hold or a capture the PSP
 * still has is never left without a way to give it back.
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
    const failure = checkout.failureCode ? { code: checkout.failureCode, message: checkout.failureReason ?? checkout.failureCode } : null;
    await ctx.temporal.workflow.signalWithStart<typeof compensationWorkflow, []>('compensationWorkflow', {
      workflowId: compensationWorkflowId(checkoutId),
      taskQueue: ctx.taskQueue,
      args: [compensationFor({ checkoutId, status: checkout.status, failure }, await findPaymentOrderInputs(ctx.pool, checkoutId))],
      signal: retryCompensationSignal,
      signalArgs: [],
    });
    res.status(202).json({ checkoutId, status: checkout.status, attention: checkout.attention, retryRequested: true });
  });

  return router;
}
