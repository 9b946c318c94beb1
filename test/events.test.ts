import { randomUUID } from 'node:crypto';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle();
});
afterAll(() => settle?.stop());

interface FeedEvent {
  id: string;
  type: string;
  checkoutId: string;
  paymentOrderId: string | null;
  data: Record<string, unknown>;
}

/** Reads the whole feed from a cursor, page by page. */
async function readFeed(after?: string, limit = 50): Promise<{ events: FeedEvent[]; cursor: string }> {
  const events: FeedEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await settle.get(`/v1/events?limit=${limit}${cursor ? `&after=${cursor}` : ''}`);
    expect(page.status).toBe(200);
    events.push(...page.body.data);
    cursor = page.body.nextCursor;
    if (!page.body.hasMore) return { events, cursor: cursor! };
  }
}

describe('the event feed', () => {
  it("records every state change of a checkout and its orders, in order", async () => {
    const { cursor } = await readFeed();
    const checkoutId = await settle.createCheckout({ orders: [{ sellerId: uniqueId('s'), amount: 100 }, { sellerId: uniqueId('s'), amount: 200 }] });
    await settle.checkoutResult(checkoutId);
    const types = (await readFeed(cursor, 3)).events.filter((e) => e.checkoutId === checkoutId).map((e) => e.type);
    expect(types[0]).toBe('checkout.created');
    expect(types.filter((t) => t === 'payment_order.authorized')).toHaveLength(2);
    expect(types.filter((t) => t === 'payment_order.succeeded')).toHaveLength(2);
    expect(types.indexOf('checkout.capturing')).toBeGreaterThan(types.lastIndexOf('payment_order.authorized'));
    expect(types.at(-1)).toBe('checkout.succeeded');
    expect(types).toHaveLength(7);
  });

  it('pages without repeating or skipping, and carries the changed row', async () => {
    const { cursor } = await readFeed();
    const checkoutId = await settle.createCheckout({ paymentMethod: 'pm_card_chargeCustomerFail', orders: [{ sellerId: uniqueId('s'), amount: 100 }] });
    await settle.checkoutResult(checkoutId);
    const whole = (await readFeed(cursor, 500)).events;
    const paged = (await readFeed(cursor, 1)).events;
    // Other test files write events meanwhile: the paged read may go further, never differently.
    expect(paged.slice(0, whole.length).map((e) => e.id)).toEqual(whole.map((e) => e.id));
    expect(new Set(paged.map((e) => e.id)).size).toBe(paged.length);
    const failed = whole.find((e) => e.checkoutId === checkoutId && e.type === 'payment_order.failed')!;
    expect(failed.data).toMatchObject({ status: 'FAILED', failure_code: 'card_declined', amount: 100 });
  });

  it('never skips an event whose transaction commits after a later one was read', async () => {
    const { cursor } = await readFeed();
    const slow = await settle.pool.connect();
    const checkoutA = uniqueId('chk');
    const checkoutB = uniqueId('chk');
    const insert = (db: { query: typeof settle.pool.query }, checkoutId: string) =>
      db.query(`INSERT INTO events (type, checkout_id, data) VALUES ('test.event', $1, '{}')`, [checkoutId]);
    try {
      await slow.query('BEGIN');
      await insert(slow, checkoutA); // older transaction, still open
      await insert(settle.pool, checkoutB); // younger transaction, committed first
      const early = await readFeed(cursor);
      expect(early.events.map((e) => e.checkoutId)).not.toContain(checkoutA);
      expect(early.events.map((e) => e.checkoutId)).not.toContain(checkoutB);

      await slow.query('COMMIT');
      const late = (await readFeed(early.cursor)).events.map((e) => e.checkoutId);
      expect(late.indexOf(checkoutA)).toBeGreaterThanOrEqual(0);
      expect(late.indexOf(checkoutB)).toBeGreaterThan(late.indexOf(checkoutA));
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      slow.release();
    }
  });

  it('refuses a cursor it did not hand out and a bad limit', async () => {
    for (const query of [`after=${randomUUID()}`, 'after=%00', 'limit=0', 'limit=abc', 'limit=501', 'other=1']) {
      const answer = await settle.get(`/v1/events?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toEqual(expect.stringMatching(/invalid_cursor|invalid_request/));
    }
  });
});
