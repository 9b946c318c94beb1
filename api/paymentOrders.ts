import { z } from 'zod';
import { EXTERNAL_ID_PATTERN, isPaymentOrderId } from '../domain/ids';
import { MAX_ORDER_AMOUNT } from '../domain/money';
import { isRefundId, REFUND_ID_PREFIX, refundWorkflowId, type RefundInput } from '../domain/refund';
import { DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS, lockIdempotencyKey, recordIdempotencyKey } from '../db/idempotency';
import { findPaymentOrderView } from '../db/paymentOrders';
import { withTransaction } from '../db/pool';
import { findRefundView, reserveRefund } from '../db/refunds';
import { walletBalances } from '../db/wallets';
import type { refundWorkflow } from '../workflows/refund';
import { refuseUnsupportedAmounts } from './amounts';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { newId, requestHash, requireIdempotencyKey, startIdempotentWork } from './requests';
import type { RouteRegistry } from './routes';
import { createdHeaders, idempotencyKeyHeader, links, paymentOrderSchema, refundViewSchema } from './schemas';

const refundRequestSchema = z.strictObject({
  /** Minor units; without it, everything not yet refunded. */
  amount: z
    .number({ error: 'must be an integer number of minor units' })
    .int('must be an integer number of minor units (cents), not a fraction')
    .min(1, 'must be at least 1 minor unit')
    .max(MAX_ORDER_AMOUNT, `must be at most ${MAX_ORDER_AMOUNT} minor units`)
    .optional(),
});

const refundCreatedSchema = z.object({
  refundId: z.string(),
  paymentOrderId: z.string(),
  amount: z.number().int(),
  status: z.literal('PENDING'),
  links,
});
type RefundCreated = z.output<typeof refundCreatedSchema>;

const idParams = z.strictObject({ id: z.string().max(200) });

