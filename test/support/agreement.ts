import type { CheckoutView } from '../../domain/checkout';
import type { TestPsp } from './psps';
import type { Pool } from '../../db/pool';
import { verifyBooks } from '../../db/verify';
import { orderBooks, unbalancedTransactions } from './books';

/**
 * The invariants every checkout path must keep, checked against the database and the PSP's own records:
 * an order is captured at most once, every capture has its ledger transaction and wallet credit, every
 * refund its reversal, and what the seller is owed is exactly what was captured and not refunded.
 */
export async function expectBooksAgree(pool: Pool, psp: Pick<TestPsp, 'chargesFor'>, checkout: CheckoutView): Promise<void> {
  expect(await unbalancedTransactions(pool)).toBe(0);
  for (const order of checkout.orders) {
    const charges = await psp.chargesFor(order.orderId);
    expect(charges.length).toBeLessThanOrEqual(1);
    const charge = charges[0];
    const captured = charge?.amountCaptured ?? 0;
    const refundedAtPsp = charge?.amountRefunded ?? 0;
    const books = await orderBooks(pool, order.orderId);
    const owed = captured - refundedAtPsp;

    expect({ order: order.orderId, wallet: books.wallet, payable: books.payable }).toEqual({ order: order.orderId, wallet: owed, payable: owed });
    expect(books.captureTransactions).toBe(captured > 0 ? 1 : 0);
    expect(order.refundedAmount).toBe(refundedAtPsp);
    expect(order.feeAmount).toBe(captured > 0 ? charge!.fee : 0);
    if (refundedAtPsp > 0) expect(books.refundTransactions).toBeGreaterThan(0);

    const capturedStatuses = ['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED'];
    expect(capturedStatuses.includes(order.status)).toBe(captured > 0);
    if (order.status === 'AUTHORIZED') throw new Error(`order ${order.orderId} was left holding an authorization`);
    if (charge && !capturedStatuses.includes(order.status)) {
      // Nothing captured: the PSP must hold nothing either.
      expect(['canceled', 'declined']).toContain(charge.status);
    }
  }
  // And the whole database passes `npm run verify`.
  expect((await verifyBooks(pool)).filter((check) => check.breaches > 0)).toEqual([]);
}
