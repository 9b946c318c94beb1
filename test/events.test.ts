import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { startSettle, uniqueId, type TestSettle } from './support/settle';

// A PostgreSQL of its own: "the whole feed" must mean this file's events, every one of which the test can count,
// and the transaction ids it moves past a power of ten are the cluster's (a few hundred from a new cluster, where
// the run's shared one would cost up to nine times every id the run has spent, and load it for the other files).
let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle({ ownPostgres: true });
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

/**
 * Reads from a cursor until the feed shows what the test waits for. The feed holds back every event younger
 * than a transaction still running anywhere in the PostgreSQL cluster (other test files write beside this
 * one), so a feed reader polls; one read straight after a checkout ended may come too early.
 */
async function readFeedUntil(after: string | undefined, shows: (events: FeedEvent[]) => boolean, limit = 50): Promise<{ events: FeedEvent[]; cursor: string }> {
  let read = await readFeed(after, limit);
  const deadline = Date.now() + 30_000;
  while (!shows(read.events)) {
    if (Date.now() > deadline) return read; // the assertions that follow say what is missing
    await new Promise((resolve) => setTimeout(resolve, 100));
    read = await readFeed(after, limit);
  }
  return read;
}

const has = (checkoutId: string, type: string) => (events: FeedEvent[]) => events.some((e) => e.checkoutId === checkoutId && e.type === type);

describe('the event feed', () => {
  it("records every state change of a checkout and its orders, in order", async () => {
    const { cursor } = await readFeed();
    const checkoutId = await settle.createCheckout({ orders: [{ sellerId: uniqueId('s'), amount: 100 }, { sellerId: uniqueId('s'), amount: 200 }] });
    await settle.checkoutResult(checkoutId);
    const types = (await readFeedUntil(cursor, has(checkoutId, 'checkout.succeeded'), 3)).events.filter((e) => e.checkoutId === checkoutId).map((e) => e.type);
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
    const whole = (await readFeedUntil(cursor, has(checkoutId, 'checkout.failed'), 500)).events;
    const paged = (await readFeed(cursor, 1)).events;
    expect(paged.map((e) => e.id)).toEqual(whole.map((e) => e.id));
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
      const late = (await readFeedUntil(early.cursor, has(checkoutA, 'test.event'))).events.map((e) => e.checkoutId);
      expect(late.indexOf(checkoutA)).toBeGreaterThanOrEqual(0);
      expect(late.indexOf(checkoutB)).toBeGreaterThan(late.indexOf(checkoutA));
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      slow.release();
    }
  });

  it('refuses a cursor it did not hand out and a bad limit', async () => {
    const cursor = (position: string) => Buffer.from(position).toString('base64url');
    const refused = [
      `after=${randomUUID()}`,
      'after=%00',
      `after=${cursor('18446744073709551616:1')}`, // one past the largest transaction id
      `after=${cursor('99999999999999999999:1')}`,
      `after=${cursor('1:9223372036854775808')}`, // one past the largest event id
      'limit=0',
      'limit=abc',
      'limit=501',
      'other=1',
    ];
    for (const query of refused) {
      const answer = await settle.get(`/v1/events?${query}`);
      expect({ query, status: answer.status }).toEqual({ query, status: 400 });
      expect(answer.body.error.code).toEqual(expect.stringMatching(/invalid_cursor|invalid_request/));
    }
    const last = await settle.get(`/v1/events?after=${cursor('18446744073709551615:9223372036854775807')}`);
    expect(last.status).toBe(200);
    expect(last.body).toMatchObject({ data: [], hasMore: false });
  });
});

/** Inserts `count` events in one transaction and answers that transaction's id. */
async function writeEvents(db: { query: PoolClient['query'] }, count: number, checkoutId = uniqueId('chk')): Promise<bigint> {
  const { rows } = await db.query(
    `INSERT INTO events (type, checkout_id, data) SELECT 'test.event', $1, '{}' FROM generate_series(1, $2::int) RETURNING txid::text`,
    [checkoutId, count],
  );
  return BigInt(rows[0].txid);
}

/** Every event in the database, in commit order. */
async function allEventIds(): Promise<string[]> {
  const { rows } = await settle.pool.query('SELECT id::text AS event_id FROM events ORDER BY txid, id');
  return rows.map((row) => row.event_id);
}

/**
 * Transaction ids are the cluster's (this file's own): spends them, each in a transaction of its own, until the next one is
 * `margin` short of a power of ten, and answers that power. Event ids are moved the same way (a sequence may
 * skip), so both cross a change in digit count within the next few transactions.
 */
