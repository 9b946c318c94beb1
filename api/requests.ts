import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import type { z } from 'zod';
import { ApiError } from './errors';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Every POST that creates money movement carries an Idempotency-Key, as with Stripe. */
export function requireIdempotencyKey(req: Request): string {
  const key = req.get('Idempotency-Key');
  if (key === undefined || key === '') {
    throw new ApiError(400, 'idempotency_key_missing', `the Idempotency-Key header is required for ${req.method} ${req.path}`);
  }
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, 'idempotency_key_invalid', 'the Idempotency-Key header must be 1-255 printable ASCII characters without spaces');
  }
  return key;
}

/** Validates a JSON body; `optional` lets a body-less request through as `{}`. */
export function parseBody<S extends z.ZodType>(req: Request, schema: S, { optional = false } = {}): z.output<S> {
  const empty = req.body === undefined && !req.is('application/json');
  if (empty && !optional) {
    throw new ApiError(415, 'unsupported_media_type', 'send the request as JSON with Content-Type: application/json');
  }
  if (!empty && !req.is('application/json') && !req.is('application/*+json')) {
    throw new ApiError(415, 'unsupported_media_type', 'send the request as JSON with Content-Type: application/json');
  }
  const parsed = schema.safeParse(empty ? {} : req.body);
  if (!parsed.success) throw ApiError.fromValidation(parsed.error);
  return parsed.data;
}

export function newId(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** Identifies a request by its normalized content, so that field order does not make two requests differ. */
export function requestHash(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}
