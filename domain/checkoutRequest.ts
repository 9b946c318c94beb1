import { z } from 'zod';
import { EXTERNAL_ID_PATTERN } from './ids';
import { isCurrency, MAX_ORDER_AMOUNT, type Currency } from './money';

/** At most this many sellers in one checkout: each is a child workflow and a PSP authorization. */
export const MAX_ORDERS_PER_CHECKOUT = 50;

// C0 and C1 controls and DEL; with the u flag, \p{Cs} matches only a surrogate that has no partner.
const CONTROL_OR_LONE_SURROGATE = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;
const CONTROL_BUT_LINE_BREAKS_OR_LONE_SURROGATE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]|\p{Cs}/u;

/**
 * Free text a client sends that may reach the database or a workflow. PostgreSQL refuses a NUL byte (a write
 * that fails for ever), a lone surrogate is silently rewritten on its way in, and control characters rewrite
 * what a person later reads in a log or a terminal. `lines` lets tab and newline through, for prose.
 */
export function plainText({ max, lines = false }: { max: number; lines?: boolean }) {
  const forbidden = lines ? CONTROL_BUT_LINE_BREAKS_OR_LONE_SURROGATE : CONTROL_OR_LONE_SURROGATE;
  return z
    .string('must be a string')
    .max(max, `must be at most ${max} characters`)
    .refine((text) => !forbidden.test(text), {
      message: lines
        ? 'must not hold control characters (such as NUL) other than tab and newline, nor unpaired surrogates'
        : 'must not hold control characters (such as NUL) nor unpaired surrogates',
      abort: true,
    });
}

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

export const cancelRequestSchema = z.strictObject({
  reason: plainText({ max: 500, lines: true }).optional(),
});
