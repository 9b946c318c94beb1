import { z } from 'zod';
import { ServiceError, WorkflowNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError, type WorkflowHandle } from '@temporalio/client';
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
import { noteCheckout } from './observability';
import { newId, requestHash, requireIdempotencyKey, startIdempotentWork } from './requests';
import type { RouteRegistry } from './routes';
import { checkoutViewSchema, createdHeaders, idempotencyKeyHeader, links } from './schemas';

const checkoutCreatedSchema = z.object({ checkoutId: z.string(), status: z.literal('PENDING'), links });
type CheckoutCreated = z.output<typeof checkoutCreatedSchema>;

const checkoutParams = z.strictObject({ id: z.string().max(200) });

const updateAcceptedSchema = (flag: 'cancelRequested' | 'captureRequested') =>
  z.object({ checkoutId: z.string(), status: checkoutViewSchema.shape.status, [flag]: z.literal(true) });

/** How long a checkout's workflow has to answer a query or an update before the API answers 503. */
export const DEFAULT_WORKFLOW_ANSWER_TIMEOUT_MS = 10_000;

/**
 * A query or an update is answered by a worker running the checkout. With none running, Temporal keeps
 * the call waiting for one (for ever, for an update): the deadline turns that into a 503 within seconds.
 */
async function answerWithin<T>(ctx: ApiContext, call: () => Promise<T>): Promise<T> {
  try {
    return await ctx.temporal.connection.withDeadline(Date.now() + (ctx.workflowAnswerTimeoutMs ?? DEFAULT_WORKFLOW_ANSWER_TIMEOUT_MS), call);
  } catch (error) {
    const deadlineExceeded =
      error instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
      (error instanceof ServiceError && (error.cause as { code?: number } | undefined)?.code === GRPC_DEADLINE_EXCEEDED);
    if (!deadlineExceeded) throw error;
    throw new ApiError(
      503,
      'checkout_unresponsive',
      'the checkout did not answer in time (is a Settle worker running?); a cancel or capture may still take effect, and sending it again is safe',
    );
  }
}

const GRPC_DEADLINE_EXCEEDED = 4;

export function checkoutRoutes(ctx: ApiContext, api: RouteRegistry): void {
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

  api.route({
    method: 'post',
    path: '/v1/checkouts',
    operationId: 'createCheckout',
    tag: 'Checkouts',
    summary: 'Start a checkout: one payment order per seller, authorized then captured',
    headers: idempotencyKeyHeader,
    body: checkoutRequestSchema,
    responses: {
      202: { description: 'Accepted: the checkout runs; read it at Location', schema: checkoutCreatedSchema, headers: createdHeaders },
    },
    errors: [409],
    handler: async ({ body: request }, req, res) => {
      const key = requireIdempotencyKey(req);
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
      noteCheckout(res, claim.kind === 'new' ? checkoutId : claim.resourceId);
      // A replay starts the first request's workflow only if that attempt died before Temporal took it.
      if (claim.kind === 'new') await startIdempotentWork(ctx.pool, { scope, key, resourceId: checkoutId }, () => startCheckout(input));
      else if (!claim.started) await startIdempotentWork(ctx.pool, { scope, key, resourceId: claim.resourceId }, () => startCheckout(claim.request));
      const answer = claim.kind === 'new' ? response : claim.response;
      if (claim.kind === 'replay') res.set('Idempotent-Replayed', 'true');
      res.status(202).location(answer.links.self).json(answer);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/checkouts/:id',
    operationId: 'getCheckout',
    tag: 'Checkouts',
    summary: 'A checkout and its payment orders: the live state while it runs, the books once finished',
    params: checkoutParams,
    responses: { 200: { description: 'The checkout', schema: checkoutViewSchema } },
    handler: async ({ params }, _req, res) => {
      const checkoutId = params.id;
      if (!isCheckoutId(checkoutId)) throw ApiError.notFound('checkout', checkoutId);
      noteCheckout(res, checkoutId);
      const recorded = await findCheckoutView(ctx.pool, checkoutId);
      if (recorded && isTerminalCheckoutStatus(recorded.status)) {
        res.json(recorded);
        return;
      }
      // Still running (or not yet recorded): the workflow knows the live state.
      let live: CheckoutView;
      try {
        live = await answerWithin(ctx, () => ctx.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).query(checkoutStatusQuery));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError && !recorded) throw ApiError.notFound('checkout', checkoutId);
        if (!recorded) throw error;
        ctx.logger.warn({ err: error, checkoutId }, 'status query failed; answering from the database');
        live = recorded;
      }
      res.json(live);
    },
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
      return await answerWithin(ctx, () => update(ctx.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId))));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        if (!recorded) throw ApiError.notFound('checkout', checkoutId);
        throw finished();
      }
      throw error;
    }
  };

  api.route({
    method: 'post',
    path: '/v1/checkouts/:id/cancel',
    operationId: 'cancelCheckout',
    tag: 'Checkouts',
    summary: 'Cancel a checkout: holds are released, captures refunded',
    params: checkoutParams,
    body: cancelRequestSchema,
    bodyOptional: true,
    responses: { 202: { description: 'The cancel is taken; the checkout ends CANCELED', schema: updateAcceptedSchema('cancelRequested') } },
    errors: [409],
    handler: async ({ params, body }, _req, res) => {
      noteCheckout(res, params.id);
      const view = await updateCheckout(params.id, 'cancelable', (handle) => handle.executeUpdate(cancelUpdate, { args: [{ reason: body.reason }] }));
      res.status(202).json({ checkoutId: view.checkoutId, status: view.status, cancelRequested: true });
    },
  });

  api.route({
    method: 'post',
    path: '/v1/checkouts/:id/capture',
    operationId: 'captureCheckout',
    tag: 'Checkouts',
    summary: 'Capture a checkout created with capture "manual" once every order is authorized',
    params: checkoutParams,
    body: z.strictObject({}),
    bodyOptional: true,
    responses: { 202: { description: 'The capture is taken', schema: updateAcceptedSchema('captureRequested') } },
    errors: [409],
    handler: async ({ params }, _req, res) => {
      noteCheckout(res, params.id);
      const view = await updateCheckout(params.id, 'capturable', (handle) => handle.executeUpdate(captureUpdate));
      res.status(202).json({ checkoutId: view.checkoutId, status: view.status, captureRequested: true });
    },
  });
}
