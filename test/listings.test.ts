import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

// A database of its own: the stats and the platform's clearing account are checked against every row there is.
let settle: TestSettle;
const customer = uniqueId('cus');
const sellerA = uniqueId('seller');
const sellerB = uniqueId('seller');
/** Checkout ids by outcome, oldest first. */
const made = { succeeded: [] as string[], failed: [] as string[], partial: [] as string[], euro: [] as string[] };
let refundId: string;
let refundedOrderId: string;

async function checkoutOf(orders: Array<{ sellerId: string; amount: number; paymentMethod?: string }>, extra: Record<string, unknown> = {}) {
  const checkoutId = await settle.createCheckout({ customerId: customer, orders, ...extra });
  await settle.checkoutResult(checkoutId);
  return checkoutId;
}

beforeAll(async () => {
  settle = await startSettle({ isolatedDatabase: true });
  for (let i = 0; i < 5; i++) made.succeeded.push(await checkoutOf([{ sellerId: sellerA, amount: 1000 + i }, { sellerId: sellerB, amount: 500 }]));
  made.failed.push(await checkoutOf([{ sellerId: sellerA, amount: 700 }, { sellerId: sellerB, amount: 300, paymentMethod: 'pm_card_chargeCustomerFail' }]));
  made.partial.push(
    await checkoutOf([{ sellerId: sellerA, amount: 800 }, { sellerId: sellerB, amount: 200, paymentMethod: 'pm_card_chargeCustomerFail' }], { allowPartial: true }),
  );
  made.euro.push(await checkoutOf([{ sellerId: sellerA, amount: 900 }], { currency: 'EUR' }));

  refundedOrderId = (await settle.checkout(made.succeeded[0]!)).orders[0]!.orderId;
  const refund = await settle.post(`/v1/payment-orders/${refundedOrderId}/refunds`, { amount: 300 }, { 'Idempotency-Key': uniqueId('key') });
  expect(refund.status).toBe(202);
  refundId = refund.body.refundId;
  await eventually('the refund to succeed', async () => (await settle.get(`/v1/refunds/${refundId}`)).body.status === 'SUCCEEDED');
}, 120_000);
afterAll(() => settle?.stop());

const allMine = () => [...made.succeeded, ...made.failed, ...made.partial, ...made.euro];

/** Follows starting_after from the first page to the last; `between` runs after each page. */
async function walk(path: string, idOf: (item: any) => string, between: () => Promise<void> = async () => undefined) {
  const pages: any[][] = [];
  let after: string | undefined;
  for (;;) {
    const separator = path.includes('?') ? '&' : '?';
    const answer = await settle.get(after === undefined ? path : `${path}${separator}starting_after=${after}`);
    expect(answer.status).toBe(200);
    expect(answer.body.object).toBe('list');
    pages.push(answer.body.data);
    if (!answer.body.has_more) break;
    after = idOf(answer.body.data[answer.body.data.length - 1]);
    await between();
  }
  return pages;
}

/** Ids newest first by (created_at, id), as the database holds them. */
async function newestFirst(table: string, ids: string[]): Promise<string[]> {
  const { rows } = await settle.pool.query(`SELECT id FROM ${table} WHERE id = ANY($1) ORDER BY created_at DESC, id DESC`, [ids]);
  return rows.map((row) => row.id);
}

