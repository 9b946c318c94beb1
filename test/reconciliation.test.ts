import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSettlementFile } from '../psp/settlementFile';
import { ensureReconciliationSchedule, RECONCILIATION_SCHEDULE_ID } from '../workers/schedules';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

// A database of its own: "a clean day" must mean this file's checkouts, not other test files'.
let settle: TestSettle;
const today = new Date().toISOString().slice(0, 10);
let captured: Array<{ orderId: string; amount: number; fee: number }>;
let declinedOrderId: string;

beforeAll(async () => {
  settle = await startSettle({ isolatedDatabase: true });
  const amounts = [1000, 2000, 3000, 4000, 5000];
  const result = await settle.checkoutResult(
    await settle.createCheckout({ orders: amounts.map((amount) => ({ sellerId: uniqueId('seller'), amount })) }),
  );
  captured = result.orders.map((order) => ({ orderId: order.orderId, amount: order.amount, fee: order.feeAmount }));
  const refund = await settle.post(`/v1/payment-orders/${captured[0]!.orderId}/refunds`, { amount: 250 }, { 'Idempotency-Key': uniqueId('key') });
  await settle.temporal.workflow.getHandle(`refund-${refund.body.refundId}`).result();
  const declined = await settle.checkoutResult(
    await settle.createCheckout({ paymentMethod: 'pm_card_chargeCustomerFail', orders: [{ sellerId: uniqueId('seller'), amount: 700 }] }),
  );
  declinedOrderId = declined.orders[0]!.orderId;
});
afterAll(() => settle?.stop());

async function reconcileFile(file: string) {
  const id = `rec_${randomBytes(8).toString('hex')}`;
  const outcome = await settle.temporal.workflow.execute('reconciliationWorkflow', {
    workflowId: id,
    taskQueue: settle.taskQueue,
    args: [{ date: today, file }],
  });
  return { id, outcome: outcome as any };
}

async function ledgerRows(): Promise<number> {
  const { rows } = await settle.pool.query('SELECT (SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM ledger_transactions) AS n');
  return Number(rows[0].n);
}

const tmpFile = (name: string) => path.join(os.tmpdir(), `${uniqueId(name)}.csv`);

