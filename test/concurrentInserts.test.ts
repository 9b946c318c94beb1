import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Currency } from '../domain/money';
import { moveSellerBalance } from '../db/books';
import { createPool, withTransaction, type Pool } from '../db/pool';
import { recordPaymentIntent } from '../db/stripePaymentIntents';
import { recordWebhookDeliveries } from '../db/webhookEndpoints';
import { atOnce, sameAtOnce } from './support/atOnce';
import { recordedOrder, recordedWebhookEndpoint } from './support/records';

/**
 * Writes that create a row on first use (a currency's PSP clearing and fee accounts, say) are made by many
 * activities at once. Whichever commits first, the others must find the row there, never fail on it: a
 * unique violation is a refusal for good (activities/attempt.ts), so a lost race would leave a capture the
 * PSP made unbooked.
 */
let pool: Pool;
beforeAll(() => {
  pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 8);
});
afterAll(() => pool?.end());

/** A currency code no other booking of this run has used: its ledger accounts do not exist yet. */
function freshCurrency(): Currency {
  const letters = randomBytes(3).map((byte) => 65 + (byte % 26));
  return String.fromCharCode(...letters) as Currency;
}

describe('bookings made at once', () => {
  it('all land when they are the first in their currency (its ledger accounts created by whichever commits first)', async () => {
    const refused: string[] = [];
    for (let round = 0; round < 300; round += 1) {
      const currency = freshCurrency();
      const orders = await Promise.all(Array.from({ length: 6 }, () => recordedOrder(pool, { currency })));
      refused.push(
        ...(await atOnce(
          orders.map((order) => () =>
            withTransaction(pool, (tx) => moveSellerBalance(tx, { ...order, step: 'capture', fee: 30, description: `capture of ${order.paymentOrderId}` })),
          ),
        )),
      );
      const { rows } = await pool.query<{ entries: string }>(
        `SELECT count(*) AS entries FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
          WHERE t.payment_order_id = ANY($1::text[])`,
        [orders.map((order) => order.paymentOrderId)],
      );
      if (refused.length === 0) expect(Number(rows[0]!.entries)).toBe(6 * 3);
    }
    expect(refused).toEqual([]);
  });
});

describe('a Stripe PaymentIntent recorded by attempts at once', () => {
  it('is recorded once, and every attempt answers it, when they hold the same intent (a repeated create)', async () => {
    const refused: string[] = [];
    for (let round = 0; round < 150; round += 1) {
      const { paymentOrderId } = await recordedOrder(pool);
      const intent = `pi_${randomBytes(12).toString('hex')}`;
      const answers: string[] = [];
      refused.push(...(await sameAtOnce(6, async () => answers.push(await recordPaymentIntent(pool, paymentOrderId, intent)))));
      if (refused.length === 0) expect(answers).toEqual(Array(6).fill(intent));
    }
    expect(refused).toEqual([]);
  });

  it('answers the first intent recorded to attempts that each made their own', async () => {
    const { paymentOrderId } = await recordedOrder(pool);
    const answers = await Promise.all(['pi_first', 'pi_second', 'pi_third'].map((intent) => recordPaymentIntent(pool, `${paymentOrderId}`, `${intent}_${paymentOrderId}`)));
    expect(new Set(answers).size).toBe(1);
    const { rows } = await pool.query('SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1', [paymentOrderId]);
    expect(rows).toEqual([{ payment_intent_id: answers[0] }]);
  });
});

describe('webhook deliveries recorded by polls at once', () => {
  it('are recorded once per event, and no poll is refused', async () => {
    const refused: string[] = [];
    for (let round = 0; round < 100; round += 1) {
      const endpoint = await recordedWebhookEndpoint(pool);
      const { checkoutId } = await recordedOrder(pool);
      const { rows: events } = await pool.query<{ id: string }>('SELECT id::text FROM events WHERE checkout_id = $1', [checkoutId]);
      expect(events.length).toBeGreaterThan(0);
      const eventIds = events.map((event) => event.id);
      refused.push(...(await sameAtOnce(6, () => recordWebhookDeliveries(pool, endpoint.id, eventIds))));
      const { rows } = await pool.query('SELECT event_id::text FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY event_id', [endpoint.id]);
      expect(rows.map((row) => row.event_id)).toEqual([...eventIds].sort());
    }
    expect(refused).toEqual([]);
  });
});

describe('every insert that takes a conflict as "already there"', () => {
  it('names no conflict target on a table that is unique in more than one way (the races above, wherever they could recur)', async () => {
    const root = path.resolve(__dirname, '..');
    const sources = ['activities', 'api', 'bin', 'db', 'dev', 'psp', 'workers', 'workflows'].flatMap((dir) =>
      readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .map((file) => path.join(dir, file)),
    );
    const { rows } = await pool.query<{ table: string }>(
      `SELECT c.relname AS table FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE x.indisunique AND n.nspname = current_schema() GROUP BY c.relname HAVING count(*) > 1`,
    );
    const uniqueManyWays = new Set(rows.map((row) => row.table));
    expect(uniqueManyWays.has('ledger_accounts')).toBe(true); // the check sees the schema
    const targeted: string[] = [];
    let inserts = 0;
    for (const file of sources) {
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const match of text.matchAll(/INSERT INTO (\w+)[^;`]*?ON CONFLICT\s*(\([^)]*\))?/g)) {
        inserts += 1;
        if (match[2] && uniqueManyWays.has(match[1]!)) targeted.push(`${file}: ${match[1]} ON CONFLICT ${match[2]}`);
      }
    }
    expect(inserts).toBeGreaterThan(5); // the scan finds the inserts it is about
    expect(targeted).toEqual([]);
  });
});