/** The exact creation time of a row (microseconds), as an ISO 8601 timestamp. */
async function createdAt(table: string, id: string): Promise<string> {
  const { rows } = await settle.pool.query(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM ${table} WHERE id = $1`,
    [id],
  );
  return rows[0].at;
}

describe('pagination', () => {
  it('walks every checkout once, newest first, while new checkouts are created between pages', async () => {
    const before = await newestFirst('checkouts', allMine());
    const createdMeanwhile: string[] = [];
    const pages = await walk(
      `/v1/checkouts?customerId=${customer}&limit=3`,
      (item) => item.checkoutId,
      async () => {
        createdMeanwhile.push(await checkoutOf([{ sellerId: sellerA, amount: 100 }]));
      },
    );
    const walked = pages.flat().map((item) => item.checkoutId);
    expect(walked).toEqual(before);
    expect(pages.map((page) => page.length)).toEqual([3, 3, 2]);
    expect(createdMeanwhile).toHaveLength(2);
    // The new ones are at the head of the list, not in the walk that had passed them.
    const head = await settle.get(`/v1/checkouts?customerId=${customer}&limit=2`);
    expect(head.body.data.map((item: any) => item.checkoutId)).toEqual([...createdMeanwhile].reverse());
    made.succeeded.push(...createdMeanwhile);
  });

  it('walks the unfiltered lists of payment orders and refunds with no duplicates and no gaps', async () => {
    const { rows } = await settle.pool.query('SELECT id FROM payment_orders ORDER BY created_at DESC, id DESC');
    const orders = (await walk('/v1/payment-orders?limit=4', (item) => item.orderId)).flat().map((item) => item.orderId);
    expect(orders).toEqual(rows.map((row) => row.id));
    const refunds = (await walk('/v1/refunds?limit=1', (item) => item.refundId)).flat().map((item) => item.refundId);
    expect(refunds).toEqual([refundId]);
  });

  it('answers each item as its own GET does', async () => {
    const listed = await settle.get(`/v1/checkouts?customerId=${customer}&limit=100`);
    for (const item of listed.body.data) expect(item).toEqual((await settle.get(`/v1/checkouts/${item.checkoutId}`)).body);
    const orders = await settle.get(`/v1/payment-orders?checkoutId=${made.partial[0]}`);
    for (const item of orders.body.data) expect(item).toEqual((await settle.get(`/v1/payment-orders/${item.orderId}`)).body);
    const refunds = await settle.get(`/v1/refunds?paymentOrderId=${refundedOrderId}`);
    expect(refunds.body.data).toEqual([(await settle.get(`/v1/refunds/${refundId}`)).body]);
  });

  it('says has_more, takes 10 by default and at most 100', async () => {
    const one = await settle.get(`/v1/payment-orders?customerId=${customer}&limit=1`);
    expect(one.body).toMatchObject({ object: 'list', has_more: true, url: '/v1/payment-orders' });
    expect(one.body.data).toHaveLength(1);
    const byDefault = await settle.get(`/v1/payment-orders?customerId=${customer}`);
    expect(byDefault.body.data).toHaveLength(10);
    expect(byDefault.body.has_more).toBe(true);
    const all = await settle.get(`/v1/payment-orders?customerId=${customer}&limit=100`);
    const { rows } = await settle.pool.query(
      'SELECT count(*)::int AS n FROM payment_orders o JOIN checkouts c ON c.id = o.checkout_id WHERE c.customer_id = $1',
      [customer],
    );
    expect(all.body.data).toHaveLength(rows[0].n);
    expect(all.body.has_more).toBe(false);
    const last = all.body.data[all.body.data.length - 1];
    const afterLast = await settle.get(`/v1/payment-orders?customerId=${customer}&starting_after=${last.orderId}`);
    expect(afterLast.body).toEqual({ object: 'list', data: [], has_more: false, url: '/v1/payment-orders' });
  });
});

describe('filters', () => {
  const ids = (answer: { body: { data: any[] } }, key: string) => answer.body.data.map((item) => item[key]).sort();

  it('lists checkouts by status and customer', async () => {
    expect(ids(await settle.get(`/v1/checkouts?customerId=${customer}&status=FAILED`), 'checkoutId')).toEqual(made.failed);
    expect(ids(await settle.get(`/v1/checkouts?customerId=${customer}&status=PARTIALLY_SUCCEEDED`), 'checkoutId')).toEqual(made.partial);
    expect(ids(await settle.get(`/v1/checkouts?customerId=${customer}&status=SUCCEEDED&limit=100`), 'checkoutId')).toEqual(
      [...made.succeeded, ...made.euro].sort(),
    );
    expect((await settle.get(`/v1/checkouts?customerId=${uniqueId('cus')}`)).body.data).toEqual([]);
  });

  it('lists checkouts created in a range: from gte included, to lt excluded', async () => {
    const ordered = await newestFirst('checkouts', allMine());
    const [newest, middle, oldest] = [ordered[0]!, ordered[3]!, ordered[ordered.length - 1]!];
    const from = await createdAt('checkouts', middle);
    const atOrAfter = await settle.get(`/v1/checkouts?customerId=${customer}&limit=100&created[gte]=${from}`);
    expect(atOrAfter.body.data.map((item: any) => item.checkoutId)).toEqual(ordered.slice(0, 4));
    const before = await settle.get(`/v1/checkouts?customerId=${customer}&limit=100&created[lt]=${from}`);
    expect(before.body.data.map((item: any) => item.checkoutId)).toEqual(ordered.slice(4));
    const between = await settle.get(
      `/v1/checkouts?customerId=${customer}&created[gte]=${await createdAt('checkouts', oldest)}&created[lt]=${await createdAt('checkouts', newest)}&limit=100`,
    );
    expect(between.body.data.map((item: any) => item.checkoutId)).toEqual(ordered.slice(1));
  });

  it('lists payment orders by checkout, seller, customer, status and range', async () => {
    const failedCheckout = await settle.checkout(made.failed[0]!);
    expect(ids(await settle.get(`/v1/payment-orders?checkoutId=${made.failed[0]}`), 'orderId')).toEqual(
      failedCheckout.orders.map((order) => order.orderId).sort(),
    );
    const ofSellerB = await settle.get(`/v1/payment-orders?sellerId=${sellerB}&limit=100`);
    expect(ofSellerB.body.data.length).toBeGreaterThan(0);
    expect(ofSellerB.body.data.every((order: any) => order.sellerId === sellerB)).toBe(true);
    const { rows } = await settle.pool.query('SELECT id FROM payment_orders WHERE seller_id = $1 ORDER BY created_at DESC, id DESC', [sellerB]);
    expect(ofSellerB.body.data.map((order: any) => order.orderId)).toEqual(rows.map((row) => row.id));

    const declined = await settle.get(`/v1/payment-orders?customerId=${customer}&status=FAILED`);
    const { rows: failedRows } = await settle.pool.query(
      `SELECT o.id FROM payment_orders o JOIN checkouts c ON c.id = o.checkout_id WHERE c.customer_id = $1 AND o.status = 'FAILED'`,
      [customer],
    );
    expect(ids(declined, 'orderId')).toEqual(failedRows.map((row) => row.id).sort());
    expect(declined.body.data.length).toBeGreaterThanOrEqual(2);

    const refunded = await settle.get(`/v1/payment-orders?sellerId=${sellerA}&status=PARTIALLY_REFUNDED`);
    expect(ids(refunded, 'orderId')).toEqual([refundedOrderId]);
    const from = await createdAt('payment_orders', refundedOrderId);
    const sinceRefunded = await settle.get(`/v1/payment-orders?sellerId=${sellerA}&created[gte]=${from}&limit=100`);
    const { rows: since } = await settle.pool.query(
      'SELECT id FROM payment_orders WHERE seller_id = $1 AND created_at >= (SELECT created_at FROM payment_orders WHERE id = $2) ORDER BY created_at DESC, id DESC',
      [sellerA, refundedOrderId],
    );
    expect(sinceRefunded.body.data.map((order: any) => order.orderId)).toEqual(since.map((row) => row.id));
  });

  it('lists refunds by payment order and status', async () => {
    expect(ids(await settle.get(`/v1/refunds?paymentOrderId=${refundedOrderId}&status=SUCCEEDED`), 'refundId')).toEqual([refundId]);
    expect((await settle.get(`/v1/refunds?paymentOrderId=${refundedOrderId}&status=FAILED`)).body.data).toEqual([]);
    const from = await createdAt('refunds', refundId);
    expect(ids(await settle.get(`/v1/refunds?created[gte]=${from}`), 'refundId')).toEqual([refundId]);
    expect((await settle.get(`/v1/refunds?created[lt]=${from}`)).body.data).toEqual([]);
  });
});

describe('bad input is a 400 that names the field', () => {
  const refused: Array<[string, string, string]> = [
    ['/v1/checkouts?limit=0', 'invalid_request', 'limit'],
    ['/v1/checkouts?limit=abc', 'invalid_request', 'limit'],
    ['/v1/checkouts?limit=101', 'invalid_request', 'limit'],
    ['/v1/checkouts?limit=-1', 'invalid_request', 'limit'],
    ['/v1/checkouts?limit=1&limit=2', 'invalid_request', 'limit'],
    ['/v1/checkouts?starting_after=%FF', 'invalid_cursor', 'starting_after'],
    [`/v1/checkouts?starting_after=chk_${'0'.repeat(32)}`, 'invalid_cursor', 'starting_after'],
    ['/v1/checkouts?created[gte]=yesterday', 'invalid_request', 'created[gte]'],
    ['/v1/checkouts?created[lt]=2026-02-30T00:00:00Z', 'invalid_request', 'created[lt]'],
    ['/v1/checkouts?created[gte]=0000-01-01T00:00:00Z', 'invalid_request', 'created[gte]'],
    ['/v1/checkouts?created[gte]=2026-01-02T00:00:00Z&created[lt]=2026-01-01T00:00:00Z', 'invalid_request', 'created[lt]'],
    ['/v1/checkouts?created[gte]=2026-01-01T00:00:00Z&created[lt]=2026-01-01T00:00:00Z', 'invalid_request', 'created[lt]'],
    ['/v1/checkouts?status=DONE', 'invalid_request', 'status'],
    ['/v1/checkouts?customer=cus_1', 'invalid_request', 'customer'],
    ['/v1/checkouts?customerId=a:b', 'invalid_request', 'customerId'],
    ['/v1/checkouts?sellerId=s', 'invalid_request', 'sellerId'],
    ['/v1/payment-orders?checkoutId=po_1', 'invalid_request', 'checkoutId'],
    ['/v1/payment-orders?status=SUCCEEDED&created[gt]=2026-01-01T00:00:00Z', 'invalid_request', 'created[gt]'],
    ['/v1/refunds?paymentOrderId=chk_1', 'invalid_request', 'paymentOrderId'],
    ['/v1/refunds?starting_after=re_%00', 'invalid_cursor', 'starting_after'],
    ['/v1/stats', 'invalid_request', 'created[gte]'],
    ['/v1/stats?created[gte]=2026-01-01T00:00:00Z', 'invalid_request', 'created[lt]'],
    ['/v1/stats?created[gte]=2026-01-01T00:00:00Z&created[lt]=2026-01-02T00:00:00Z&limit=1', 'invalid_request', 'limit'],
    ['/v1/ledger/accounts/psp_clearing:USD/entries?limit=0', 'invalid_request', 'limit'],
    ['/v1/ledger/accounts/psp_clearing:USD/entries?starting_after=abc', 'invalid_cursor', 'starting_after'],
    ['/v1/ledger/accounts/psp_clearing:USD/entries?starting_after=99999999999999999999', 'invalid_cursor', 'starting_after'],
    ['/v1/ledger/accounts/psp_clearing:USD/entries?created[gte]=2026-01-01T00:00:00Z', 'invalid_request', 'created[gte]'],
  ];
  it.each(refused)('%s', async (path, code, field) => {
    const answer = await settle.get(path);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.details.map((detail: any) => detail.field)).toContain(field);
  });

  it('refuses a starting_after that names an item of another list', async () => {
    const order = (await settle.checkout(made.succeeded[0]!)).orders[0]!.orderId;
    for (const [path, cursor] of [
      ['/v1/checkouts', order],
      ['/v1/payment-orders', made.succeeded[0]!],
      ['/v1/refunds', order],
      [`/v1/ledger/accounts/seller_payable:${sellerB}:USD/entries`, await firstEntryOf(`seller_payable:${sellerA}:USD`)],
    ]) {
      const answer = await settle.get(`${path}?starting_after=${cursor}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('invalid_cursor');
    }
  });

  it('answers 404 for a ledger account that does not exist', async () => {
    const answer = await settle.get(`/v1/ledger/accounts/seller_payable:${uniqueId('nobody')}:USD/entries`);
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('not_found');
  });
});

