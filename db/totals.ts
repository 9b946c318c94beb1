import { withTransaction, type Pool } from './pool';

/** What the books hold in total, as counters for monitoring: counts by status, money per currency. */
export interface Totals {
  checkoutsByStatus: Array<{ status: string; count: number }>;
  refundsByStatus: Array<{ status: string; count: number }>;
  /** Per currency, in minor units: what payment orders captured, and what was refunded of it. */
  moneyByCurrency: Array<{ currency: string; captured: number; refunded: number }>;
}

/**
 * Reads the totals in two aggregate statements (each table scanned once), in a read-only transaction whose
 * statements PostgreSQL cancels after timeoutMs: a monitoring scrape must never load a large database for long.
 */
export async function readTotals(pool: Pool, timeoutMs: number): Promise<Totals> {
  return withTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    const statuses = await client.query<{ entity: 'checkout' | 'refund'; status: string; count: string }>(
      `SELECT 'checkout' AS entity, status, count(*) AS count FROM checkouts GROUP BY status
       UNION ALL
       SELECT 'refund', status, count(*) FROM refunds GROUP BY status`,
    );
    // An order that captured keeps its amount captured through later refunds (SUCCEEDED, then *REFUNDED).
    const money = await client.query<{ currency: string; captured: string; refunded: string }>(
      `SELECT currency,
              coalesce(sum(amount) FILTER (WHERE status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')), 0) AS captured,
              coalesce(sum(refunded_amount), 0) AS refunded
         FROM payment_orders
        GROUP BY currency`,
    );
    const byStatus = (entity: 'checkout' | 'refund') =>
      statuses.rows.filter((row) => row.entity === entity).map((row) => ({ status: row.status, count: Number(row.count) }));
    return {
      checkoutsByStatus: byStatus('checkout'),
      refundsByStatus: byStatus('refund'),
      moneyByCurrency: money.rows.map((row) => ({ currency: row.currency.trim(), captured: Number(row.captured), refunded: Number(row.refunded) })),
    };
  });
}
