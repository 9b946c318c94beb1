import { explore } from './explore/explore';
import { drawScenario } from './explore/scenario';
import { checkEventFeed, checkInvariants, readEventFeed, type Invariant } from './support/invariants';
import { startSettle, type TestSettle } from './support/settle';

/**
 * The bounded slice of the fault explorer that every `npm test` runs: a fixed range of seeds, half on the
 * simulator and half on the Stripe stand-in. `npm run test:explore` runs the full explorer.
 */
const SLICE = { scenarios: 200, seed: 1 };

describe('the fault explorer', () => {
  it('keeps every invariant over a seeded slice of scenarios, on the simulator and on the Stripe stand-in', async () => {
    const result = await explore({
      ...SLICE,
      psp: 'both',
      concurrency: 30,
      authorizationWindowMs: 10_000,
      finishWithinMs: 240_000,
      print: (line) => process.stdout.write(`${line}\n`),
      replayCommand: 'npm run test:explore',
    });
    process.stdout.write(`${result.summary}\n`);
    expect(result.explored).toBe(SLICE.scenarios);
    // Each failing seed with the command that replays it alone, then every violation.
    expect([...result.failing.map((f) => `replay: ${f.replay}`), ...result.violations.map((v) => v.message)]).toEqual([]);
  }, 20 * 60_000);

  it('draws the same scenario from the same seed, and another from another', () => {
    const options = { authorizationWindowMs: 10_000 };
    expect(drawScenario(4242, options)).toEqual(drawScenario(4242, options));
    expect(drawScenario(4243, options)).not.toEqual(drawScenario(4242, options));
  });
});

describe('the invariant checker', () => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle({ psp: 'simulated', isolatedDatabase: true });
  });
  afterAll(() => settle?.stop());

  /** A finished checkout of two orders, and what the checker says of it. */
  async function succeededCheckout() {
    const paymentMethod = await settle.psp.paymentMethod('visa');
    const checkoutId = await settle.createCheckout({
      paymentMethod,
      orders: [
        { sellerId: `seller_a_${paymentMethod}`, amount: 1000 },
        { sellerId: `seller_b_${paymentMethod}`, amount: 2500 },
      ],
    });
    const view = await settle.checkoutResult(checkoutId);
    expect(view.status).toBe('SUCCEEDED');
    return { checkoutId, orderIds: view.orders.map((order) => order.orderId) };
  }

  const invariantsOf = async (checkoutId: string): Promise<Invariant[]> =>
    [...new Set((await checkInvariants({ pool: settle.pool, psp: settle.psp, checkoutIds: [checkoutId], label: 'test' })).map((v) => v.invariant))].sort();

  /** Changes rows as a buggy writer would: the status rules and append-only guards are the database's, not the checker's. */
  async function tamper(sql: string, params: unknown[]): Promise<void> {
    const client = await settle.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SET LOCAL session_replication_role = 'replica'");
      await client.query(sql, params);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  }

  it('finds nothing wrong with a checkout that went right', async () => {
    const { checkoutId } = await succeededCheckout();
    expect(await checkInvariants({ pool: settle.pool, psp: settle.psp, checkoutIds: [checkoutId], label: 'test' })).toEqual([]);
  });

  it('names an order whose books disagree with what the PSP kept', async () => {
    const { checkoutId, orderIds } = await succeededCheckout();
    await tamper('UPDATE payment_orders SET refunded_amount = 100 WHERE id = $1', [orderIds[0]]);
    expect(await invariantsOf(checkoutId)).toEqual(['agreement', 'verify']);
  });

  it('names a hold the PSP still has while Settle says the order was captured', async () => {
    const { checkoutId, orderIds } = await succeededCheckout();
    await tamper(`UPDATE psp_simulator_payments SET status = 'requires_capture', amount_captured = 0 WHERE payment_order_id = $1`, [orderIds[1]]);
    expect(await invariantsOf(checkoutId)).toEqual(['agreement', 'hold', 'verify']);
  });

  it('names an order charged twice', async () => {
    const { checkoutId, orderIds } = await succeededCheckout();
    await tamper(
      `INSERT INTO psp_simulator_payments (id, payment_order_id, amount, currency, payment_method, status)
       SELECT id || '_again', payment_order_id, amount, currency, payment_method, 'canceled' FROM psp_simulator_payments WHERE payment_order_id = $1`,
      [orderIds[0]],
    );
    expect(await invariantsOf(checkoutId)).toContain('double_charge');
  });

  it('names a failed checkout that kept money without saying so, and a status its events never announced', async () => {
    const { checkoutId } = await succeededCheckout();
    await tamper(`UPDATE checkouts SET status = 'FAILED' WHERE id = $1`, [checkoutId]);
    expect(await invariantsOf(checkoutId)).toEqual(['events', 'kept_without_record', 'verify']);
  });

  it('names a state change missing from the outbox, or recorded twice', async () => {
    const first = await succeededCheckout();
    await tamper(`DELETE FROM events WHERE checkout_id = $1 AND type = 'payment_order.authorized'`, [first.checkoutId]);
    expect(await invariantsOf(first.checkoutId)).toEqual(['events']);

    const second = await succeededCheckout();
    await tamper(
      `INSERT INTO events (type, checkout_id, payment_order_id, data)
       SELECT type, checkout_id, payment_order_id, data FROM events WHERE checkout_id = $1 AND type = 'payment_order.succeeded' LIMIT 1`,
      [second.checkoutId],
    );
    expect(await invariantsOf(second.checkoutId)).toEqual(['events']);
  });

  it('names events the feed skipped or repeated', async () => {
    const { checkoutId } = await succeededCheckout();
    const feed = await readEventFeed(settle);
    const mine = feed.filter((event) => event.checkoutId === checkoutId);
    expect(mine.length).toBeGreaterThan(0);
    expect(await checkEventFeed({ pool: settle.pool, feed, checkoutIds: [checkoutId] })).toEqual([]);

    const skipped = feed.filter((event) => event.id !== mine[0]!.id);
    expect((await checkEventFeed({ pool: settle.pool, feed: skipped, checkoutIds: [checkoutId] })).map((v) => v.message)).toEqual([
      expect.stringMatching(new RegExp(`feed: ${checkoutId}: misses 1 of its ${mine.length} events: ${mine[0]!.id} `)),
    ]);
    const repeated = [...feed, mine[1]!];
    expect((await checkEventFeed({ pool: settle.pool, feed: repeated, checkoutIds: [checkoutId] })).map((v) => v.invariant)).toEqual(['feed']);
  });
});