async function firstEntryOf(account: string): Promise<string> {
  return (await settle.get(`/v1/ledger/accounts/${account}/entries?limit=1`)).body.data[0].id;
}

describe('stats', () => {
  it('count and amount by status and currency agree with the rows listed over the same range', async () => {
    const { rows } = await settle.pool.query(`SELECT to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS first FROM checkouts`);
    const gte = rows[0].first;
    const lt = new Date(Date.now() + 60_000).toISOString();
    const stats = await settle.get(`/v1/stats?created[gte]=${gte}&created[lt]=${lt}`);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ object: 'stats', created: { gte, lt } });

    const totals = (items: any[], amountOf: (item: any) => number) => {
      const byKey = new Map<string, { status: string; currency: string; count: number; amount: number }>();
      for (const item of items) {
        const key = `${item.status} ${item.currency}`;
        const total = byKey.get(key) ?? { status: item.status, currency: item.currency, count: 0, amount: 0 };
        total.count += 1;
        total.amount += amountOf(item);
        byKey.set(key, total);
      }
      return [...byKey.values()].sort((a, b) => (a.status + a.currency < b.status + b.currency ? -1 : 1));
    };
    const range = `created[gte]=${gte}&created[lt]=${lt}&limit=100`;
    const checkouts = (await walk(`/v1/checkouts?${range}`, (item) => item.checkoutId)).flat();
    const orders = (await walk(`/v1/payment-orders?${range}`, (item) => item.orderId)).flat();
    const refunds = (await walk(`/v1/refunds?${range}`, (item) => item.refundId)).flat();
    expect(stats.body.checkouts).toEqual(totals(checkouts, (item) => item.totalAmount));
    expect(stats.body.paymentOrders).toEqual(totals(orders, (item) => item.amount));
    expect(stats.body.refunds).toEqual(totals(refunds, (item) => item.amount));

    // Euros are counted apart from dollars, never added to them.
    expect(stats.body.checkouts).toContainEqual({ status: 'SUCCEEDED', currency: 'EUR', count: 1, amount: 900 });
    expect(stats.body.refunds).toEqual([{ status: 'SUCCEEDED', currency: 'USD', count: 1, amount: 300 }]);
  });

  it('answers nothing for a range before any row, with the range given in any time zone', async () => {
    const stats = await settle.get('/v1/stats?created[gte]=2000-01-01T00:00:00Z&created[lt]=2000-01-02T00:00:00%2B02:00');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ checkouts: [], paymentOrders: [], refunds: [] });
  });
});

