import { z } from 'zod';
import type { CheckoutView, PaymentOrderView } from '../domain/checkout';
import type { Currency } from '../domain/money';
import type { RefundView } from '../domain/refund';
import { DISCREPANCY_CLASSES } from '../domain/settlement';
import { CHECKOUT_STATUSES, PAYMENT_ORDER_STATUSES, REFUND_STATUSES } from '../domain/status';
import type { EventRecord } from '../db/events';
import type { ReconciliationView } from '../db/reconciliation';
import type { HeaderSpec } from './routes';

/**
 * The shapes the API answers with, as zod schemas for the OpenAPI document. The views themselves are
 * TypeScript types of the layers below; each schema here is tied to its type at compile time (`Same`), so
 * neither can change without the other.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
function tie<_T extends true>(): void {}

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Machine-readable, stable: what a client branches on' }),
      message: z.string().meta({ description: 'For a person; may change' }),
      details: z.array(z.object({ field: z.string().optional(), message: z.string() }).loose()),
    }),
  })
  .meta({ id: 'Error' });

const currency = z
  .string()
  .regex(/^[A-Z]{3}$/)
  .meta({ description: 'ISO 4217 code' }) as unknown as z.ZodType<Currency>;
const minorUnits = z.number().int().min(0).meta({ description: 'Integer minor units (cents)' });
const timestamp = z.string().meta({ format: 'date-time' });

export const paymentOrderViewSchema = z
  .object({
    orderId: z.string(),
    sellerId: z.string(),
    amount: minorUnits,
    currency,
    status: z.enum(PAYMENT_ORDER_STATUSES),
    pspReference: z.string().nullable(),
    feeAmount: minorUnits,
    refundedAmount: minorUnits,
    failureCode: z.string().nullable(),
    failureMessage: z.string().nullable(),
    failureReason: z.string().nullable(),
  })
  .meta({ id: 'PaymentOrderInCheckout' });
tie<Same<z.output<typeof paymentOrderViewSchema>, PaymentOrderView>>();

export const paymentOrderSchema = paymentOrderViewSchema.extend({ checkoutId: z.string() }).meta({ id: 'PaymentOrder' });

export const checkoutViewSchema = z
  .object({
    checkoutId: z.string(),
    status: z.enum(CHECKOUT_STATUSES),
    customerId: z.string(),
    currency,
    totalAmount: minorUnits,
    capture: z.enum(['automatic', 'manual']),
    allowPartial: z.boolean(),
    failureCode: z.string().nullable(),
    failureReason: z.string().nullable(),
    attention: z
      .object({ code: z.string(), message: z.string(), heldAmount: minorUnits })
      .nullable()
      .meta({ description: 'Money the PSP still holds that the outcome says it should not; null when none' }),
    orders: z.array(paymentOrderViewSchema),
  })
  .meta({ id: 'Checkout' });
tie<Same<z.output<typeof checkoutViewSchema>, CheckoutView>>();

export const refundViewSchema = z
  .object({
    refundId: z.string(),
    paymentOrderId: z.string(),
    checkoutId: z.string(),
    amount: minorUnits,
    currency,
    reason: z.enum(['requested_by_customer', 'sibling_failed', 'checkout_canceled']),
    status: z.enum(REFUND_STATUSES),
    pspReference: z.string().nullable(),
    failureCode: z.string().nullable(),
    failureMessage: z.string().nullable(),
  })
  .meta({ id: 'Refund' });
tie<Same<z.output<typeof refundViewSchema>, RefundView>>();

export const eventSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    checkoutId: z.string().nullable(),
    paymentOrderId: z.string().nullable(),
    refundId: z.string().nullable(),
    reconciliationId: z.string().nullable(),
    createdAt: timestamp,
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });
tie<Same<z.output<typeof eventSchema>, EventRecord>>();

export const reconciliationViewSchema = z
  .object({
    reconciliationId: z.string(),
    date: z.string(),
    status: z.enum(['RUNNING', 'COMPLETED', 'FAILED']),
    lines: z.number().int().nullable(),
    counts: z.record(z.string(), z.number().int()),
    failure: z.object({ line: z.number().int().nullable(), reason: z.string() }).nullable(),
    discrepancies: z.array(
      z.object({
        id: z.string(),
        class: z.enum(DISCREPANCY_CLASSES),
        lineNo: z.number().int().nullable(),
        paymentOrderId: z.string().nullable(),
        balanceTransactionId: z.string().nullable(),
        detail: z.string(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'Reconciliation' });
tie<Same<z.output<typeof reconciliationViewSchema>, ReconciliationView>>();

export const links = z.object({ self: z.string() });

export const idempotencyKeyHeader: Record<string, HeaderSpec> = {
  'Idempotency-Key': {
    description: 'Required. 1-255 printable ASCII characters. A retry with the same key and body answers the first answer',
    schema: z.string().min(1).max(255),
    required: true,
  },
};

export const createdHeaders: Record<string, HeaderSpec> = {
  Location: { description: 'Where the created resource is read', schema: z.string(), required: true },
  'Idempotent-Replayed': { description: '"true" when this answers an earlier request with the same key', schema: z.literal('true') },
};
