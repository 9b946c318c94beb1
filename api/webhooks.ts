import { z } from 'zod';
import { WorkflowNotFoundError } from '@temporalio/client';
import Stripe from 'stripe';
import type { PspConfig } from '../config';
import { isPaymentOrderId, paymentOrderWorkflowId } from '../domain/ids';
import { recordWebhookEvent, webhookEventRecorded } from '../db/webhookEvents';
import { pspEventSignal } from '../workflows/definitions';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import type { RouteRegistry } from './routes';

export interface StripeWebhooks {
  stripe: Stripe;
  /** The endpoint's signing secret (whsec_...). */
  secret: string;
}

/** The webhook verifier for PSP=stripe. Signatures are checked locally: this client never calls Stripe. */
export function stripeWebhooksFor(psp: PspConfig): StripeWebhooks | undefined {
  return psp.kind === 'stripe' ? { stripe: new Stripe(psp.secretKey), secret: psp.webhookSecret } : undefined;
}

/**
 * Stripe's webhooks. The signature is checked on the raw body; an event seen before (by id) is acknowledged
 * and ignored; a PaymentIntent event wakes the payment order waiting on it. The event is recorded after the
 * signal, so a signal that fails leaves it unrecorded and Stripe's redelivery tries again. The signal is only
 * a wake-up (the order asks Stripe itself), so a second one, from a redelivery racing this one, costs one
 * read. No transaction is held across the call to Temporal: the outbox feed serves only events older than
 * every running transaction, and would wait on it.
 */
export function webhookRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'post',
    path: '/webhooks/stripe',
    operationId: 'receiveStripeWebhook',
    tag: 'PSP',
    summary: 'Stripe\'s webhook events (PSP=stripe); authenticated by the Stripe-Signature header, not an API key',
    public: true,
    rawBody: { limit: '1mb' },
    body: z.object({ id: z.string(), type: z.string() }).loose().meta({ description: 'A Stripe event, signed' }),
    headers: { 'Stripe-Signature': { description: 'Stripe\'s signature of the body', schema: z.string(), required: true } },
    responses: {
      200: { description: 'The event is taken (or was, before: duplicate)', schema: z.object({ received: z.literal(true), duplicate: z.boolean() }) },
    },
    handler: async (_input, req, res) => {
      const webhooks = ctx.stripeWebhooks;
      if (!webhooks) throw new ApiError(404, 'not_found', 'Stripe webhooks are not enabled (set PSP=stripe)');
      const signature = req.get('Stripe-Signature');
      if (!signature) throw new ApiError(400, 'signature_missing', 'the Stripe-Signature header is required');
      let event: Stripe.Event;
      try {
        event = webhooks.stripe.webhooks.constructEvent(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), signature, webhooks.secret);
      } catch (error) {
        throw new ApiError(400, 'signature_invalid', `the webhook signature does not verify: ${(error as Error).message}`);
      }

      const object = event.data.object as { id?: string; object?: string; metadata?: Record<string, string> };
      const intentId = object.object === 'payment_intent' ? (object.id ?? null) : null;
      const orderId = intentId ? (object.metadata?.payment_order_id ?? null) : null;
      const paymentOrderId = orderId && isPaymentOrderId(orderId) ? orderId : null;
      if (await webhookEventRecorded(ctx.pool, event.id)) {
        res.json({ received: true, duplicate: true });
        return;
      }
      if (paymentOrderId) {
        try {
          await ctx.temporal.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId)).signal(pspEventSignal, { eventId: event.id, type: event.type });
        } catch (error) {
          // The order has finished: nothing waits on this event.
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        }
      }
      const fresh = await recordWebhookEvent(ctx.pool, { id: event.id, type: event.type, paymentIntentId: intentId, paymentOrderId });
      res.json({ received: true, duplicate: !fresh });
    },
  });
}