describe('ledger entries', () => {
  const signed = (entry: any, kind: string) => {
    const debitNormal = kind === 'asset' || kind === 'expense';
    return (entry.direction === 'debit') === debitNormal ? entry.amount : -entry.amount;
  };

  it("walk a seller's account newest first and sum to its balance, which is the seller's wallet", async () => {
    const account = `seller_payable:${sellerA}:USD`;
    const head = await settle.get(`/v1/ledger/accounts/${account}/entries?limit=3`);
    expect(head.status).toBe(200);
    expect(head.body.account).toMatchObject({ id: account, kind: 'liability', currency: 'USD' });
    const pages = await walk(`/v1/ledger/accounts/${account}/entries?limit=3`, (entry) => entry.id);
    const entries = pages.flat();
    expect(new Set(entries.map((entry) => entry.id)).size).toBe(entries.length);
    expect(entries.map((entry) => BigInt(entry.id))).toEqual(entries.map((entry) => BigInt(entry.id)).sort((a, b) => (a > b ? -1 : 1)));
    expect(entries.reduce((sum, entry) => sum + signed(entry, 'liability'), 0)).toBe(head.body.account.balance);

    const wallet = await settle.get(`/v1/wallets/${sellerA}`);
    expect(head.body.account.balance).toBe(wallet.body.balances.USD);
    // Every capture of seller A in dollars is there, and the one refund.
    const { rows } = await settle.pool.query(
      `SELECT count(*)::int AS n FROM payment_orders WHERE seller_id = $1 AND currency = 'USD' AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')`,
      [sellerA],
    );
    expect(entries.filter((entry) => entry.step === 'capture')).toHaveLength(rows[0].n);
    expect(entries.filter((entry) => entry.direction === 'debit')).toEqual([
      expect.objectContaining({ amount: 300, paymentOrderId: refundedOrderId, currency: 'USD' }),
    ]);
    for (const entry of entries) expect(Date.parse(entry.createdAt)).not.toBeNaN();
  });

  it("walk the platform's clearing account and sum to its balance", async () => {
    const pages = await walk('/v1/ledger/accounts/psp_clearing:USD/entries?limit=4', (entry) => entry.id);
    const head = await settle.get('/v1/ledger/accounts/psp_clearing:USD/entries');
    expect(head.body.account.kind).toBe('asset');
    expect(pages.flat().reduce((sum, entry) => sum + signed(entry, 'asset'), 0)).toBe(head.body.account.balance);
    const { rows } = await settle.pool.query(`SELECT count(*)::int AS n FROM ledger_entries WHERE account_id = 'psp_clearing:USD'`);
    expect(pages.flat()).toHaveLength(rows[0].n);
  });
});
