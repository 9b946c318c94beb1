import type { ErrorRequestHandler } from 'express';
import { ApplicationFailure, NamespaceNotFoundError, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { isDatabaseBusy } from '../db/pool';
import { NOT_CANCELABLE, NOT_CAPTURABLE } from '../workflows/definitions';
import { withoutKeySecrets } from './observability';

/** An answer to a request that cannot be served: HTTP status, a machine-readable code, a human message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }

  static notFound(what: string, id: string): ApiError {
    return new ApiError(404, 'not_found', `no ${what} with id '${id}'`);
  }

  static fromValidation(error: z.ZodError): ApiError {
    const details = error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: 'is not a known field' }))
        : [{ field: fieldName(issue.path), message: issue.message }],
    );
    const first = details[0]!;
    const summary = first.field ? `${first.field}: ${first.message}` : first.message;
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
    return new ApiError(400, 'invalid_request', `${summary}${more}`, details);
  }
}

function fieldName(path: PropertyKey[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index > 0 ? '.' : ''}${String(part)}`)).join('');
}

/**
 * The one table from failures to HTTP answers. Client mistakes are 4xx; an unavailable dependency is 503 so
 * that clients retry; anything else is a defect, logged, and answered 500 without internals.
 */
const bodyParserErrors: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'invalid_json', 'the request body is not valid JSON'],
  'entity.too.large': [413, 'payload_too_large', 'the request body is too large'],
  'encoding.unsupported': [415, 'unsupported_encoding', 'the request body encoding is not supported'],
  'charset.unsupported': [415, 'unsupported_charset', 'the request body charset is not supported; send UTF-8'],
  'encoding.invalid': [400, 'invalid_request', 'the request body is not valid UTF-8'],
  'request.aborted': [400, 'request_aborted', 'the request was aborted before its body arrived'],
  'request.size.invalid': [400, 'invalid_request', 'the request body length does not match Content-Length'],
  'stream.encoding.set': [400, 'invalid_request', 'the request body could not be read'],
};

/** A workflow refusing an update (its validator threw): the checkout is not in a state that allows it. */
const updateRejections: Record<string, [number, string]> = {
  [NOT_CANCELABLE]: [409, 'checkout_not_cancelable'],
  [NOT_CAPTURABLE]: [409, 'checkout_not_capturable'],
};

/** What a 503 asks a client to wait before it retries. */
const RETRY_AFTER_SECONDS = 1;

const UNAVAILABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', '53300']);

/** gRPC status codes Temporal answers for a request that will not pass however often it is retried. */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;

/**
 * A Temporal refusal that is the operator's to fix, not an outage: a namespace that does not exist, or
 * one without Settle's search attributes. Named, so that nobody waits for it to come back.
 */
function temporalMisconfiguration(error: ServiceError): string | undefined {
  const cause = error.cause as (Error & { code?: number; details?: string }) | undefined;
  const detail = cause?.details ?? cause?.message ?? '';
  if (cause?.code === GRPC_NOT_FOUND && /namespace/i.test(detail)) {
    return `Temporal has no such namespace (${detail}); set TEMPORAL_NAMESPACE to one that exists, or create it`;
  }
  if (cause?.code === GRPC_INVALID_ARGUMENT && /search attribute/i.test(detail)) {
    return `Temporal refused Settle's search attributes (${detail}); start a Settle worker against this namespace: it registers them`;
  }
  return undefined;
}

export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  // Express's router refuses a path segment that is not valid percent-encoding (`/v1/checkouts/%FF`).
  if (error instanceof URIError && (error as { status?: number }).status === 400) {
    return new ApiError(400, 'invalid_request', `the path is not valid percent-encoding (${error.message})`);
  }
  const parserError = bodyParserErrors[(error as { type?: string })?.type ?? ''];
  if (parserError) return new ApiError(...parserError);
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
    const rejection = updateRejections[error.cause.type ?? ''];
    if (rejection) return new ApiError(rejection[0], rejection[1], error.cause.message);
  }
  if (error instanceof WorkflowNotFoundError) return new ApiError(404, 'not_found', 'no such checkout');
  if (error instanceof NamespaceNotFoundError) {
    return new ApiError(503, 'temporal_misconfigured', `Temporal has no namespace '${error.namespace}'; set TEMPORAL_NAMESPACE to one that exists, or create it`);
  }
  if (error instanceof ServiceError) {
    const misconfigured = temporalMisconfiguration(error);
    if (misconfigured) return new ApiError(503, 'temporal_misconfigured', misconfigured);
    return new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; retry later');
  }
  // PostgreSQL refuses text holding a NUL byte (or not UTF-8): the client sent it, whichever route took it.
  if ((error as { code?: string })?.code === '22021') {
    return new ApiError(400, 'invalid_request', 'the request holds characters that are not allowed (NUL bytes or invalid UTF-8)');
  }
  if (isDatabaseBusy(error)) {
    return new ApiError(503, 'database_busy', 'the database is too busy to answer in time; retry later');
  }
  if (UNAVAILABLE_NETWORK_CODES.has((error as { code?: string })?.code ?? '')) {
    return new ApiError(503, 'service_unavailable', 'a backing service is unavailable; retry later');
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    // The request's own logger (pino-http's) puts its Request-Id on the line.
    const log = req.log ?? logger;
    const apiError = toApiError(error);
    if (!apiError) {
      log.error({ err: error, method: req.method, path: withoutKeySecrets(req.path) }, 'unhandled error');
      res.status(500).json({ error: { code: 'internal_error', message: 'internal error', details: [] } });
      return;
    }
    if (apiError.status >= 500) log.warn({ err: error, path: withoutKeySecrets(req.path) }, apiError.message);
    // Every 5xx Settle answers by design is a dependency that is down or busy: worth a retry, not at once.
    if (apiError.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    res.status(apiError.status).json({ error: { code: apiError.code, message: apiError.message, details: apiError.details } });
  };
}
