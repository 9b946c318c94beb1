import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from './pool';

/**
 * An API key is `sk_<id>_<secret>`: the id (16 hex digits) finds the row, the secret (32 random bytes, 64 hex
 * digits) proves the caller holds the key. Hex, so that a double click in a terminal selects the whole key.
 */
export const API_KEY_PATTERN = /^sk_([0-9a-f]{16})_([0-9a-f]{64})$/;

export interface ApiKeyRecord {
  id: string;
  name: string;
  displayPrefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export type ApiKeyCheck = { valid: true; id: string } | { valid: false; reason: 'malformed' | 'unknown' | 'wrong_secret' | 'revoked' };

/** Names are for people: one line of printable text. */
const NAME_PATTERN = /^[^\x00-\x1f\x7f]{1,100}$/;

export function isApiKeyName(name: string): boolean {
  return NAME_PATTERN.test(name) && name.trim() === name && name.length > 0;
}

function parse(key: string): { id: string; secret: string } | undefined {
  const match = API_KEY_PATTERN.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function displayPrefix(id: string, secret: string): string {
  return `sk_${id}_${secret.slice(0, 4)}`;
}

const COLUMNS = 'id, name, display_prefix AS "displayPrefix", created_at AS "createdAt", revoked_at AS "revokedAt"';

/** Makes a new key and records it; the key itself is in the answer only, never in the database. */
export async function createApiKey(db: Queryable, name: string): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!isApiKeyName(name)) throw new Error('an API key name is 1-100 characters on one line, without leading or trailing spaces');
  const key = `sk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('hex')}`;
  const registered = await registerApiKey(db, key, name);
  // 64 random bits of id do not collide in practice; a collision is refused by the primary key, never merged.
  if (registered.outcome !== 'registered') throw new Error('a new API key id collided with an existing one; try again');
  return { key, record: registered.record };
}

/**
 * Records a key chosen elsewhere (SETTLE_API_KEY), unless its id is already taken. Answers what became of it:
 * a key already known is left as it is, revoked or not, and a different key under the same id is not stored.
 */
export async function registerApiKey(
  db: Queryable,
  key: string,
  name: string,
): Promise<{ outcome: 'registered' | 'known' | 'revoked' | 'id_taken'; record: ApiKeyRecord }> {
  const parsed = parse(key);
  if (!parsed) throw new Error('not an API key (sk_<16 hex digits>_<64 hex digits>)');
  const inserted = await db.query<ApiKeyRecord>(
    `INSERT INTO api_keys (id, name, secret_sha256, display_prefix) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    [parsed.id, name, secretHash(parsed.secret), displayPrefix(parsed.id, parsed.secret)],
  );
  if (inserted.rows[0]) return { outcome: 'registered', record: inserted.rows[0] };
  const check = await checkApiKey(db, key);
  const record = (await findApiKey(db, parsed.id))!;
  if (check.valid) return { outcome: 'known', record };
  return { outcome: check.reason === 'revoked' ? 'revoked' : 'id_taken', record };
}

/**
 * Whether a presented key is a live one. The secret's hash is compared in constant time, and an unknown id
 * is compared against a stand-in hash, so the answer's timing says nothing about the secret.
 */
export async function checkApiKey(db: Queryable, key: string): Promise<ApiKeyCheck> {
  const parsed = parse(key);
  if (!parsed) return { valid: false, reason: 'malformed' };
  const { rows } = await db.query<{ secretSha256: Buffer; revoked: boolean }>(
    'SELECT secret_sha256 AS "secretSha256", revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = $1',
    [parsed.id],
  );
  const row = rows[0];
  const matches = timingSafeEqual(secretHash(parsed.secret), row?.secretSha256 ?? UNKNOWN_KEY_HASH);
  if (!row) return { valid: false, reason: 'unknown' };
  if (!matches) return { valid: false, reason: 'wrong_secret' };
  if (row.revoked) return { valid: false, reason: 'revoked' };
  return { valid: true, id: parsed.id };
}

const UNKNOWN_KEY_HASH = Buffer.alloc(32);

export async function findApiKey(db: Queryable, id: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await db.query<ApiKeyRecord>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  return rows[0];
}

/** Revokes a key for good; revoking it again changes nothing. Answers undefined for an id never issued. */
export async function revokeApiKey(db: Queryable, id: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await db.query<ApiKeyRecord>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return rows[0];
}

/** Every key ever issued, oldest first, revoked ones included; never a secret. */
export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<ApiKeyRecord>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
  return rows;
}
