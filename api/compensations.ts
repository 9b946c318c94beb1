import { z } from 'zod';
import { compensationFor } from '../domain/attention';
import { compensationWorkflowId, isCheckoutId } from '../domain/ids';
import { findCheckoutView, findPaymentOrderInputs } from '../db/checkouts';
import type { compensationWorkflow } from '../workflows/compensation';
import { retryCompensationSignal } from '../workflows/definitions';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { noteCheckout } from './observability';
import type { RouteRegistry } from './routes';
import { checkoutViewSchema } from './schemas';

/**
 * A finished checkout whose void or refund the PSP refused carries `attention` (what is still held, and
 * why). Settle retries on its own; this asks it to try again now. The retrying workflow is started again
 * if it is no longer running (it gave up after its 30 days, or was terminated): a hold or a capture the PSP
 * still has is never left without a way to give it back.
 */
export function compensationRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'post',
    path: '/v1/checkouts/:id/retry-compensation',
    operationId: 'retryCompensation',
    tag: 'Checkouts',
    summary: 'Retry now the void or refund the PSP refused for a finished checkout that carries attention',
    params: z.strictObject({ id: z.string().max(200) }),
    body: z.strictObject({}),
    bodyOptional: true,
    responses: {
      202: {
        description: 'The retry is under way',
        schema: z.object({
          checkoutId: z.string(),
          status: checkoutViewSchema.shape.status,
          attention: checkoutViewSchema.shape.attention,
          retryRequested: z.literal(true),
        }),
      },
    },
    errors: [409],
    handler: async ({ params }, _req, res) => {
      const checkoutId = params.id;
      const checkout = isCheckoutId(checkoutId) ? await findCheckoutView(ctx.pool, checkoutId) : undefined;
      if (!checkout) throw ApiError.notFound('checkout', checkoutId);
      res.locals.workflowId = compensationWorkflowId(checkoutId);
      noteCheckout(res, checkoutId);
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
    },
  });
}
