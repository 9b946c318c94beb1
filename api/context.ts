import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { WebhookSettings } from '../config';
import type { Pool } from '../db/pool';
import type { Currency } from '../domain/money';
import type { StripeWebhooks } from './webhooks';

/** What the HTTP layer needs: the database for reads and idempotency, Temporal to start and ask workflows. */
export interface ApiContext {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** Manual capture: how long a checkout waits for its capture before it releases every hold. */
  authorizationWindowMs: number;
  /** How long an Idempotency-Key answers retries of its first request (default: a day, as Stripe). */
  idempotencyKeyTtlHours?: number | undefined;
  logger: Logger;
  /** How long a checkout's workflow may take to answer a query, a cancel or a capture (default 10 s). */
  workflowAnswerTimeoutMs?: number | undefined;
  /** With PSP=stripe: verifies and handles POST /webhooks/stripe. */
  stripeWebhooks?: StripeWebhooks | undefined;
  /**
   * Why the PSP cannot take an amount (ISO minor units) exactly, or undefined (with PSP=stripe: Stripe's
   * amount rules). Checked before anything starts; without it, every amount is taken.
   */
  amountRule?: ((currency: Currency, amount: number, purpose: 'charge' | 'refund') => string | undefined) | undefined;
  /** Outgoing webhooks: how deliveries retry, and whether endpoints may be private addresses (development). */
  webhookEndpoints?: WebhookSettings | undefined;
}