describe('reconciliation against the settlement file', () => {
  it('finds nothing wrong on a clean day, run on demand through the API', async () => {
    const started = await settle.post('/v1/reconciliations', { date: today });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ reconciliationId: expect.stringMatching(/^rec_/), date: today, status: 'RUNNING' });
    await settle.temporal.workflow.getHandle(started.body.reconciliationId).result();

    const run = await settle.get(`/v1/reconciliations/${started.body.reconciliationId}`);
    expect(run.body).toMatchObject({ status: 'COMPLETED', date: today, lines: 6, failure: null, discrepancies: [], nextCursor: null });
    expect(Object.values(run.body.counts)).toEqual([0, 0, 0, 0, 0, 0, 0]);

    const events = await settle.pool.query('SELECT type FROM events WHERE reconciliation_id = $1', [started.body.reconciliationId]);
    expect(events.rows).toEqual([{ type: 'reconciliation.completed' }]);
  });

  it('finds exactly one discrepancy of each class seeded into the file', async () => {
    const file = tmpFile('seeded');
    await writeSettlementFile(settle.psp.psp, today, file);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const [a, b, c, d, e] = captured.map((order) => order.orderId);
    const chargeOf = (orderId: string) => lines.findIndex((line) => line.endsWith(`,charge,${line.split(',')[7]},${orderId}`));
    const edit = (orderId: string, change: (fields: string[]) => void) => {
      const index = chargeOf(orderId);
      const fields = lines[index]!.split(',');
      change(fields);
      fields[5] = String(Number(fields[3]) - Number(fields[4]));
      lines[index] = fields.join(',');
    };
    edit(b!, (f) => (f[3] = String(Number(f[3]) + 1))); // amount_mismatch
    edit(c!, (f) => (f[4] = String(Number(f[4]) + 5))); // fee_mismatch
    edit(d!, (f) => (f[2] = 'eur')); // currency_mismatch
    lines.push(lines[chargeOf(e!)]!); // duplicate
    lines.push(`txn_extra_1,${today}T12:00:00Z,usd,999,59,940,charge,pi_unknown,po_${'f'.repeat(32)}`); // missing_in_ledger
    lines.push(`txn_extra_2,${today}T12:00:00Z,usd,700,50,650,charge,pi_declined,${declinedOrderId}`); // status_mismatch
    lines.splice(chargeOf(a!), 1); // missing_in_psp
    await writeFile(file, `${lines.join('\n')}\n`);

    const before = await ledgerRows();
    const { id, outcome } = await reconcileFile(file);
    expect(outcome.status).toBe('COMPLETED');
    expect(outcome.counts).toEqual({
      missing_in_ledger: 1,
      missing_in_psp: 1,
      amount_mismatch: 1,
      fee_mismatch: 1,
      currency_mismatch: 1,
      duplicate: 1,
      status_mismatch: 1,
    });
    const run = await settle.get(`/v1/reconciliations/${id}?limit=3`);
    expect(run.body.discrepancies).toHaveLength(3);
    const all = [...run.body.discrepancies, ...(await settle.get(`/v1/reconciliations/${id}?after=${run.body.nextCursor}`)).body.discrepancies];
    expect(Object.fromEntries(all.map((found: any) => [found.class, found.paymentOrderId]))).toEqual({
      missing_in_psp: a,
      amount_mismatch: b,
      fee_mismatch: c,
      currency_mismatch: d,
      duplicate: e,
      missing_in_ledger: `po_${'f'.repeat(32)}`,
      status_mismatch: declinedOrderId,
    });
    const onlyFees = await settle.get(`/v1/reconciliations/${id}?class=fee_mismatch`);
    expect(onlyFees.body.discrepancies).toEqual([expect.objectContaining({ paymentOrderId: c, detail: expect.stringMatching(/^PSP fee \d+, ledger \d+$/) })]);
    expect(await ledgerRows()).toBe(before);
  });

  it.each([
    ['a bad header', (header: string, row: string) => [header.replace('gross', 'amount'), row], 1, /bad header/],
    ['a bad number', (header: string, row: string) => [header, row.replace(/,(\d+),(\d+),(-?\d+),charge/, ',12.50,$2,$3,charge')], 2, /gross is not an integer/],
    ['an unknown currency', (header: string, row: string) => [header, row.replace(',usd,', ',xyz,')], 2, /unknown currency 'xyz'/],
    ['a truncated line', (header: string, row: string) => [header, row, row.slice(0, 30)], 3, /expected 9 fields/],
  ])('fails cleanly on %s, naming the line, and changes nothing', async (_name, build, line, reason) => {
    const source = tmpFile('source');
    await writeSettlementFile(settle.psp.psp, today, source);
    const [header, firstRow] = (await readFile(source, 'utf8')).split('\n') as [string, string];
    const file = tmpFile('malformed');
    await writeFile(file, `${build(header, firstRow).join('\n')}\n`);
    const before = await ledgerRows();
    const { id, outcome } = await reconcileFile(file);
    expect(outcome).toEqual({ status: 'FAILED', line, reason: expect.stringMatching(reason) });
    const run = await settle.get(`/v1/reconciliations/${id}`);
    expect(run.body).toMatchObject({ status: 'FAILED', failure: { line, reason: expect.stringMatching(reason) }, discrepancies: [] });
    expect(await ledgerRows()).toBe(before);
  });

  it('refuses a bad date and answers 404 for an unknown run', async () => {
    for (const date of ['2026-02-30', 'yesterday', '2999-01-01']) {
      const answer = await settle.post('/v1/reconciliations', { date });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details[0].field).toBe('date');
    }
    expect((await settle.get('/v1/reconciliations/rec_nope')).status).toBe(404);
  });
});

describe('the nightly schedule', () => {
  it('is created once, runs reconciliation at the configured time, and is updated in place', async () => {
    await ensureReconciliationSchedule(settle.temporal, 'some-older-queue', { hour: 2, minute: 0 });
    await ensureReconciliationSchedule(settle.temporal, settle.taskQueue, { hour: 3, minute: 30 });
    const handle = settle.temporal.schedule.getHandle(RECONCILIATION_SCHEDULE_ID);
    try {
      const schedule = await handle.describe();
      expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconciliationWorkflow', taskQueue: settle.taskQueue });
      expect(schedule.spec.calendars).toEqual([expect.objectContaining({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] })]);
      // Trigger it now, as the schedule would at night: it reconciles the day before.
      await handle.trigger();
      const started = await eventually('the schedule to start a run', async () => {
        const action = (await handle.describe()).info.recentActions[0];
        return action?.action.workflow.workflowId;
      });
      const outcome = (await settle.temporal.workflow.getHandle(started).result()) as any;
      expect(outcome.status).toBe('COMPLETED');
      const run = await settle.get(`/v1/reconciliations/${started}`);
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      expect(run.body).toMatchObject({ status: 'COMPLETED', date: yesterday });
    } finally {
      await handle.delete();
    }
  });
});
