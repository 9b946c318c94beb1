import { randomBytes } from 'node:crypto';
import { expectBooksAgree } from './agreement';
import { invariantViolations } from './invariants';
import { eventually, uniqueId, type TestSettle } from './settle';

/**
 * A capture the PSP made that the database refuses, for good, to book: how a test sets it up, and what it
 * expects once the database takes the write again.
 */

/** Makes the database refuse, for good, every move of one order to SUCCEEDED; answers how to mend it. */
export function refuseCaptureBooking(settle: TestSettle, orderId: string): Promise<() => Promise<void>> {
  return refuseWrite(settle, { table: 'payment_orders', column: 'id', id: orderId, status: 'SUCCEEDED' });
}

/**
 * Makes the database refuse, for good (a check violation, SQLSTATE 23514), every update that moves a row of
 * `table` whose `column` is `id` to `status` (or, with `on: 'INSERT'`, every new such row); answers how to
 * mend it.
 */
export async function refuseWrite(
  settle: TestSettle,
  rows: { table: 'payment_orders' | 'refunds'; column: 'id' | 'payment_order_id'; id: string; status?: string; on?: 'UPDATE' | 'INSERT' },
): Promise<() => Promise<void>> {
  const fn = `refuse_${randomBytes(4).toString('hex')}`;
  const status = rows.status === undefined ? '' : ` AND NEW.status = '${rows.status}'`;
  await settle.pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF NEW.${rows.column} = '${rows.id}'${status} THEN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$`);
  await settle.pool.query(`CREATE TRIGGER ${fn} BEFORE ${rows.on ?? 'UPDATE'} ON ${rows.table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
  let dropped = false;
  return async () => {
    if (dropped) return;
    dropped = true;
    await settle.pool.query(`DROP TRIGGER ${fn} ON ${rows.table}`);
    await settle.pool.query(`DROP FUNCTION ${fn}()`);
  };
}

/** A manual-capture checkout of one order waiting for its capture; its order's id and PSP reference. */
export async function waitingForCapture(settle: TestSettle, amount: number): Promise<{ checkoutId: string; orderId: string; pspReference: string }> {
  const card = await settle.psp.paymentMethod('visa');
  const checkoutId = await settle.createCheckout({ capture: 'manual', paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount }] });
  await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
  const { orderId, pspReference } = (await settle.checkout(checkoutId)).orders[0]!;
  return { checkoutId, orderId, pspReference: pspReference! };
}

/**
 * A manual-capture checkout of two orders waiting for its capture, the second's capture to be declined by the
 * PSP: capturing the checkout then captures the first and refunds it. The first order's id.
 */
export async function waitingForCaptureBesideADecline(settle: TestSettle, amount: number): Promise<{ checkoutId: string; orderId: string }> {
  const [visa, declines] = [await settle.psp.paymentMethod('visa'), await settle.psp.paymentMethod('visa')];
  settle.psp.inject({ operation: 'capture', paymentMethod: declines }, { kind: 'decline', code: 'expired_card' });
  const checkoutId = await settle.createCheckout({
    capture: 'manual',
    paymentMethod: visa,
    orders: [
      { sellerId: uniqueId('seller'), amount },
      { sellerId: uniqueId('seller'), amount: 800, paymentMethod: declines },
    ],
  });
  await eventually('the checkout to wait for its capture', async () => (await settle.checkout(checkoutId)).status === 'REQUIRES_CAPTURE');
  return { checkoutId, orderId: (await settle.checkout(checkoutId)).orders[0]!.orderId };
}

/**
 * Mends the database; a retry of the finished checkout's compensation then books what the PSP did and gives the
 * capture back: the order refunded, the checkout still as it ended (CANCELED unless given), the books, the PSP
 * and the invariants agreeing.
 */
export async function expectMendedAndRefunded(
  settle: TestSettle,
  checkoutId: string,
  orderId: string,
  amount: number,
  mend: () => Promise<void>,
  { status = 'CANCELED', withinMs = 60_000 }: { status?: 'CANCELED' | 'FAILED'; withinMs?: number } = {},
): Promise<void> {
  await mend();
  expect((await settle.post(`/v1/checkouts/${checkoutId}/retry-compensation`, {})).status).toBe(202);
  await eventually('the compensation to book and refund the capture', async () => (await settle.checkout(checkoutId)).attention === null, withinMs);
  const mended = await settle.checkout(checkoutId);
  expect({ status: mended.status, order: mended.orders[0]!.status, refunded: mended.orders[0]!.refundedAmount }).toEqual({
    status,
    order: 'REFUNDED',
    refunded: amount,
  });
  expect(await settle.psp.chargesFor(orderId)).toEqual([expect.objectContaining({ status: 'succeeded', amountCaptured: amount, amountRefunded: amount })]);
  await expectBooksAgree(settle.pool, settle.psp, mended);
  expect(await invariantViolations(settle, [checkoutId], 30_000)).toBe('');
}
