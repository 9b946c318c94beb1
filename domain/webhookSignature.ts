import { createHmac, randomBytes } from 'node:crypto';

/**
 * Outgoing webhooks are signed as Stripe signs its own, so a receiver can check them with Stripe's libraries:
 * `Settle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint's secret>`.
 * The timestamp is signed with the body, so a receiver can refuse an old message replayed to it.
 */
export const SIGNATURE_HEADER = 'Settle-Signature';
/** The event's id, the same on every attempt: a receiver that got it once can ignore it the next time. */
export const EVENT_ID_HEADER = 'Settle-Event-Id';

const SECRET_PREFIX = 'whsec_';

export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64url');
}

export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${timestampSeconds},v1=${v1}`;
}
