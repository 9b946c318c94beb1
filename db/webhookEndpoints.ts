import { createHash } from 'node:crypto';
import { isWebhookDeliveryId, isWebhookEndpointId, WEBHOOK_DELIVERY_ID_PREFIX, WITHOUT_CHECKOUT_GROUP } from '../domain/webhookEndpoint';
import { encodeCursor, eventRecord, type EventRecord } from './events';
import { keysetPage, UNKNOWN_CURSOR, type ListRequest, type Listed } from './listings';
import type { Queryable } from './pool';

export type WebhookEndpointStatus = 'enabled' | 'disabled';

export interface WebhookEndpointView {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  createdAt: string;
  disabledAt: string | null;
}

/** What a delivery's workflow needs to send it: the endpoint, its secret and the event. */
export interface WebhookEndpointRecord extends WebhookEndpointView {
  secret: string;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'canceled';

export interface WebhookDeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  /** The checkout the event belongs to; null for events of no checkout (reconciliation runs). */
  checkoutId: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastHttpStatus: number | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  failedAt: string | null;
  createdAt: string;
}


const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);

function endpointView(row: Record<string, any>): WebhookEndpointView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    disabledAt: iso(row.disabled_at),
  };
}

function deliveryView(row: Record<string, any>): WebhookDeliveryView {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    checkoutId: row.delivery_group === WITHOUT_CHECKOUT_GROUP ? null : row.delivery_group,
    status: row.status,
    attempts: row.attempts,
    lastHttpStatus: row.last_http_status,
    lastError: row.last_error,
    lastAttemptAt: iso(row.last_attempt_at),
    nextAttemptAt: iso(row.next_attempt_at),
    deliveredAt: iso(row.delivered_at),
    failedAt: iso(row.failed_at),
    createdAt: row.created_at.toISOString(),
  };
}

const DELIVERY_COLUMNS = `id, endpoint_id, event_id::text AS event_id, event_type, delivery_group, status, attempts, last_http_status,
  last_error, last_attempt_at, next_attempt_at, delivered_at, failed_at, created_at`;

export async function insertWebhookEndpoint(
  db: Queryable,
  endpoint: { id: string; url: string; events: string[]; description: string | null; secret: string },
): Promise<WebhookEndpointView> {
  const { rows } = await db.query(
    `INSERT INTO webhook_endpoints (id, url, events, description, secret) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [endpoint.id, endpoint.url, endpoint.events, endpoint.description, endpoint.secret],
  );
  return endpointView(rows[0]);
}

/** Undoes a creation whose workflow could not be started: nothing was delivered to it yet. */
export async function deleteWebhookEndpoint(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM webhook_endpoints WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1)`, [id]);
}

export async function findWebhookEndpoint(db: Queryable, id: string): Promise<WebhookEndpointRecord | undefined> {
  const { rows } = await db.query(`SELECT * FROM webhook_endpoints WHERE id = $1`, [id]);
  return rows[0] ? { ...endpointView(rows[0]), secret: rows[0].secret } : undefined;
}

/**
 * Disables an endpoint and cancels what it still had to receive, together. Disabling twice is disabling once.
 * Answers undefined for an unknown endpoint.
 */
export async function disableWebhookEndpoint(db: Queryable, id: string): Promise<WebhookEndpointView | undefined> {
  const { rows } = await db.query(
    `WITH disabled AS (
       UPDATE webhook_endpoints SET status = 'disabled', disabled_at = clock_timestamp()
        WHERE id = $1 AND status = 'enabled' RETURNING *
     ), canceled AS (
       UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at = NULL
        WHERE endpoint_id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM disabled)
     )
     SELECT * FROM disabled
     UNION ALL
     SELECT * FROM webhook_endpoints WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM disabled)`,
    [id],
  );
  return rows[0] ? endpointView(rows[0]) : undefined;
}

export async function listWebhookEndpoints(db: Queryable, request: ListRequest): Promise<Listed<WebhookEndpointView>> {
  const page = await keysetPage<Record<string, any>>(db, 'webhook_endpoints', '*', isWebhookEndpointId, request, () => []);
  return page === UNKNOWN_CURSOR ? page : { data: page.data.map(endpointView), hasMore: page.hasMore };
}

export async function listWebhookDeliveries(db: Queryable, endpointId: string, request: ListRequest): Promise<Listed<WebhookDeliveryView>> {
  const page = await keysetPage<Record<string, any>>(db, 'webhook_deliveries', DELIVERY_COLUMNS, isWebhookDeliveryId, request, () => [], {
    column: 'endpoint_id',
    value: endpointId,
  });
  return page === UNKNOWN_CURSOR ? page : { data: page.data.map(deliveryView), hasMore: page.hasMore };
}

/**
 * Where the event feed ends now, as a cursor of db/events.ts: a new endpoint receives the events that come
 * after it. Events of transactions still running sort after it, as the feed reads them.
 */
export async function eventFeedEnd(db: Queryable): Promise<string> {
  const { rows } = await db.query(
    `SELECT txid::text AS txid, id::text AS id FROM events
      WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY txid DESC, id DESC LIMIT 1`,
  );
  return encodeCursor(rows[0] ? { txid: rows[0].txid, id: rows[0].id } : { txid: '0', id: '0' });
}

/** A delivery's id is a function of its endpoint and event: recording it again finds the same row. */
export function webhookDeliveryId(endpointId: string, eventId: string): string {
  return WEBHOOK_DELIVERY_ID_PREFIX + createHash('sha256').update(`${endpointId}:${eventId}`).digest('hex').slice(0, 32);
}

