import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { z } from 'zod';
import { markIdempotentWorkStarted } from '../db/idempotency';
import type { Pool } from '../db/pool';
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

/**
 * Validates a JSON body. A body is there when the request carries bytes (a Content-Length above 0, or any
 * Transfer-Encoding); such a body must be JSON, whatever route reads it, or a client's form-encoded
 * `amount=500` would be read as no body at all and mean something else. `optional` lets a request without
 * a body, or with an empty JSON one, through as `{}`.
 */
export function parseBody<S extends z.ZodType>(req: Request, schema: S, { optional = false } = {}): z.output<S> {
  // The JSON parser sets req.body only for a JSON content type; an empty JSON body becomes `{}`.
  const readAsJson = req.body !== undefined;
  const carriesBytes = req.get('Transfer-Encoding') !== undefined || Number(req.get('Content-Length') ?? 0) > 0;
  if (!readAsJson && (carriesBytes || !optional)) {
    throw new ApiError(415, 'unsupported_media_type', 'send the request as JSON with Content-Type: application/json');
  }
  const parsed = schema.safeParse(readAsJson ? req.body : {});
  if (!parsed.success) throw ApiError.fromValidation(parsed.error);
  return parsed.data;
}

/** Validates a route's path parameters or query string: each is text the client chose. */
export function parseParams<S extends z.ZodType>(params: unknown, schema: S): z.output<S> {
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw ApiError.fromValidation(parsed.error);
  return parsed.data;
}

/**
 * The JSON parser's check of the raw bytes: a body that is not valid UTF-8 is refused, not decoded with
 * replacement characters standing in for what the client meant.
 */
export function requireUtf8(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) {
    throw Object.assign(new Error('the request body is not valid UTF-8'), { type: 'encoding.invalid' });
  }
}

/**
 * Hands an idempotent request's workflow to Temporal and marks its key started, so that no replay starts it
 * again: once Temporal no longer retains a finished run, its id-reuse policy would let a second one through.
 * A start that finds the workflow already there is marked too (a concurrent replay, or an attempt that
 * died after the start and before the mark).
 */
export async function startIdempotentWork(pool: Pool, key: { scope: string; key: string; resourceId: string }, start: () => Promise<unknown>): Promise<void> {
  try {
    await start();
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  await markIdempotentWorkStarted(pool, key.scope, key.key, key.resourceId);
}

export function newId(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** Identifies a request by its normalized content, so that field order does not make two requests differ. */
export function requestHash(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}