async function approachDigitBoundaries(margin: number): Promise<{ txid: bigint; eventId: bigint }> {
  const client = await settle.pool.connect();
  try {
    const current = BigInt((await client.query('SELECT pg_current_xact_id()::text AS xid')).rows[0].xid);
    const txid = 10n ** BigInt(current.toString().length);
    const burn = txid - BigInt(margin) - current;
    if (burn > 0n) {
      await client.query('SET synchronous_commit = off');
      await client.query(`DO $$ BEGIN FOR i IN 1..${burn} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`);
      await client.query('RESET synchronous_commit');
    }
    const lastId = BigInt((await client.query('SELECT coalesce(max(id), 0)::text AS id FROM events')).rows[0].id);
    const eventId = 10n ** BigInt(lastId.toString().length);
    await client.query(`SELECT setval(pg_get_serial_sequence('events', 'id'), $1)`, [String(eventId - 3n)]);
    return { txid, eventId };
  } finally {
    client.release();
  }
}

/** Opens a transaction holding `count` fresh events, to be committed later, after younger ones. */
async function holdOpen(count: number): Promise<{ txid: bigint; commit(): Promise<void> }> {
  const client = await settle.pool.connect();
  await client.query('BEGIN');
  const txid = await writeEvents(client, count);
  return {
    txid,
    async commit() {
      try {
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    },
  };
}

describe('the whole feed', () => {
  it('holds every event exactly once, read from the start in small pages, whatever the length of the ids', async () => {
    const checkouts = await Promise.all(
      Array.from({ length: 20 }, () =>
        settle.createCheckout({ orders: [1, 2, 3].map((n) => ({ sellerId: uniqueId('s'), amount: 100 * n })) }),
      ),
    );
    await Promise.all(checkouts.map((id) => settle.checkoutResult(id)));

    const boundary = await approachDigitBoundaries(20);
    const crossing = await writeEvents(settle.pool, 6); // its event ids cross a power of ten
    const held = [await holdOpen(2), await holdOpen(1), await holdOpen(3)];
    let last = crossing;
    while (last < boundary.txid + 10n) last = await writeEvents(settle.pool, Number(last % 3n) + 1);
    for (const transaction of held.reverse()) await transaction.commit();

    const { rows } = await settle.pool.query(
      `SELECT min(txid)::text AS min_txid, max(txid)::text AS max_txid, min(id)::text AS min_id, max(id)::text AS max_id FROM events`,
    );
    // The feed spans ids of different lengths: sorted as text, they would not be in numeric order.
    expect(rows[0].min_txid.length).toBeLessThan(rows[0].max_txid.length);
    expect(rows[0].min_id.length).toBeLessThan(rows[0].max_id.length);

    const ids = await allEventIds();
    const feed = (await readFeedUntil(undefined, (events) => events.length >= ids.length, 3)).events;
    expect(feed.map((e) => e.id)).toEqual(ids);
    const succeeded = feed.filter((e) => e.type === 'checkout.succeeded' && checkouts.includes(e.checkoutId));
    expect(succeeded.map((e) => e.checkoutId).sort()).toEqual([...checkouts].sort());
  });

  it('a reader polling with its cursor while writers commit out of order sees every event exactly once', async () => {
    const boundary = await approachDigitBoundaries(40);
    const seen: string[] = [];
    let writersDoneAt: number | undefined;
    const reader = (async () => {
      let cursor: string | undefined;
      // Reads on while the writers run, and then until it has read as many events as the database holds
      // (or, should it have lost some, until it plainly never will).
      for (;;) {
        const page = await settle.get(`/v1/events?limit=4${cursor ? `&after=${cursor}` : ''}`);
        if (page.status !== 200) throw new Error(`the feed answered ${page.status}`);
        seen.push(...page.body.data.map((e: FeedEvent) => e.id));
        cursor = page.body.nextCursor;
        if (writersDoneAt !== undefined && !page.body.hasMore) {
          const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM events');
          if (seen.length >= rows[0].n || Date.now() - writersDoneAt > 20_000) return;
        }
      }
    })();

    // Each writer keeps a transaction open while it commits younger ones, then commits the older one.
    const written: bigint[] = [];
    const writer = async (w: number) => {
      for (let round = 0; round < 6; round += 1) {
        const held = await holdOpen(1 + ((w + round) % 3));
        written.push(held.txid);
        for (let n = 0; n < 3; n += 1) written.push(await writeEvents(settle.pool, 1 + ((w + n) % 2)));
        await held.commit();
      }
    };
    try {
      await Promise.all([0, 1, 2, 3].map(writer));
      while (written.every((txid) => txid < boundary.txid + 10n)) written.push(await writeEvents(settle.pool, 1));
      await Promise.all([0, 1].map(writer));
    } finally {
      writersDoneAt = Date.now();
    }

    await reader;
    // The writers' transaction ids changed length while the reader read.
    expect(written.some((txid) => txid < boundary.txid) && written.some((txid) => txid >= boundary.txid)).toBe(true);
    expect(seen).toEqual(await allEventIds());
    expect(new Set(seen).size).toBe(seen.length);
  }, 120_000);
});
