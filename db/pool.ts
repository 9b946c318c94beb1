import pg from 'pg';

export type Pool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

export interface PoolLimits {
  /** How long a caller waits for a connection (a free one, or a new one to open) before it fails. */
  connectionTimeoutMs?: number;
  /** How long one statement may run before PostgreSQL cancels it (SQLSTATE 57014). */
  statementTimeoutMs?: number;
}

export function createPool(connectionString: string, max = 10, limits: PoolLimits = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    ...(limits.connectionTimeoutMs ? { connectionTimeoutMillis: limits.connectionTimeoutMs } : {}),
    ...(limits.statementTimeoutMs ? { statement_timeout: limits.statementTimeoutMs } : {}),
  });
  // An idle client losing its connection must not take the process down; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor must a checked-out one (a transaction between statements or under one, a COPY, a lock held): the pool
  // listens to a client only while it is idle, and a lost connection is an 'error' event on the client itself,
  // which unheard ends the process. The statement under way and every later one fail instead, and the client,
  // no longer queryable, leaves the pool when released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** SQLSTATE of a statement PostgreSQL canceled: statement_timeout ran out. */
const QUERY_CANCELED = '57014';
/** node-postgres's own words for "no connection within connectionTimeoutMillis" (a full pool, or a slow server). */
const CONNECTION_TIMEOUTS = ['timeout exceeded when trying to connect', 'Connection terminated due to connection timeout'];

/**
 * Whether an error says the database is too busy to serve now (a pool limit ran out), rather than that the
 * query was wrong: a caller should retry later.
 */
export function isDatabaseBusy(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (error as { code?: string }).code === QUERY_CANCELED || CONNECTION_TIMEOUTS.includes(error.message);
}

/** Runs fn in one database transaction: all of its writes land, or none do. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
