import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { checkoutWorkflowId } from '../domain/ids';
import type { Psp } from '../psp/types';
import { expectBooksAgree } from './support/agreement';
import { PSP_KINDS } from './support/psps';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

const run = promisify(execFile);

describe.each(PSP_KINDS)('with PSP=%s', (kind) => {
let settle: TestSettle;
/** Its manual-capture checkouts' authorizations run out at once: a test of expiry waits only for the outcome. */
let shortWindow: TestSettle;
const SHORT_WINDOW_MS = 1500;
beforeAll(async () => {
  [settle, shortWindow] = await Promise.all([startSettle({ psp: kind }), startSettle({ psp: kind, authorizationWindowMs: SHORT_WINDOW_MS })]);
});
afterAll(() => Promise.all([settle?.stop(), shortWindow?.stop()]));

const twoOrders = () => [
  { sellerId: uniqueId('seller'), amount: 1500 },
  { sellerId: uniqueId('seller'), amount: 2500 },
];

async function cancel(checkoutId: string, reason = 'buyer changed their mind') {
  return settle.post(`/v1/checkouts/${checkoutId}/cancel`, { reason });
}

async function checkoutEvents(checkoutId: string): Promise<string[]> {
  const { rows } = await settle.pool.query('SELECT type FROM events WHERE checkout_id = $1 ORDER BY id', [checkoutId]);
  return rows.map((row) => row.type);
}

/**
 * Holds the PSP calls of one kind for orders of this amount until the test lets them go, so the test decides
 * when they land instead of racing a delay. The hold is in front of the PSP: nothing reaches it meanwhile.
 */
function holdPsp(target: TestSettle, operation: 'authorize' | 'capture', amount: number): { release(): void } {
  const psp: Psp = target.psp.psp;
  const original = psp[operation] as (request: { amount: number }) => Promise<unknown>;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  (psp as unknown as Record<string, unknown>)[operation] = async (request: { amount: number }) => {
    if (request.amount === amount) await opened;
    return original.call(psp, request);
  };
  return {
    release() {
      (psp as unknown as Record<string, unknown>)[operation] = original;
      open();
    },
  };
}

/** A manual-capture checkout whose orders have all authorized and which waits for its capture. */
async function authorizedCheckout(): Promise<string> {
  const checkoutId = await settle.createCheckout({ capture: 'manual', orders: twoOrders() });
  await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
  return checkoutId;
}

describe('cancel', () => {
  it('before any order is authorized: nothing is held, every order is canceled', async () => {
    // The PSP is down for this payment method: authorizations keep retrying until the cancel arrives.
    const down = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'authorize', paymentMethod: down }, { kind: 'transient', times: 1_000 });
    const checkoutId = await settle.createCheckout({ paymentMethod: down, orders: twoOrders() });
    await eventually('the checkout to be authorizing', async () => (await settle.checkout(checkoutId)).status === 'PROCESSING');

    const answer = await cancel(checkoutId);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ checkoutId, cancelRequested: true });

    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'CANCELED', failureCode: 'checkout_canceled', failureReason: 'Canceled: buyer changed their mind' });
    expect(result.orders.map((o) => o.status)).toEqual(['CANCELED', 'CANCELED']);
    for (const order of result.orders) expect(await settle.psp.chargesFor(order.orderId)).toEqual([]);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('after authorization: every hold is voided and no money moves', async () => {
    const checkoutId = await authorizedCheckout();
    expect((await cancel(checkoutId)).status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    expect(result.orders.map((o) => [o.status, o.failureCode])).toEqual([
      ['VOIDED', 'checkout_canceled'],
      ['VOIDED', 'checkout_canceled'],
    ]);
    for (const order of result.orders) {
      expect(await settle.psp.chargesFor(order.orderId)).toEqual([expect.objectContaining({ status: 'canceled', amountCaptured: 0 })]);
    }
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('after capture: captured orders are refunded, wallets debited back and the ledger reversed', async () => {
    // The second order's capture is held, so the cancel lands while the checkout is capturing and the first is captured.
    const [fast, held] = twoOrders();
    const capture = holdPsp(settle, 'capture', held!.amount);
    let result;
    try {
      const checkoutId = await settle.createCheckout({ orders: [fast, held] });
      await eventually('one order to be captured', async () => (await settle.checkout(checkoutId)).orders[0]!.status === 'SUCCEEDED');
      const view = await settle.checkout(checkoutId);
      expect([view.status, view.orders[1]!.status]).toEqual(['CAPTURING', 'AUTHORIZED']);

      expect((await cancel(checkoutId)).status).toBe(202);
      capture.release();
      result = await settle.checkoutResult(checkoutId);
    } finally {
      capture.release();
    }
    expect(result.status).toBe('CANCELED');
    expect(result.orders.map((o) => [o.status, o.refundedAmount, o.failureCode])).toEqual([
      ['REFUNDED', 1500, 'checkout_canceled'],
      ['REFUNDED', 2500, 'checkout_canceled'],
    ]);
    expect((await settle.get(`/v1/wallets/${fast!.sellerId}`)).body.balances).toEqual({ USD: 0 });
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('from a shell with the real temporal CLI', async () => {
    const cli = process.env.SETTLE_TEST_TEMPORAL_CLI;
    if (!cli) throw new Error('the test setup found no temporal CLI binary');
    const checkoutId = await authorizedCheckout();
    await run(cli, [
      'workflow', 'signal',
      '--address', process.env.SETTLE_TEST_TEMPORAL_ADDRESS!,
      '--workflow-id', checkoutWorkflowId(checkoutId),
      '--name', 'cancel',
      '--input', '{"reason":"canceled from the shell"}',
    ]);
    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'CANCELED', failureReason: 'Canceled: canceled from the shell' });
    expect(result.orders.map((o) => o.status)).toEqual(['VOIDED', 'VOIDED']);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it("through Temporal's own workflow cancellation, compensating all the same", async () => {
    const checkoutId = await authorizedCheckout();
    await settle.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).cancel();
    const result = await settle.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'CANCELED', failureCode: 'checkout_canceled' });
    expect(result.orders.map((o) => o.status)).toEqual(['VOIDED', 'VOIDED']);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('twice has the effect of once', async () => {
    const checkoutId = await authorizedCheckout();
    const [first, second] = await Promise.all([cancel(checkoutId, 'first'), cancel(checkoutId, 'second')]);
    expect([first.status, second.status]).toEqual([202, 202]);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('CANCELED');
    const again = await cancel(checkoutId);
    expect(again.status).toBe(409);
    const events = await checkoutEvents(checkoutId);
    expect(events.filter((type) => type === 'checkout.canceled')).toHaveLength(1);
    expect(events.filter((type) => type === 'payment_order.voided')).toHaveLength(2);
    await expectBooksAgree(settle.pool, settle.psp, result);
  });

  it('of a finished checkout answers 409 and changes nothing', async () => {
    const checkoutId = await settle.createCheckout({ orders: twoOrders() });
    const before = await settle.checkoutResult(checkoutId);
    const eventsBefore = await checkoutEvents(checkoutId);
    const answer = await cancel(checkoutId);
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatchObject({ code: 'checkout_not_cancelable', message: expect.stringContaining('SUCCEEDED') });
    expect(await settle.checkout(checkoutId)).toEqual(before);
    expect(await checkoutEvents(checkoutId)).toEqual(eventsBefore);
  });

  it('of an unknown checkout answers 404', async () => {
    const answer = await cancel(`chk_${'0'.repeat(32)}`);
    expect(answer.status).toBe(404);
  });
});

describe('manual capture', () => {
  it('authorizes, waits for the capture call, then captures', async () => {
    const checkoutId = await authorizedCheckout();
    const waiting = await settle.checkout(checkoutId);
    expect(waiting.orders.map((o) => o.status)).toEqual(['AUTHORIZED', 'AUTHORIZED']);
    const answer = await settle.post(`/v1/checkouts/${checkoutId}/capture`, {});
    expect(answer.status).toBe(202);
    const result = await settle.checkoutResult(checkoutId);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.orders.map((o) => o.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    await expectBooksAgree(settle.pool, settle.psp, result);

    const late = await settle.post(`/v1/checkouts/${checkoutId}/capture`, {});
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('checkout_not_capturable');
  });

  it('refuses a capture call for a checkout that captures by itself', async () => {
    // Its authorizations are held, so the checkout is still running when the capture call is answered.
    const orders = twoOrders();
    const authorize = holdPsp(settle, 'authorize', orders[1]!.amount);
    let checkoutId;
    try {
      checkoutId = await settle.createCheckout({ orders });
      const answer = await settle.post(`/v1/checkouts/${checkoutId}/capture`, {});
      expect(answer.status).toBe(409);
      expect(answer.body.error.code).toBe('checkout_not_capturable');
      expect(answer.body.error.message).toMatch(/^the checkout is (PENDING|PROCESSING);/);
    } finally {
      authorize.release();
    }
    expect((await settle.checkoutResult(checkoutId)).status).toBe('SUCCEEDED');
  });

  it('voids every hold itself when the authorization window runs out', async () => {
    // The test never acts inside the window: it starts the checkout and waits for the outcome.
    const checkoutId = await shortWindow.createCheckout({ capture: 'manual', orders: twoOrders() });
    const result = await shortWindow.checkoutResult(checkoutId);
    expect(result).toMatchObject({ status: 'CANCELED', failureCode: 'authorization_expired' });
    expect(result.orders.map((o) => [o.status, o.failureCode])).toEqual([
      ['VOIDED', 'authorization_expired'],
      ['VOIDED', 'authorization_expired'],
    ]);
    // Every order was authorized and the checkout waited for its capture; then the window's timer fired.
    const { rows } = await shortWindow.pool.query('SELECT type FROM events WHERE checkout_id = $1 ORDER BY id', [checkoutId]);
    const types: string[] = rows.map((row) => row.type);
    expect(types.filter((type) => type === 'payment_order.authorized')).toHaveLength(2);
    expect(types.indexOf('checkout.requires_capture')).toBeGreaterThan(types.lastIndexOf('payment_order.authorized'));
    expect(types.indexOf('payment_order.voided')).toBeGreaterThan(types.indexOf('checkout.requires_capture'));
    const history = await shortWindow.temporal.workflow.getHandle(checkoutWorkflowId(checkoutId)).fetchHistory();
    const timers = (history.events ?? []).filter((event) => event.timerStartedEventAttributes);
    const durationMs = ({ seconds, nanos }: { seconds?: unknown; nanos?: number | null }) => Number(String(seconds ?? 0)) * 1000 + (nanos ?? 0) / 1e6;
    expect(timers.map((event) => durationMs(event.timerStartedEventAttributes!.startToFireTimeout!))).toEqual([SHORT_WINDOW_MS]);
    expect((history.events ?? []).filter((event) => event.timerFiredEventAttributes)).toHaveLength(1);
    await expectBooksAgree(shortWindow.pool, shortWindow.psp, result);
  });
});
});
