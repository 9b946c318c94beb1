import { z } from 'zod';
import { EXTERNAL_ID_PATTERN } from './ids';
import { isCurrency, MAX_ORDER_AMOUNT, type Currency } from './money';

/** At most this many sellers in one checkout: each is a child workflow and a PSP authorization. */
export const MAX_ORDERS_PER_CHECKOUT = 50;

const externalId = z.string().regex(EXTERNAL_ID_PATTERN, 'must be 1-64 letters, digits, "_", "." or "-"');
const paymentMethod = z.string().regex(/^[A-Za-z0-9_]{1,255}$/, 'must be a payment method id such as "pm_card_visa"');
const currency = z
  .string()
  .transform((code) => code.toUpperCase())
  .refine(isCurrency, 'must be an ISO 4217 currency code such as "USD"')
  .transform((code) => code as Currency);

const orderRequest = z.strictObject({
  sellerId: externalId,
  amount: z
    .number({ error: 'must be an integer number of minor units' })
    .int('must be an integer number of minor units (cents), not a fraction')
    .min(1, 'must be at least 1 minor unit')
    .max(MAX_ORDER_AMOUNT, `must be at most ${MAX_ORDER_AMOUNT} minor units`),
  paymentMethod: paymentMethod.optional(),
});

export const checkoutRequestSchema = z
  .strictObject({
    customerId: externalId,
    currency,
    paymentMethod,
    orders: z
      .array(orderRequest)
      .min(1, 'must hold at least one order')
      .max(MAX_ORDERS_PER_CHECKOUT, `must hold at most ${MAX_ORDERS_PER_CHECKOUT} orders`),
    capture: z.enum(['automatic', 'manual'], 'must be "automatic" or "manual"').default('automatic'),
    allowPartial: z.boolean('must be true or false').default(false),
  })
  .superRefine((request, ctx) => {
    const seen = new Set<string>();
    request.orders.forEach((order, index) => {
      if (seen.has(order.sellerId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['orders', index, 'sellerId'],
          message: 'each seller may appear in only one order of a checkout',
        });
      }
      seen.add(order.sellerId);
    });
  });

export type CheckoutRequest = z.output<typeof checkoutRequestSchema>;
