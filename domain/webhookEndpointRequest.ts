import { z } from 'zod';
import { plainText } from './checkoutRequest';
import { ALL_EVENTS, WEBHOOK_EVENT_TYPES } from './webhookEndpoint';
import { webhookUrlProblem } from './webhookUrl';

const MAX_URL_LENGTH = 2048;

/** POST /v1/webhook-endpoints. Whether the URL's host is public is checked apart: it may need a DNS answer. */
export const webhookEndpointRequestSchema = z.strictObject({
  url: plainText({ max: MAX_URL_LENGTH }).superRefine((url, ctx) => {
    const problem = URL.canParse(url) ? webhookUrlProblem(new URL(url)) : 'must be an absolute URL such as https://example.com/webhooks';
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  events: z
    .array(z.string('must be a string'), 'must be a list of event types')
    .min(1, 'must name at least one event type, or "*"')
    .superRefine((events, ctx) => {
      events.forEach((type, index) => {
        if (type !== ALL_EVENTS && !WEBHOOK_EVENT_TYPES.includes(type)) {
          ctx.addIssue({ code: 'custom', path: [index], message: `is not an event type; use "*" or one of ${WEBHOOK_EVENT_TYPES.join(', ')}` });
        }
      });
      if (new Set(events).size !== events.length) ctx.addIssue({ code: 'custom', message: 'names an event type more than once' });
    }),
  description: plainText({ max: 500, lines: true }).optional(),
});
export type WebhookEndpointRequest = z.output<typeof webhookEndpointRequestSchema>;
