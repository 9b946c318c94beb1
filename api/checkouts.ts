import { createHash, randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { CheckoutInput, CheckoutView } from '../domain/checkout';
import { checkoutRequestSchema } from '../domain/checkoutRequest';
import { CHECKOUT_ID_PREFIX, PAYMENT_ORDER_ID_PREFIX, checkoutWorkflowId, isCheckoutId } from '../domain/ids';
import { isTerminalCheckoutStatus } from '../domain/status';
import { findCheckoutView } from '../db/checkouts';
import { claimIdempotencyKey } from '../db/idempotency';
import type { checkoutWorkflow } from '../workflows/checkout';
import { CheckoutStatusAttribute, CustomerIdAttribute, checkoutStatusQuery } from '../workflows/definitions';
import type { ApiContext } from './context';
import { ApiError } from './errors';

interface CheckoutCreated {
  checkoutId: string;
  status: 'PENDING';
  links: { self: string };
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function newId(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function idempotencyKey(req: Request): string {
  const key = req.get('Idempotency-Key');
  if (key === undefined || key === '') {
    throw new ApiError(400, 'idempotency_key_missing', 'the Idempotency-Key header is required for POST /v1/checkouts');
  }
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, 'idempotency_key_invalid', 'the Idempotency-Key header must be 1-255 printable ASCII characters without spaces');
  }
  return key;
}

export function checkoutRoutes(ctx: ApiContext): Router {
  const router = Router();

  const startCheckout = async (input: CheckoutInput) => {
    try {
      await ctx.temporal.workflow.start<typeof checkoutWorkflow>('checkoutWorkflow', {
        workflowId: checkoutWorkflowId(input.checkoutId),
        taskQueue: ctx.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: CheckoutStatusAttribute, value: 'PENDING' },
          { key: CustomerIdAttribute, value: input.customerId },
        ],
      });
    } catch (error) {
      // A retry of a request whose first attempt started the workflow: it is already running or done.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  };

  router.post('/v1/checkouts', async (req, res) => {
    const key = idempotencyKey(req);
    if (!req.is('application/json')) {
      throw new ApiError(415, 'unsupported_media_type', 'send the checkout as JSON with Content-Type: application/json');
    }
    const parsed = checkoutRequestSchema.safeParse(req.body);
    if (!parsed.success) throw ApiError.fromValidation(parsed.error);
    const request = parsed.data;

    const checkoutId = newId(CHECKOUT_ID_PREFIX);
    const input: CheckoutInput = {
      checkoutId,
      customerId: request.customerId,
      currency: request.currency,
      capture: request.capture,
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
    const claim = await claimIdempotencyKey(ctx.pool, {
      scope: 'POST /v1/checkouts',
      key,
      requestHash: createHash('sha256').update(JSON.stringify(request)).digest('hex'),
      resourceId: checkoutId,
      request: input,
      response,
    });
    if (claim.kind === 'conflict') {
      throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was already used with a different request body');
    }
    // On a replay, start the first request's workflow again: harmless if it runs, needed if that attempt died first.
    await startCheckout(claim.kind === 'new' ? input : claim.request);
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

  return router;
}
