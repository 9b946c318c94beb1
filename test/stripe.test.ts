import Stripe from 'stripe';
import type { CheckoutView } from '../domain/checkout';
import { currencyExponent, formatMoney, isCurrency, type Currency } from '../domain/money';
import { refundWorkflowId } from '../domain/refund';
import { classifyStripeError } from '../psp/stripe';
import { fromStripeAmount, stripeAmountRule, stripeCurrency, StripeAmountError, toStripeAmount } from '../psp/stripeAmounts';
import {
  isFinalPspError,
  PspDeclinedError,
  PspIdempotencyKeyReusedError,
  PspInvalidRequestError,
  PspTransientError,
  PspUnknownOutcomeError,
} from '../psp/errors';
import { expectBooksAgree } from './support/agreement';
import { orderBooks } from './support/books';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/** Every currency Settle accepts: every three-letter code domain/money.ts knows. */
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ALL_CURRENCIES = [...LETTERS].flatMap((a) => [...LETTERS].flatMap((b) => [...LETTERS].map((c) => a + b + c))).filter(isCurrency) as Currency[];
const cur = (code: string) => code as Currency;

/** An error as the stripe client builds it from an HTTP answer. */
const answered = (statusCode: number, error: { type: string; code?: string; message?: string }, headers: Record<string, string> = {}) =>
  Stripe.errors.StripeError.generate({ message: 'from Stripe', ...error, statusCode, headers } as never);

