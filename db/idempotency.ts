import type { Queryable } from './pool';

export interface IdempotentRequest<Req, Res> {
  scope: string;
  key: string;
  requestHash: string;
  resourceId: string;
  /** What the request sets in motion; a retry finds it and can finish what the first attempt began. */
  request: Req;
  response: Res;
}

export type IdempotencyOutcome<Req, Res> =
  | { kind: 'new' }
  | { kind: 'replay'; request: Req; response: Res }
  | { kind: 'conflict' };

/**
 * Claims an idempotency key for a request. The first claim wins; a later claim with the same request gets
 * the first request and answer back, and one with a different request is a conflict.
 */
export async function claimIdempotencyKey<Req, Res>(
  db: Queryable,
  claim: IdempotentRequest<Req, Res>,
): Promise<IdempotencyOutcome<Req, Res>> {
  const inserted = await db.query(
    `INSERT INTO idempotency_keys (scope, key, request_hash, resource_id, request, response)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING`,
    [claim.scope, claim.key, claim.requestHash, claim.resourceId, JSON.stringify(claim.request), JSON.stringify(claim.response)],
  );
  if (inserted.rowCount === 1) return { kind: 'new' };
  const { rows } = await db.query<{ request_hash: string; request: Req; response: Res }>(
    'SELECT request_hash, request, response FROM idempotency_keys WHERE scope = $1 AND key = $2',
    [claim.scope, claim.key],
  );
  const existing = rows[0]!;
  if (existing.request_hash !== claim.requestHash) return { kind: 'conflict' };
  return { kind: 'replay', request: existing.request, response: existing.response };
}

/**
 * For requests whose work must happen inside the claiming transaction (a refund reserves its amount): locks
 * the key for the rest of the transaction, then answers what an earlier request with it left, if any.
 * Work that follows runs only for a new key; claimIdempotencyKey then records it.
 */
export async function lockIdempotencyKey<Req, Res>(
  tx: Queryable,
  scope: string,
  key: string,
  requestHash: string,
): Promise<IdempotencyOutcome<Req, Res>> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${scope}\n${key}`]);
  const { rows } = await tx.query<{ request_hash: string; request: Req; response: Res }>(
    'SELECT request_hash, request, response FROM idempotency_keys WHERE scope = $1 AND key = $2',
    [scope, key],
  );
  const existing = rows[0];
  if (!existing) return { kind: 'new' };
  if (existing.request_hash !== requestHash) return { kind: 'conflict' };
  return { kind: 'replay', request: existing.request, response: existing.response };
}