export function paymentOrderRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'get',
    path: '/v1/payment-orders/:id',
    operationId: 'getPaymentOrder',
    tag: 'Payment orders',
    summary: 'One payment order (one seller\'s part of a checkout)',
    params: idParams,
    responses: { 200: { description: 'The payment order', schema: paymentOrderSchema } },
    handler: async ({ params: { id } }, _req, res) => {
      const order = isPaymentOrderId(id) ? await findPaymentOrderView(ctx.pool, id) : undefined;
      if (!order) throw ApiError.notFound('payment order', id);
      res.json(order);
    },
  });

  /**
   * A refund of a captured payment order, full or partial. The amount is reserved against what is left in
   * the same transaction that claims the idempotency key, then a refund workflow moves the money back.
   */
  api.route({
    method: 'post',
    path: '/v1/payment-orders/:id/refunds',
    operationId: 'createRefund',
    tag: 'Refunds',
    summary: 'Refund a captured payment order, in full (no amount) or in part',
    params: idParams,
    headers: idempotencyKeyHeader,
    body: refundRequestSchema,
    bodyOptional: true,
    responses: { 202: { description: 'Accepted: the refund runs; read it at Location', schema: refundCreatedSchema, headers: createdHeaders } },
    errors: [409],
    handler: async ({ params, body: request }, req, res) => {
      const key = requireIdempotencyKey(req);
      const paymentOrderId = params.id;
      if (!isPaymentOrderId(paymentOrderId) || !(await findPaymentOrderView(ctx.pool, paymentOrderId))) {
        throw ApiError.notFound('payment order', paymentOrderId);
      }
      if (request.amount !== undefined && ctx.amountRule) {
        const { currency } = (await findPaymentOrderView(ctx.pool, paymentOrderId))!;
        refuseUnsupportedAmounts(ctx, currency, 'refund', [['amount', request.amount]]);
      }
      const refundId = newId(REFUND_ID_PREFIX);

      const scope = 'POST /v1/payment-orders/:id/refunds';
      const hash = requestHash({ paymentOrderId, ...request });
      const ttlHours = ctx.idempotencyKeyTtlHours ?? DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS;
      const claimed = await withTransaction(ctx.pool, async (tx) => {
        const previous = await lockIdempotencyKey<RefundInput, RefundCreated>(tx, { scope, key, requestHash: hash, ttlHours });
        if (previous.kind === 'conflict') {
          throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was already used with a different request body');
        }
        if (previous.kind === 'replay') return { refund: previous.request, answer: previous.response, replay: true, started: previous.started };

        const reservation = await reserveRefund(tx, { refundId, paymentOrderId, amount: request.amount ?? 'remaining', reason: 'requested_by_customer' });
        if (reservation.kind === 'not_refundable') {
          throw new ApiError(409, 'payment_order_not_refundable', `the payment order is ${reservation.status}; only a captured order can be refunded`);
        }
        if (reservation.kind !== 'reserved') {
          const remaining = reservation.kind === 'exceeds_remaining' ? reservation.remaining : 0;
          throw new ApiError(400, 'amount_too_large', `the refund exceeds what is left to refund (${remaining} minor units)`, [
            { field: 'amount', message: `must be at most ${remaining}` },
          ]);
        }
        const answer: RefundCreated = {
          refundId,
          paymentOrderId,
          amount: reservation.refund.amount,
          status: 'PENDING',
          links: { self: `/v1/refunds/${refundId}` },
        };
        await recordIdempotencyKey(tx, { scope, key, requestHash: hash, ttlHours, resourceId: refundId, request: reservation.refund, response: answer });
        return { refund: reservation.refund, answer, replay: false, started: false };
      });
      const { refund, answer } = claimed;
      // A replay starts the refund only if the first attempt died before Temporal took it: a refund the PSP
      // refused must not be sent again, where it might now go through. One still unanswered whose workflow
      // ended without answering (terminated) is run again: the PSP call repeats under the same idempotency key.
      const unanswered = claimed.started && (await findRefundView(ctx.pool, refund.refundId))?.status === 'PENDING';
      if (!claimed.started || unanswered) {
        await startIdempotentWork(ctx.pool, { scope, key, resourceId: refund.refundId }, () =>
          ctx.temporal.workflow.start<typeof refundWorkflow>('refundWorkflow', {
            workflowId: refundWorkflowId(refund.refundId),
            taskQueue: ctx.taskQueue,
            args: [refund, 'requested_by_customer'],
            workflowIdReusePolicy: unanswered ? 'ALLOW_DUPLICATE_FAILED_ONLY' : 'REJECT_DUPLICATE',
          }),
        );
      }
      if (claimed.replay) res.set('Idempotent-Replayed', 'true');
      res.status(202).location(answer.links.self).json(answer);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/refunds/:id',
    operationId: 'getRefund',
    tag: 'Refunds',
    summary: 'One refund',
    params: idParams,
    responses: { 200: { description: 'The refund', schema: refundViewSchema } },
    handler: async ({ params: { id } }, _req, res) => {
      const refund = isRefundId(id) ? await findRefundView(ctx.pool, id) : undefined;
      if (!refund) throw ApiError.notFound('refund', id);
      res.json(refund);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/wallets/:sellerId',
    operationId: 'getWallet',
    tag: 'Wallets',
    summary: 'What the platform owes a seller, per currency (integer minor units)',
    params: z.strictObject({ sellerId: z.string().max(200) }),
    responses: {
      200: {
        description: 'The seller\'s balances',
        schema: z.object({ sellerId: z.string(), balances: z.record(z.string(), z.number().int()) }),
      },
    },
    handler: async ({ params: { sellerId } }, _req, res) => {
      const balances = EXTERNAL_ID_PATTERN.test(sellerId) ? await walletBalances(ctx.pool, sellerId) : undefined;
      if (!balances) throw ApiError.notFound('wallet for seller', sellerId);
      res.json({ sellerId, balances });
    },
  });
}