describe('classifying Stripe errors by their documented type, code and status', () => {
  it.each([
    ['409 idempotency_key_in_use (idempotency_error)', answered(409, { type: 'idempotency_error', code: 'idempotency_key_in_use' })],
    ['409 idempotency_key_in_use (invalid_request_error)', answered(409, { type: 'invalid_request_error', code: 'idempotency_key_in_use' })],
    ['400 idempotency_key_in_use', answered(400, { type: 'idempotency_error', code: 'idempotency_key_in_use' })],
    ['409 without a code', answered(409, { type: 'invalid_request_error' })],
    ['500 api_error', answered(500, { type: 'api_error' })],
    ['503', answered(503, { type: 'api_error' })],
    ['no answer at all', new Stripe.errors.StripeConnectionError({ message: 'socket hang up' } as never)],
  ])('%s: the outcome is unknown, so it is repeated with the same idempotency key', (_name, error) => {
    const classified = classifyStripeError(error);
    expect(classified).toBeInstanceOf(PspUnknownOutcomeError);
    expect(isFinalPspError(classified)).toBe(false);
  });

  it.each([
    ['429 lock_timeout', answered(429, { type: 'invalid_request_error', code: 'lock_timeout' })],
    ['400 lock_timeout', answered(400, { type: 'invalid_request_error', code: 'lock_timeout' })],
    ['429 rate_limit', answered(429, { type: 'rate_limit_error', code: 'rate_limit' })],
    ['400 rate_limit', answered(400, { type: 'invalid_request_error', code: 'rate_limit' })],
    ['401 (a key to fix)', answered(401, { type: 'invalid_request_error', code: 'api_key_expired' })],
    ['403 (a permission to grant)', answered(403, { type: 'invalid_request_error' })],
    ['a 4xx Stripe marks Stripe-Should-Retry: true', answered(400, { type: 'invalid_request_error', code: 'some_new_code' }, { 'stripe-should-retry': 'true' })],
  ])('%s: nothing was processed; it is repeated', (_name, error) => {
    const classified = classifyStripeError(error);
    expect(classified).toBeInstanceOf(PspTransientError);
    expect(isFinalPspError(classified)).toBe(false);
  });

  it('a card error is a final decline carrying the decline code', () => {
    const classified = classifyStripeError(answered(402, { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' } as never));
    expect(classified).toBeInstanceOf(PspDeclinedError);
    expect((classified as PspDeclinedError).code).toBe('insufficient_funds');
  });

  it.each([
    ['400 parameter_invalid_integer', answered(400, { type: 'invalid_request_error', code: 'parameter_invalid_integer' }), 'parameter_invalid_integer'],
    ['404 resource_missing', answered(404, { type: 'invalid_request_error', code: 'resource_missing' }), 'resource_missing'],
    ['400 payment_intent_unexpected_state', answered(400, { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' }), 'payment_intent_unexpected_state'],
  ])('%s: the request itself is wrong; final, naming the code', (_name, error, code) => {
    const classified = classifyStripeError(error);
    expect(classified).toBeInstanceOf(PspInvalidRequestError);
    expect((classified as PspInvalidRequestError).code).toBe(code);
  });

  it('a key reused with other parameters is a Settle defect: named as such, never taken as the PSP refusing the payment', () => {
    const error = answered(400, {
      type: 'idempotency_error',
      message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.',
    });
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    const classified = classifyStripeError(error);
    expect(classified).toBeInstanceOf(PspIdempotencyKeyReusedError);
    expect(classified.name).toBe('PspIdempotencyKeyReusedError');
    expect(classified.message).toContain('same parameters');
    // Not final: whether the first request went through is asked of Stripe, as for an unknown outcome.
    expect(isFinalPspError(classified)).toBe(false);
  });

  it('passes through what is not a Stripe error', () => {
    const error = new Error('a bug');
    expect(classifyStripeError(error)).toBe(error);
  });
});

describe("Stripe's amount unit, against ISO 4217 minor units", () => {
  it('knows every ISO 4217 currency Settle accepts', () => {
    expect(ALL_CURRENCIES.length).toBeGreaterThan(150);
  });

  /** The amount as a decimal number of major units, from an integer and its exponent: "5.12", "500". */
  const decimal = (amount: number, exponent: number) => {
    const digits = String(Math.abs(amount)).padStart(exponent + 1, '0');
    const whole = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
    return (amount < 0 ? '-' : '') + (whole.includes('.') ? whole.replace(/\.?0+$/, '') : whole);
  };
  const samples = [1, 5, 9, 10, 49, 50, 99, 100, 101, 110, 999, 1000, 1001, 1010, 1230, 1234, 12300, 12345, 17_499, 17_500, 99_999_999];

  it.each(ALL_CURRENCIES)('%s: an amount goes to Stripe as the same money, or is refused, and comes back unchanged', (currency) => {
    const { exponent } = stripeCurrency(currency);
    for (const amount of samples) {
      const inexact = stripeAmountRule(currency, amount, 'refund');
      if (inexact) {
        expect(() => toStripeAmount(currency, amount)).toThrow(StripeAmountError);
        continue;
      }
      const stripeAmount = toStripeAmount(currency, amount);
      expect(Number.isSafeInteger(stripeAmount)).toBe(true);
      expect(decimal(stripeAmount, exponent)).toBe(decimal(amount, currencyExponent(currency)));
      expect(fromStripeAmount(currency.toLowerCase(), stripeAmount)).toBe(amount);
      expect(fromStripeAmount(currency.toLowerCase(), -stripeAmount)).toBe(-amount);
    }
    expect(fromStripeAmount(currency.toLowerCase(), 0)).toBe(0);
  });

  it.each(ALL_CURRENCIES)('%s: every amount Stripe reports converts exactly or is refused, never rounded', (currency) => {
    const { exponent } = stripeCurrency(currency);
    for (const stripeAmount of samples) {
      let iso: number;
      try {
        iso = fromStripeAmount(currency.toLowerCase(), stripeAmount);
      } catch (error) {
        expect(error).toBeInstanceOf(StripeAmountError);
        expect(exponent).toBeGreaterThan(currencyExponent(currency));
        continue;
      }
      expect(decimal(iso, currencyExponent(currency))).toBe(decimal(stripeAmount, exponent));
    }
  });

  it.each([
    // Stripe's examples, and its special cases.
    ['USD', 1000, 1000],
    ['JPY', 500, 500],
    ['ISK', 5, 500],
    ['UGX', 5, 500],
    ['MGA', 12_300, 123],
    ['KWD', 5120, 5120],
    ['HUF', 1045, 1045],
    ['TWD', 80_045, 80_045],
    ['IQD', 1230, 123],
  ])('%s %d (ISO minor units) is %d in Stripe', (currency, iso, stripeAmount) => {
    expect(toStripeAmount(cur(currency), iso)).toBe(stripeAmount);
    expect(fromStripeAmount(currency.toLowerCase(), stripeAmount)).toBe(iso);
  });

  it.each([
    ['KWD', 5124, 'last digit of a three-decimal KWD amount to be 0'],
    ['BHD', 1, 'last digit of a three-decimal BHD amount to be 0'],
    ['MGA', 12_345, 'MGA in whole units only'],
    ['IQD', 1234, 'IQD with two decimals only'],
  ])('%s %d cannot be expressed exactly: refused, naming the rule', (currency, amount, rule) => {
    expect(stripeAmountRule(cur(currency), amount)).toContain(rule);
    expect(stripeAmountRule(cur(currency), amount, 'refund')).toContain(rule);
    expect(() => toStripeAmount(cur(currency), amount)).toThrow(rule);
  });

  it("holds a charge to Stripe's minimum in its currency, and a refund to none", () => {
    expect(stripeAmountRule(cur('USD'), 49)).toBe("Stripe's minimum charge in USD is 0.50 USD: 0.49 USD is below it");
    expect(stripeAmountRule(cur('USD'), 50)).toBeUndefined();
    expect(stripeAmountRule(cur('USD'), 1, 'refund')).toBeUndefined();
    expect(stripeAmountRule(cur('HUF'), 17_499)).toContain('175.00 HUF');
    expect(stripeAmountRule(cur('JPY'), 49)).toContain('50 JPY');
    expect(stripeAmountRule(cur('GBP'), 30)).toBeUndefined();
    expect(stripeAmountRule(cur('ISK'), 1)).toBeUndefined();
  });

  it('refuses a Stripe amount it cannot hold exactly instead of rounding it', () => {
    expect(() => fromStripeAmount('isk', 550)).toThrow(StripeAmountError);
    expect(() => fromStripeAmount('xxx', 1)).toThrow('unknown currency');
  });
});

describe('with PSP=stripe', () => {
  let settle: TestSettle;
  let stripe: Stripe;
  beforeAll(async () => {
    settle = await startSettle({ psp: 'stripe' });
    stripe = settle.psp.stripe!;
  });
  afterAll(() => settle?.stop());

  const intentOf = async (orderId: string) => {
    const { rows } = await settle.pool.query('SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_order_id = $1', [orderId]);
    return stripe.paymentIntents.retrieve(rows[0].payment_intent_id);
  };
  const refund = async (orderId: string, amount: number) => {
    const answer = await settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount }, { 'Idempotency-Key': uniqueId('key') });
    expect(answer.status).toBe(202);
    await settle.temporal.workflow.getHandle(refundWorkflowId(answer.body.refundId)).result();
    return (await settle.get(`/v1/refunds/${answer.body.refundId}`)).body;
  };
  const finalView = async (checkoutId: string): Promise<CheckoutView> => {
    await settle.checkoutResult(checkoutId);
    return settle.checkout(checkoutId);
  };

  describe("Stripe's 409 idempotency_key_in_use is retried with the same key, never taken as final", () => {
    it.each(['authorize', 'capture'] as const)('a %s that meets it three times ends captured once, the books agreeing', async (operation) => {
      const card = await settle.psp.paymentMethod('visa');
      settle.psp.inject({ operation, paymentMethod: card }, { kind: 'inUse', times: 3 });
      const result = await settle.checkoutResult(await settle.createCheckout({ paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount: 1500 }] }));
      expect(result.status).toBe('SUCCEEDED');
      const charges = await settle.psp.chargesFor(result.orders[0]!.orderId);
      expect(charges.map((charge) => [charge.status, charge.amountCaptured])).toEqual([['succeeded', 1500]]);
      await expectBooksAgree(settle.pool, settle.psp, result);
    });

    it('a refund that meets it three times refunds once, the books agreeing', async () => {
      const card = await settle.psp.paymentMethod('visa');
      settle.psp.inject({ operation: 'refund', paymentMethod: card }, { kind: 'inUse', times: 3 });
      const checkoutId = await settle.createCheckout({ paymentMethod: card, orders: [{ sellerId: uniqueId('seller'), amount: 2000 }] });
      const orderId = (await settle.checkoutResult(checkoutId)).orders[0]!.orderId;
      expect(await refund(orderId, 700)).toMatchObject({ status: 'SUCCEEDED', amount: 700 });
      const view = await settle.checkout(checkoutId);
      expect(view.orders[0]).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: 700 });
      expect((await settle.psp.chargesFor(orderId)).map((charge) => charge.amountRefunded)).toEqual([700]);
      await expectBooksAgree(settle.pool, settle.psp, view);
    });

    it('a void that meets it three times releases the hold', async () => {
      const card = await settle.psp.paymentMethod('visa');
      settle.psp.inject({ operation: 'void', paymentMethod: card }, { kind: 'inUse', times: 3 });
      const checkoutId = await settle.createCheckout({ paymentMethod: card, capture: 'manual', orders: [{ sellerId: uniqueId('seller'), amount: 900 }] });
      const orderId = await eventually('the checkout to wait for its capture', async () => {
        const view = await settle.checkout(checkoutId);
        return view.status === 'REQUIRES_CAPTURE' && view.orders[0]!.orderId;
      });
      expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
      const result = await settle.checkoutResult(checkoutId);
      expect(result.status).toBe('CANCELED');
      expect((await intentOf(orderId)).status).toBe('canceled');
      await expectBooksAgree(settle.pool, settle.psp, result);
    });
  });

  describe("amounts in Stripe's unit", () => {
    it.each([
      ['ISK', 5000, 500_000],
      ['UGX', 2500, 250_000],
      ['MGA', 12_300, 123],
      ['KWD', 5120, 5120],
    ])('a %s checkout of %d minor units charges Stripe %d and books the ISO amount', async (currency, amount, stripeAmount) => {
      const seller = uniqueId('seller');
      const result = await settle.checkoutResult(
        await settle.createCheckout({ currency, paymentMethod: await settle.psp.paymentMethod('visa'), orders: [{ sellerId: seller, amount }] }),
      );
      expect(result.status).toBe('SUCCEEDED');
      const intent = await intentOf(result.orders[0]!.orderId);
      const latest = intent.latest_charge!;
      const charge = await stripe.charges.retrieve(typeof latest === 'string' ? latest : latest.id);
      expect([intent.currency, intent.amount, charge.captured, charge.amount]).toEqual([currency.toLowerCase(), stripeAmount, true, stripeAmount]);
      expect((await settle.get(`/v1/wallets/${seller}`)).body.balances).toEqual({ [currency]: amount });
      expect(await orderBooks(settle.pool, result.orders[0]!.orderId)).toMatchObject({ wallet: amount, payable: amount });
      await expectBooksAgree(settle.pool, settle.psp, result);

      const day = { start: new Date(Date.now() - 86_400_000), end: new Date(Date.now() + 86_400_000) };
      const rows = [];
      for await (const row of settle.psp.psp.settlementRows(day)) if (row.paymentOrderId === result.orders[0]!.orderId) rows.push(row);
      expect(rows.map((row) => [row.reportingCategory, row.currency, row.gross])).toEqual([['charge', currency, amount]]);
    });

    it('a partial refund in a special currency refunds the same money at Stripe', async () => {
      const checkoutId = await settle.createCheckout({
        currency: 'ISK',
        paymentMethod: await settle.psp.paymentMethod('visa'),
        orders: [{ sellerId: uniqueId('seller'), amount: 3000 }],
      });
      const orderId = (await settle.checkoutResult(checkoutId)).orders[0]!.orderId;
      expect(await refund(orderId, 1001)).toMatchObject({ status: 'SUCCEEDED', amount: 1001 });
      const refunds = await stripe.refunds.list({ payment_intent: (await intentOf(orderId)).id });
      expect(refunds.data.map((r) => r.amount)).toEqual([100_100]);
      await expectBooksAgree(settle.pool, settle.psp, await settle.checkout(checkoutId));
    });

    const refused = async (body: Record<string, unknown>) => {
      const customerId = uniqueId('cus');
      const key = uniqueId('key');
      const answer = await settle.post(
        '/v1/checkouts',
        { customerId, paymentMethod: await settle.psp.paymentMethod('visa'), ...body },
        { 'Idempotency-Key': key },
      );
      // Nothing started: no checkout recorded, and the key is still free.
      const started = await settle.pool.query('SELECT 1 FROM checkouts WHERE customer_id = $1', [customerId]);
      const claimed = await settle.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
      expect([started.rowCount, claimed.rowCount]).toEqual([0, 0]);
      return answer;
    };

    it('a three-decimal amount not ending in 0 answers 400 naming the rule, and starts nothing', async () => {
      const answer = await refused({ currency: 'KWD', orders: [{ sellerId: uniqueId('s'), amount: 5120 }, { sellerId: uniqueId('s'), amount: 5124 }] });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({
        code: 'amount_not_supported',
        details: [{ field: 'orders[1].amount', message: expect.stringContaining('last digit of a three-decimal KWD amount to be 0') }],
      });
      expect(answer.body.error.message).toContain('5.124 KWD');
    });

    it.each([
      ['MGA', 12_345, 'MGA in whole units only'],
      ['USD', 49, "Stripe's minimum charge in USD is 0.50 USD"],
    ])('%s %d answers 400 amount_not_supported naming the rule, and starts nothing', async (currency, amount, rule) => {
      const answer = await refused({ currency, orders: [{ sellerId: uniqueId('s'), amount }] });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('amount_not_supported');
      expect(answer.body.error.details[0].message).toContain(rule);
    });

    it('a partial refund Stripe cannot express exactly answers 400 and refunds nothing', async () => {
      const checkoutId = await settle.createCheckout({
        currency: 'KWD',
        paymentMethod: await settle.psp.paymentMethod('visa'),
        orders: [{ sellerId: uniqueId('seller'), amount: 5000 }],
      });
      const orderId = (await settle.checkoutResult(checkoutId)).orders[0]!.orderId;
      const answer = await settle.post(`/v1/payment-orders/${orderId}/refunds`, { amount: 1235 }, { 'Idempotency-Key': uniqueId('key') });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'amount_not_supported', details: [{ field: 'amount' }] });
      const { rows } = await settle.pool.query('SELECT 1 FROM refunds WHERE payment_order_id = $1', [orderId]);
      expect(rows).toEqual([]);
      // An amount it can express goes through; "everything left" is always expressible.
      expect(await refund(orderId, 1230)).toMatchObject({ status: 'SUCCEEDED' });
      const view = await finalView(checkoutId);
      expect(view.orders[0]!.refundedAmount).toBe(1230);
      await expectBooksAgree(settle.pool, settle.psp, view);
    });

    it('the adapter itself refuses an inexact amount before Stripe sees it: a final invalid request, no intent made', async () => {
      const paymentOrderId = `po_${uniqueId('x').replace(/_/g, '')}`;
      const attempt = settle.psp.psp.authorize({
        paymentOrderId,
        amount: 1235,
        currency: cur('KWD'),
        paymentMethod: await settle.psp.paymentMethod('visa'),
        idempotencyKey: uniqueId('key'),
      });
      await expect(attempt).rejects.toMatchObject({ name: 'PspInvalidRequestError', code: 'amount_not_supported' });
      expect(await settle.psp.chargesFor(paymentOrderId)).toEqual([]);
      const { rows } = await settle.pool.query('SELECT 1 FROM stripe_payment_intents WHERE payment_order_id = $1', [paymentOrderId]);
      expect(rows).toEqual([]);
    });
  });
});

describe('with PSP=simulated', () => {
  it("Stripe's amount rules do not apply", async () => {
    const settle = await startSettle();
    try {
      const result = await settle.checkoutResult(await settle.createCheckout({ currency: 'KWD', orders: [{ sellerId: uniqueId('s'), amount: 5124 }] }));
      expect(result.status).toBe('SUCCEEDED');
      expect(formatMoney({ amount: result.totalAmount, currency: result.currency })).toBe('5.124 KWD');
    } finally {
      await settle.stop();
    }
  });
});
