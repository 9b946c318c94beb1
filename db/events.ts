import type { Queryable } from './pool';

export interface EventRecord {
  id: string;
  type: string;
  checkoutId: string | null;
  paymentOrderId: string | null;
  refundId: string | null;
  reconciliationId: string | null;
  createdAt: string;
  data: Record<string, unknown>;
}

export interface EventPage {
  events: EventRecord[];
  /** Pass as `after` to read on; the same cursor again answers events committed since. */
  nextCursor: string;
  hasMore: boolean;
}

interface Position {
  txid: string;
  id: string;
}

export function encodeCursor(position: Position): string {
  return Buffer.from(`${position.txid}:${position.id}`).toString('base64url');
}

const MAX_TXID = 2n ** 64n - 1n; // xid8
const MAX_EVENT_ID = 2n ** 63n - 1n; // bigint

/** Answers undefined for a cursor this feed did not hand out (a position beyond the columns' range included). */
export function decodeCursor(cursor: string): Position | undefined {
  const match = /^(\d{1,20}):(\d{1,20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const txid = BigInt(match[1]!);
  const id = BigInt(match[2]!);
  if (txid > MAX_TXID || id > MAX_EVENT_ID) return undefined;
  return { txid: txid.toString(), id: id.toString() };
}

/**
 * Events in commit order after a cursor. Ordered by (transaction id, event id), and only from transactions
 * older than every transaction still running: an event that commits later always sorts after every event
 * already read, so paging by cursor never skips one. The order and the cursor compare the columns as numbers;
 * the text read back for the cursor is named apart from them, lest ORDER BY sort by the text ('781' > '1007').
 */
export async function readEvents(db: Queryable, after: Position | undefined, limit: number): Promise<EventPage> {
  const from = after ?? { txid: '0', id: '0' };
  const { rows } = await db.query(
    `SELECT e.id::text AS event_id, e.txid::text AS event_txid, e.type, e.checkout_id, e.payment_order_id, e.refund_id,
            e.reconciliation_id, e.data, e.created_at
       FROM events e
      WHERE (e.txid, e.id) > ($1::xid8, $2::bigint)
        AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY e.txid, e.id
      LIMIT $3`,
    [from.txid, from.id, limit + 1],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map(eventRecord),
    nextCursor: encodeCursor(last ? { txid: last.event_txid, id: last.event_id } : from),
    hasMore: rows.length > limit,
  };
}

/** An event as read from a row of `events` selected with its id as `event_id`. */
export function eventRecord(row: Record<string, any>): EventRecord {
  return {
    id: row.event_id,
    type: row.type,
    checkoutId: row.checkout_id,
    paymentOrderId: row.payment_order_id,
    refundId: row.refund_id,
    reconciliationId: row.reconciliation_id,
    createdAt: row.created_at.toISOString(),
    data: row.data,
  };
}
