import type { RequestHandler } from 'express';
import { checkApiKey } from '../db/apiKeys';
import type { Pool } from '../db/pool';
import { ApiError } from './errors';

const CHALLENGE = 'Bearer realm="Settle"';

const refusals = {
  missing: ['api_key_missing', 'send an API key as Authorization: Bearer <key>'],
  not_bearer: ['api_key_missing', 'the Authorization header must use the Bearer scheme: Authorization: Bearer <key>'],
  malformed: ['api_key_invalid', 'the API key is malformed; keys look like sk_<16 hex digits>_<64 hex digits>'],
  unknown: ['api_key_invalid', 'the API key is not valid'],
  wrong_secret: ['api_key_invalid', 'the API key is not valid'],
  revoked: ['api_key_revoked', 'the API key was revoked'],
  repeated: ['api_key_invalid', 'send one Authorization header, not several'],
} as const;

/** How many Authorization header lines the request has: Node keeps the first and drops the others. */
function authorizationLines(rawHeaders: string[]): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) if (rawHeaders[index]!.toLowerCase() === 'authorization') count += 1;
  return count;
}

/**
 * A request must carry a live API key (`Authorization: Bearer <key>`); one without answers 401 and changes
 * nothing. The route registry runs this before every route that is not public (health, readiness, the Stripe
 * webhook, which proves itself by its signature), before the body is read. The key itself is never logged or
 * echoed: the refusal says only why. The key's id is left in res.locals.apiKeyId, for access logs.
 */
export function requireApiKey(pool: Pool): RequestHandler {
  return (req, res, next) => {
    const refuse = (reason: keyof typeof refusals) => {
      const [code, message] = refusals[reason];
      res.setHeader('WWW-Authenticate', CHALLENGE);
      next(new ApiError(401, code, message));
    };
    const header = req.get('Authorization');
    if (!header) return refuse('missing');
    // Which of several keys counts is a guess a proxy in front may make differently: none does.
    if (authorizationLines(req.rawHeaders) > 1) return refuse('repeated');
    // RFC 9110: the scheme is case-insensitive; one or more spaces before the credentials.
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) return refuse(/^Bearer\b/i.test(header) ? 'malformed' : 'not_bearer');
    checkApiKey(pool, match[1]!).then((check) => {
      if (!check.valid) return refuse(check.reason);
      res.locals.apiKeyId = check.id;
      next();
    }, next);
  };
}
