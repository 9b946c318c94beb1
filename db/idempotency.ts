import { withTransaction, type Pool, type Queryable } from './pool';

/** Like Stripe: a key answers its first request's retries for a day, then is free for new work. */
export const DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS = 24;

/** A key as a request presents it. */
export interface IdempotencyKey {
  scope: string;
  key: string;
  /** sha256 of the normalized request: the same key with another request is a conflict. */
  requestHash: string;
  /** After this long the key is free again. */
  ttlHours: number;
}

export interface IdempotentRequest<Req, Res> extends IdempotencyKey {
  resourceId: string;
  /** What the request sets in motion; a retry finds it and can finish what the first attempt began. */
  request: Req;
  response: Res;
}

export type IdempotencyOutcome<Req, Res> =
  | { kind: 'new' }
  /** `started`: the work was handed to Temporal (or found there) once; a replay must not hand it over again. */
  | { kind: 'replay'; resourceId: string; request: Req; response: Res; started: boolean }
  | { kind: 'conflict' };

/**
 * Locks an idempotency key for the rest of the transaction, then answers what an earlier request with it
 * left, if any. A key older than its time to live is free again: its row goes here, so the request holding
 * the lock is new work. Work that follows runs only for a new key; recordIdempotencyKey then records it.
 */
export async function lockIdempotencyKey<Req, Res>(tx: Queryable, claim: IdempotencyKey): Promise<IdempotencyOutcome<Req, Res>> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${claim.scope}\n${claim.key}`]);
  await tx.query(
    `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at <= now() - make_interval(hours => $3)`,
    [claim.scope, claim.key, claim.ttlHours],
  );
  const { rows } = await tx.query<{ request_hash: string; resource_id: string; request: Req; response: Res; started: boolean }>(
    `SELECT request_hash, resource_id, request, response, started_at IS NOT NULL AS started
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
    [claim.scope, claim.key],
  );
  const existing = rows[0];
  if (!existing) return { kind: 'new' };
  if (existing.request_hash !== claim.requestHash) return { kind: 'conflict' };
  return { kind: 'replay', resourceId: existing.resource_id, request: existing.request, response: existing.response, started: existing.started };
}

/**
 * Records a new key, under the lock lockIdempotencyKey took. Each new key also clears a few keys that have
 * expired, so that the table holds about one time to live of keys, not every key ever sent.
 */
export async function recordIdempotencyKey<Req, Res>(tx: Queryable, claim: IdempotentRequest<Req, Res>): Promise<void> {
  await tx.query(
    `INSERT INTO idempotency_keys (scope, key, request_hash, resource_id, request, response) VALUES ($1, $2, $3, $4, $5, $6)`,
    [claim.scope, claim.key, claim.requestHash, claim.resourceId, JSON.stringify(claim.request), JSON.stringify(claim.response)],
  );
  await tx.query(
    `DELETE FROM idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM idempotency_keys WHERE created_at <= now() - make_interval(hours => $1)
        ORDER BY created_at LIMIT 10 FOR UPDATE SKIP LOCKED)`,
    [claim.ttlHours],
  );
}

/**
 * Claims an idempotency key for a request whose work needs nothing else in the claiming transaction. The
 * first claim wins; a later claim with the same request gets the first request and answer back, and one
 * with a different request is a conflict.
 */
export async function claimIdempotencyKey<Req, Res>(pool: Pool, claim: IdempotentRequest<Req, Res>): Promise<IdempotencyOutcome<Req, Res>> {
  return withTransaction(pool, async (tx) => {
    const previous = await lockIdempotencyKey<Req, Res>(tx, claim);
    if (previous.kind === 'new') await recordIdempotencyKey(tx, claim);
    return previous;
  });
}

/**
 * Marks the key's work as handed to Temporal. Only the row that set this resource in motion is marked: a key
 * that expired and was claimed again meanwhile belongs to other work.
 */
export async function markIdempotentWorkStarted(db: Queryable, scope: string, key: string, resourceId: string): Promise<void> {
  await db.query(
    'UPDATE idempotency_keys SET started_at = now() WHERE scope = $1 AND key = $2 AND resource_id = $3 AND started_at IS NULL',
    [scope, key, resourceId],
  );
}