/**
 * Records one delivery per event for an enabled endpoint, once (a repeat changes nothing), and answers the
 * groups that have deliveries waiting among them. A disabled endpoint gets none.
 *
 * A delivery is unique by its id and by (endpoint, event): the insert names no conflict target, so that a poll
 * recording the same delivery at the same time as another finds it there on either index instead of failing.
 * The endpoint's row is locked against removal (an endpoint whose workflow could not be started is removed)
 * until the deliveries commit; one removed meanwhile is read as gone, and nothing is recorded for it.
 */
export async function recordWebhookDeliveries(db: Queryable, endpointId: string, eventIds: string[]): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const ids = eventIds.map((eventId) => webhookDeliveryId(endpointId, eventId));
  await db.query(
    `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_txid, event_type, delivery_group)
     SELECT d.id, $1, e.id, e.txid, e.type, coalesce(e.checkout_id, $4)
       FROM unnest($2::text[], $3::bigint[]) AS d (id, event_id)
       JOIN events e ON e.id = d.event_id
      WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1 AND status = 'enabled' FOR KEY SHARE)
      ORDER BY e.txid, e.id
     ON CONFLICT DO NOTHING`,
    [endpointId, ids, eventIds, WITHOUT_CHECKOUT_GROUP],
  );
  const { rows } = await db.query<{ delivery_group: string }>(
    `SELECT DISTINCT delivery_group FROM webhook_deliveries WHERE id = ANY($1::text[]) AND status = 'pending'`,
    [ids],
  );
  return rows.map((row) => row.delivery_group);
}

/** The group's oldest delivery still to send, in the feed's order; none when the group is done. */
export async function nextPendingDelivery(db: Queryable, endpointId: string, group: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM webhook_deliveries
      WHERE endpoint_id = $1 AND delivery_group = $2 AND status = 'pending'
      ORDER BY event_txid, event_id LIMIT 1`,
    [endpointId, group],
  );
  return rows[0]?.id;
}

/** A delivery with what its attempt sends: the endpoint (its URL, secret and status) and the event. */
export interface DeliveryToSend {
  id: string;
  status: WebhookDeliveryStatus;
  endpoint: { id: string; url: string; secret: string; status: WebhookEndpointStatus };
  /** The event as the feed has it, but for createdAt as the row's timestamp: the body gives it in seconds too. */
  event: EventRecord;
}

export async function findDeliveryToSend(db: Queryable, deliveryId: string): Promise<DeliveryToSend | undefined> {
  const { rows } = await db.query(
    `SELECT d.id, d.status, w.id AS endpoint_id, w.url, w.secret, w.status AS endpoint_status,
            e.id::text AS event_id, e.type, e.checkout_id, e.payment_order_id, e.refund_id, e.reconciliation_id, e.created_at, e.data
       FROM webhook_deliveries d
       JOIN webhook_endpoints w ON w.id = d.endpoint_id
       JOIN events e ON e.id = d.event_id
      WHERE d.id = $1`,
    [deliveryId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    status: row.status,
    endpoint: { id: row.endpoint_id, url: row.url, secret: row.secret, status: row.endpoint_status },
    event: eventRecord(row),
  };
}

export type AttemptResult =
  | { outcome: 'delivered'; httpStatus: number }
  | { outcome: 'failed'; httpStatus: number | null; error: string | null; retryInMs: number | null };

/**
 * Records one attempt of a pending delivery: delivered; or failed, to be tried again after retryInMs, or, with
 * none, given up. A delivery no longer pending (canceled meanwhile) keeps its state. Answers its status.
 */
export async function recordDeliveryAttempt(db: Queryable, deliveryId: string, result: AttemptResult): Promise<WebhookDeliveryStatus> {
  const delivered = result.outcome === 'delivered';
  const retryInMs = delivered ? null : result.retryInMs;
  const { rows } = await db.query<{ status: WebhookDeliveryStatus }>(
    `UPDATE webhook_deliveries
        SET attempts = attempts + 1,
            last_attempt_at = clock_timestamp(),
            last_http_status = $2,
            last_error = $3,
            status = CASE WHEN $4 THEN 'delivered' WHEN $5::bigint IS NULL THEN 'failed' ELSE 'pending' END,
            delivered_at = CASE WHEN $4 THEN clock_timestamp() END,
            failed_at = CASE WHEN NOT $4 AND $5::bigint IS NULL THEN clock_timestamp() END,
            next_attempt_at = CASE WHEN NOT $4 AND $5::bigint IS NOT NULL THEN clock_timestamp() + $5::bigint * interval '1 millisecond' END
      WHERE id = $1 AND status = 'pending'
      RETURNING status`,
    [deliveryId, result.httpStatus, delivered ? null : result.error, delivered, retryInMs],
  );
  if (rows[0]) return rows[0].status;
  const current = await db.query<{ status: WebhookDeliveryStatus }>(`SELECT status FROM webhook_deliveries WHERE id = $1`, [deliveryId]);
  return current.rows[0]?.status ?? 'canceled';
}

/** A delivery whose endpoint was disabled is not sent. */
export async function cancelDelivery(db: Queryable, deliveryId: string): Promise<void> {
  await db.query(`UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at = NULL WHERE id = $1 AND status = 'pending'`, [deliveryId]);
}
