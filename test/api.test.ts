import { startSettle, uniqueId, type TestSettle } from './support/settle';

let settle: TestSettle;
beforeAll(async () => {
  settle = await startSettle();
});
afterAll(() => settle?.stop());

function checkout(overrides: Record<string, unknown> = {}) {
  return {
    customerId: uniqueId('cus'),
    currency: 'USD',
    paymentMethod: 'pm_card_visa',
    orders: [
      { sellerId: uniqueId('seller'), amount: 1000 },
      { sellerId: uniqueId('seller'), amount: 500 },
    ],
    ...overrides,
  };
}

/** Workflows Temporal holds for a customer: how a test proves that a refused request started nothing. */
async function checkoutsStartedFor(customerId: string): Promise<number> {
  const { count } = await settle.temporal.workflow.count(`CustomerId = '${customerId}'`);
  return count;
}

async function keyWasClaimed(key: string): Promise<boolean> {
  const { rowCount } = await settle.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
  return rowCount === 1;
}

describe('POST /v1/checkouts is idempotent', () => {
  it('answers a retry with the same key and body with the same checkout, and starts it once', async () => {
    const key = uniqueId('key');
    const body = checkout();
    const first = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    const second = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(second.headers.get('Location')).toBe(`/v1/checkouts/${first.body.checkoutId}`);

    await settle.checkoutResult(first.body.checkoutId);
    expect(await checkoutsStartedFor(body.customerId)).toBe(1);
    const { rows } = await settle.pool.query('SELECT count(*)::int AS n FROM checkouts WHERE customer_id = $1', [body.customerId]);
    expect(rows[0].n).toBe(1);
    const charges = await settle.pool.query(
      `SELECT count(*)::int AS n FROM psp_simulator_payments p JOIN payment_orders o ON o.id = p.payment_order_id
        WHERE o.checkout_id = $1`,
      [first.body.checkoutId],
    );
    expect(charges.rows[0].n).toBe(2);
  });

  it('treats the same request with its fields in another order as the same request', async () => {
    const key = uniqueId('key');
    const body = checkout();
    const reordered = { orders: body.orders, paymentMethod: body.paymentMethod, currency: 'usd', customerId: body.customerId };
    const first = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    const second = await settle.post('/v1/checkouts', reordered, { 'Idempotency-Key': key });
    expect(second.status).toBe(202);
    expect(second.body.checkoutId).toBe(first.body.checkoutId);
  });

  it('answers 409 when the key is reused with a different body, and starts nothing new', async () => {
    const key = uniqueId('key');
    const body = checkout();
    const first = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    const other = { ...body, orders: [{ sellerId: uniqueId('seller'), amount: 1 }] };
    const second = await settle.post('/v1/checkouts', other, { 'Idempotency-Key': key });
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: 'idempotency_key_reused', message: expect.any(String) });
    await settle.checkoutResult(first.body.checkoutId);
    expect(await checkoutsStartedFor(body.customerId)).toBe(1);
  });

  it('creates one checkout when the same request arrives many times at once', async () => {
    const key = uniqueId('key');
    const body = checkout();
    const answers = await Promise.all(Array.from({ length: 8 }, () => settle.post('/v1/checkouts', body, { 'Idempotency-Key': key })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    expect(new Set(answers.map((a) => a.body.checkoutId)).size).toBe(1);
    await settle.checkoutResult(answers[0]!.body.checkoutId);
    expect(await checkoutsStartedFor(body.customerId)).toBe(1);
  });
});

