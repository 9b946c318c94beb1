import { checkoutRequestSchema } from '../domain/checkoutRequest';
import { checkoutWorkflowId, isCheckoutId, paymentOrderWorkflowId } from '../domain/ids';
import { currencyExponent, formatMoney, isCurrency, sumMoney, type Currency } from '../domain/money';
import { canTransitionCheckout, canTransitionPaymentOrder, isTerminalCheckoutStatus } from '../domain/status';

describe('money', () => {
  it('knows ISO 4217 currencies and their minor units', () => {
    expect(isCurrency('USD')).toBe(true);
    expect(isCurrency('usd')).toBe(false);
    expect(isCurrency('XYZ')).toBe(false);
    expect(currencyExponent('JPY' as Currency)).toBe(0);
    expect(currencyExponent('KWD' as Currency)).toBe(3);
  });

  it('formats minor units for people without floating point', () => {
    expect(formatMoney({ amount: 1999, currency: 'USD' as Currency })).toBe('19.99 USD');
    expect(formatMoney({ amount: 5, currency: 'USD' as Currency })).toBe('0.05 USD');
    expect(formatMoney({ amount: -1234, currency: 'KWD' as Currency })).toBe('-1.234 KWD');
    expect(formatMoney({ amount: 500, currency: 'JPY' as Currency })).toBe('500 JPY');
  });

  it('sums only integer amounts and refuses to leave the safe range', () => {
    expect(sumMoney('USD' as Currency, [1, 2, 3]).amount).toBe(6);
    expect(() => sumMoney('USD' as Currency, [0.5])).toThrow(RangeError);
    expect(() => sumMoney('USD' as Currency, [Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError);
  });
});

describe('statuses', () => {
  it('allows only the transitions of the payment flow', () => {
    expect(canTransitionPaymentOrder('PENDING', 'AUTHORIZED')).toBe(true);
    expect(canTransitionPaymentOrder('AUTHORIZED', 'SUCCEEDED')).toBe(true);
    expect(canTransitionPaymentOrder('PENDING', 'SUCCEEDED')).toBe(false);
    expect(canTransitionPaymentOrder('VOIDED', 'SUCCEEDED')).toBe(false);
    expect(canTransitionCheckout('SUCCEEDED', 'FAILED')).toBe(false);
    expect(isTerminalCheckoutStatus('CANCELED')).toBe(true);
    expect(isTerminalCheckoutStatus('CAPTURING')).toBe(false);
  });
});

describe('ids', () => {
  it('names workflows from domain ids', () => {
    expect(checkoutWorkflowId('chk_1')).toBe('checkout-chk_1');
    expect(paymentOrderWorkflowId('po_1')).toBe('payment-order-po_1');
    expect(isCheckoutId(`chk_${'a'.repeat(32)}`)).toBe(true);
    expect(isCheckoutId('chk_../../etc')).toBe(false);
  });
});

describe('the checkout request schema', () => {
  it('normalizes the currency and fills in the capture mode and atomicity', () => {
    const parsed = checkoutRequestSchema.parse({
      customerId: 'c1',
      currency: 'eur',
      paymentMethod: 'pm_card_visa',
      orders: [{ sellerId: 's1', amount: 1 }],
    });
    expect(parsed).toEqual({
      customerId: 'c1',
      currency: 'EUR',
      paymentMethod: 'pm_card_visa',
      orders: [{ sellerId: 's1', amount: 1 }],
      capture: 'automatic',
      allowPartial: false,
    });
  });
});
