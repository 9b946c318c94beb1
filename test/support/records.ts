import { randomBytes } from 'node:crypto';
import type { CheckoutInput, PaymentOrderInput } from '../../domain/checkout';
import type { Currency } from '../../domain/money';
import { insertCheckout } from '../../db/checkouts';
import { withTransaction, type Pool } from '../../db/pool';
import { insertWebhookEndpoint, type WebhookEndpointView } from '../../db/webhookEndpoints';
import { uniqueId } from './settle';

/** A checkout of one order recorded in the database as its workflow records it (PROCESSING, the order PENDING). */
export async function recordedOrder(pool: Pool, { amount = 1_000, currency = 'USD' as Currency } = {}): Promise<PaymentOrderInput> {
  const checkoutId = `chk_${randomBytes(16).toString('hex')}`;
  const order: PaymentOrderInput = {
    paymentOrderId: `po_${randomBytes(16).toString('hex')}`,
    checkoutId,
    sellerId: uniqueId('seller'),
    amount,
    currency,
    paymentMethod: 'pm_card_visa',
  };
  const input: CheckoutInput = {
    checkoutId,
    customerId: uniqueId('cus'),
    currency,
    capture: 'automatic',
    allowPartial: false,
    authorizationWindowMs: 60_000,
    orders: [order],
  };
  await withTransaction(pool, (tx) => insertCheckout(tx, input, 'PROCESSING'));
  return order;
}

/** An enabled webhook endpoint for every event, recorded in the database (no workflow polls for it). */
export function recordedWebhookEndpoint(pool: Pool): Promise<WebhookEndpointView> {
  return insertWebhookEndpoint(pool, {
    id: `we_${randomBytes(16).toString('hex')}`,
    url: 'https://example.com/hook',
    events: ['*'],
    description: null,
    secret: `whsec_${randomBytes(16).toString('hex')}`,
  });
}
