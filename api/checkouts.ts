import { Router } from 'express';
import { z } from 'zod';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { CheckoutInput, CheckoutView } from '../domain/checkout';
import { cancelRequestSchema, checkoutRequestSchema } from '../domain/checkoutRequest';
import { CHECKOUT_ID_PREFIX, PAYMENT_ORDER_ID_PREFIX, checkoutWorkflowId, isCheckoutId } from '../domain/ids';
import { isTerminalCheckoutStatus } from '../domain/status';
import { findCheckoutView } from '../db/checkouts';
import { claimIdempotencyKey, DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS } from '../db/idempotency';
import type { checkoutWorkflow } from '../workflows/checkout';
import {
  CheckoutStatusAttribute,
  CustomerIdAttribute,
  cancelUpdate,
  captureUpdate,
  checkoutStatusQuery,
} from '../workflows/definitions';
import { refuseUnsupportedAmounts } from './amounts';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { newId, parseBody, requestHash, requireIdempotencyKey, startIdempotentWork } from './requests';

interface CheckoutCreated {
  checkoutId: string;
  status: 'PENDING';
  links: { self: string };
}

export function checkoutRoutes(ctx: ApiContext): Router {
  const router = Router();

  const startCheckout = (input: CheckoutInput) =>
    ctx.temporal.workflow.start<typeof checkoutWorkflow>('checkoutWorkflow', {
      workflowId: checkoutWorkflowId(input.checkoutId),
      taskQueue: ctx.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: CheckoutStatusAttribute, value: 'PENDING' },
        { key: CustomerIdAttribute, value: input.customerId },
      ],
    });

  router.post('/v1/checkouts', async (req, res) => {
    const key = requireIdempotencyKey(req);
    const request = parseBody(req, checkoutRequestSchema);
    refuseUnsupportedAmounts(ctx, request.currency, 'charge', request.orders.map((order, index) => [`orders[${index}].amount`, order.amount]));

    const checkoutId = newId(CHECKOUT_ID_PREFIX);
    const input: CheckoutInput = {
      checkoutId,
      customerId: request.customerId,
      currency: request.currency,
      capture: request.capture,
      allowPartial: request.allowPartial,
      authorizationWindowMs: ctx.authorizationWindowMs,
      orders: request.orders.map((order) => ({
        paymentOrderId: newId(PAYMENT_ORDER_ID_PREFIX),
        checkoutId,
        sellerId: order.sellerId,
        amount: order.amount,
        currency: request.currency,
        paymentMethod: order.paymentMethod ?? request.paymentMethod,
      })),
    };
    const response: CheckoutCreated = { checkoutId, status: 'PENDING', links: { self: `/v1/checkouts/${checkoutId}` } };
    const scope = 'POST /v1/checkouts';
    const claim = await claimIdempotencyKey(ctx.pool, {
      scope,
      key,
      requestHash: requestHash(request),
      ttlHours: ctx.idempotencyKeyTtlHours ?? DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS,
      resourceId: checkoutId,
      request: input,
      response,
    });
    if (claim.kind === 'conflict') {
      throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was already used with a different request body');
    }
    // A replay starts the first request's workflow only if that attempt died before Temporal took it.
    if (claim.kind === 'new') await startIdempotentWork(ctx.pool, { scope, key, resourceId: checkoutId }, () => startCheckout(input));
    else if (!claim.started) await startIdempotentWork(ctx.pool, { scope, key, resourceId: claim.resourceId }, () => startCheckout(claim.request));
    const answer = claim.kind === 'new' ? response : claim.response;
    if (claim.kind === 'replay') res.set('Idempotent-Replayed', 'true');
    res.status(202).location(answer.links.self).json(answer);
  });

  router.get('/v1/checkouts/:id', async (req, res) => {
    const checkoutId = req.params.id;
    if (!isCheckoutId(checkoutId)) throw ApiError.notFound('checkout', checkoutId);
    const recorded = await findCheckoutView(ctx.pool, checkoutId);
    if (recorded && isTerminalCheckoutStatus(recorded.status)) {
      res.json(recorded);
      return;
    }
    // Still running (or not yet recorded): the workflow knows the live state.
    let live: CheckoutView;
    try {
      live = await ctx.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).query(checkoutStatusQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError && !recorded) throw ApiError.notFound('checkout', checkoutId);
      if (!recorded) throw error;
      ctx.logger.warn({ err: error, checkoutId }, 'status query failed; answering from the database');
      live = recorded;
    }
    res.json(live);
  });

  /** Runs an update (cancel, capture) on a checkout that is still running; a finished one answers 409. */
  const updateCheckout = async (
    checkoutId: string,
    action: 'cancelable' | 'capturable',
    update: (handle: WorkflowHandle) => Promise<CheckoutView>,
  ): Promise<CheckoutView> => {
    if (!isCheckoutId(checkoutId)) throw ApiError.notFound('checkout', checkoutId);
    const recorded = await findCheckoutView(ctx.pool, checkoutId);
    const finished = () =>
      new ApiError(409, `checkout_not_${action}`, `the checkout is ${recorded?.status} and can no longer be ${action === 'cancelable' ? 'canceled' : 'captured'}`);
    if (recorded && isTerminalCheckoutStatus(recorded.status)) throw finished();
    try {
      return await update(ctx.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        if (!recorded) throw ApiError.notFound('checkout', checkoutId);
        throw finished();
      }
      throw error;
    }
  };

  router.post('/v1/checkouts/:id/cancel', async (req, res) => {
    const { reason } = parseBody(req, cancelRequestSchema, { optional: true });
    const view = await updateCheckout(req.params.id, 'cancelable', (handle) => handle.executeUpdate(cancelUpdate, { args: [{ reason }] }));
    res.status(202).json({ checkoutId: view.checkoutId, status: view.status, cancelRequested: true });
  });

  router.post('/v1/checkouts/:id/capture', async (req, res) => {
    parseBody(req, z.strictObject({}), { optional: true });
    const view = await updateCheckout(req.params.id, 'capturable', (handle) => handle.executeUpdate(captureUpdate));
    res.status(202).json({ checkoutId: view.checkoutId, status: view.status, captureRequested: true });
  });

  return router;
}