describe('bad input gets a 400 naming the problem, and starts nothing', () => {
  // Every row has four values: it.each hands a `done` callback to a function with more parameters than values.
  const cases: Array<[string, (body: ReturnType<typeof checkout>) => unknown, string, string | null]> = [
    ['a negative amount', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: -100 }] }), 'invalid_request', 'orders[0].amount'],
    ['a zero amount', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: 0 }] }), 'invalid_request', 'orders[0].amount'],
    ['a fractional amount', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: 10.5 }] }), 'invalid_request', 'orders[0].amount'],
    ['an amount given as a string', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: '1000' }] }), 'invalid_request', 'orders[0].amount'],
    ['an amount beyond the largest charge', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: 1e20 }] }), 'invalid_request', 'orders[0].amount'],
    ['an unknown currency', (b) => ({ ...b, currency: 'XYZ' }), 'invalid_request', 'currency'],
    ['a currency that is not a string', (b) => ({ ...b, currency: 840 }), 'invalid_request', 'currency'],
    ['empty orders', (b) => ({ ...b, orders: [] }), 'invalid_request', 'orders'],
    ['orders that are not a list', (b) => ({ ...b, orders: { sellerId: 's1', amount: 1 } }), 'invalid_request', 'orders'],
    ['a missing customer', ({ customerId: _, ...rest }) => rest, 'invalid_request', 'customerId'],
    ['a customer id that is a number', (b) => ({ ...b, customerId: 42 }), 'invalid_request', 'customerId'],
    ['a missing payment method', ({ paymentMethod: _, ...rest }) => rest, 'invalid_request', 'paymentMethod'],
    ['a seller id with a colon', (b) => ({ ...b, orders: [{ sellerId: 'a:b', amount: 1 }] }), 'invalid_request', 'orders[0].sellerId'],
    ['the same seller twice', (b) => ({ ...b, orders: [{ sellerId: 's1', amount: 1 }, { sellerId: 's1', amount: 2 }] }), 'invalid_request', 'orders[1].sellerId'],
    ['an unknown field', (b) => ({ ...b, amount: 100 }), 'invalid_request', 'amount'],
    ['an unknown capture mode', (b) => ({ ...b, capture: 'later' }), 'invalid_request', 'capture'],
    ['a body that is a list', () => [], 'invalid_request', null],
    ['a body that is null', () => null, 'invalid_request', null],
  ];

  it.each(cases)('refuses %s', async (_name, mutate, code, field) => {
    const key = uniqueId('key');
    const body = mutate(checkout()) as { customerId?: string };
    const answer = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': key });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code, message: expect.any(String), details: expect.any(Array) });
    if (field) {
      expect(answer.body.error.details).toContainEqual(expect.objectContaining({ field }));
      expect(answer.body.error.message).toContain(field);
    }
    expect(await keyWasClaimed(key)).toBe(false);
    if (typeof body?.customerId === 'string') expect(await checkoutsStartedFor(body.customerId)).toBe(0);
  });

  it('refuses a request without an Idempotency-Key', async () => {
    const body = checkout();
    const answer = await settle.post('/v1/checkouts', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'idempotency_key_missing', message: expect.stringContaining('Idempotency-Key') });
    expect(await checkoutsStartedFor(body.customerId)).toBe(0);
  });

  it('refuses malformed JSON', async () => {
    const key = uniqueId('key');
    const answer = await settle.post('/v1/checkouts', '{"customerId": "c1", "orders": [', { 'Idempotency-Key': key });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_json', message: expect.any(String) });
    expect(await keyWasClaimed(key)).toBe(false);
  });

  it('refuses a body that is not JSON', async () => {
    const response = await fetch(`${settle.baseUrl}/v1/checkouts`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': uniqueId('key'), ...settle.authHeaders },
      body: 'customerId=c1',
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as any).error.code).toBe('unsupported_media_type');
  });

  it('never answers 500, whatever the body', async () => {
    const bodies = ['', '{}', '"text"', '1e999', '{"orders":[null]}', '{"orders":[{"amount":{}}]}', '{"__proto__":{"x":1}}',
      JSON.stringify(checkout({ orders: Array.from({ length: 51 }, (_, i) => ({ sellerId: `s${i}`, amount: 1 })) })),
      JSON.stringify(checkout({ customerId: 'x'.repeat(100_000) }))];
    for (const body of bodies) {
      const answer = await settle.post('/v1/checkouts', body, { 'Idempotency-Key': uniqueId('key') });
      expect([400, 413]).toContain(answer.status);
      expect(answer.body.error.code).toEqual(expect.any(String));
    }
  });
});

describe('reads', () => {
  it('answers 404 with a code for unknown ids and routes', async () => {
    for (const path of [
      '/v1/checkouts/chk_00000000000000000000000000000000',
      '/v1/checkouts/not-an-id',
      '/v1/payment-orders/po_00000000000000000000000000000000',
      '/v1/payment-orders/%27%3B--',
      '/v1/wallets/nobody_here',
      '/v1/refunds/%00',
      '/v1/nothing',
    ]) {
      const answer = await settle.get(path);
      expect(answer.status).toBe(404);
      expect(answer.body.error).toMatchObject({ code: 'not_found', message: expect.any(String) });
    }
  });

  it('answers 400, not 500, when a NUL byte reaches the database', async () => {
    const answer = await settle.get('/v1/reconciliations/rec_%00');
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
  });

  it('reports readiness: the database and Temporal answer', async () => {
    const answer = await settle.get('/readyz');
    expect(answer).toMatchObject({ status: 200, body: { status: 'ready', database: 'ok', temporal: 'ok' } });
  });
});
