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

/** Answers undefined for a cursor this feed did not hand out. */
export function decodeCursor(cursor: string): Position | undefined {
  const match = /^(\d{1,20}):(\d{1,20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? { txid: match[1]!, id: match[2]! } : undefined;
}

/**
 * Events in commit order after a cursor. Ordered by (transaction id, event id), and only from transactions
 * older than every transaction still running: an event that commits later always sorts after every event
 * already read, so paging by cursor never skips one.
 */
export async function readEvents(db: Queryable, after: Position | undefined, limit: number): Promise<EventPage> {
  const from = after ?? { txid: '0', id: '0' };
  const { rows } = await db.query(
    `SELECT id::text, txid::text, type, checkout_id, payment_order_id, refund_id, reconciliation_id, data, created_at
       FROM events
      WHERE (txid, id) > ($1::xid8, $2::bigint)
        AND txid < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY txid, id
      LIMIT $3`,
    [from.txid, from.id, limit + 1],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map((row) => ({
      id: row.id,
      type: row.type,
      checkoutId: row.checkout_id,
      paymentOrderId: row.payment_order_id,
      refundId: row.refund_id,
      reconciliationId: row.reconciliation_id,
      createdAt: row.created_at.toISOString(),
      data: row.data,
    })),
    nextCursor: encodeCursor(last ? { txid: last.txid, id: last.id } : from),
    hasMore: rows.length > limit,
  };
}
