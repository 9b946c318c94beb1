import { currencyExponent, formatMoney, isCurrency, type Currency } from '../domain/money';

/**
 * Stripe's `amount` is not always ISO 4217's minor unit (https://docs.stripe.com/currencies, "Specify
 * amounts in API requests"). Currencies are two-decimal at Stripe unless Stripe says otherwise:
 * - zero-decimal: the amount is the number of whole units. MGA is among them although ISO gives it two
 *   decimals, so only whole ariary can be charged.
 * - ISK and UGX are zero-decimal at ISO (and in Stripe's own list, for UGX), but Stripe's special cases
 *   require them "as a two-decimal value, where the decimal amount is always 00".
 * - BHD, JOD, KWD, OMR and TND keep three decimals, and Stripe requires the last digit to be 0.
 * - HUF and TWD are special only for payouts, which Settle does not make: charges are two-decimal.
 * - Any other currency is two-decimal at Stripe, so IQD and LYD (three decimals at ISO) charge exactly
 *   only in hundredths.
 * Settle never rounds: an amount Stripe cannot take exactly is refused, never charged as another amount.
 */

const ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/**
 * Stripe's minimum charge amounts, in major units as Stripe lists them ("Minimum charge amount by
 * currency"). Stripe applies the minimum of the account's settlement currency; a charge in one of these
 * currencies is held to its own, which is the rule for an account that settles in that currency.
 */
const MINIMUM_CHARGE: Readonly<Record<string, string>> = {
  USD: '0.50', AED: '2.00', ARS: '0.50', AUD: '0.50', BRL: '0.50', CAD: '0.50', CHF: '0.50', COP: '0.50',
  CZK: '15.00', DKK: '2.50', EUR: '0.50', GBP: '0.30', HKD: '4.00', HUF: '175.00', IDR: '0.50', ILS: '0.50',
  INR: '0.50', JPY: '50', KRW: '50', MXN: '10', MYR: '2.00', NOK: '3.00', NZD: '0.50', PHP: '0.50',
  PLN: '2.00', RON: '2.00', RUB: '0.50', SEK: '3.00', SGD: '0.50', THB: '10', ZAR: '0.50',
};

/** How Stripe writes amounts of one currency. */
export interface StripeCurrency {
  /** Decimal places of Stripe's amount unit. */
  exponent: number;
  /** Stripe amounts must be a multiple of this (10 for three-decimal currencies). */
  multipleOf: number;
  /** Stripe's minimum charge, in ISO minor units, where Stripe publishes one. */
  minimumCharge?: number;
}

export function stripeCurrency(currency: Currency): StripeCurrency {
  const minimum = MINIMUM_CHARGE[currency];
  return {
    exponent: ZERO_DECIMAL.has(currency) ? 0 : THREE_DECIMAL.has(currency) ? 3 : 2,
    multipleOf: THREE_DECIMAL.has(currency) ? 10 : 1,
    ...(minimum ? { minimumCharge: majorToMinor(minimum, currencyExponent(currency)) } : {}),
  };
}

/** An amount that has no exact counterpart in the other unit. */
export class StripeAmountError extends RangeError {
  override name = 'StripeAmountError';
}

/**
 * Why Stripe cannot take this amount (ISO minor units) exactly, naming Stripe's rule; undefined when it
 * can. A refund is held to the same exactness as a charge, but not to the minimum charge.
 */
export function stripeAmountRule(currency: Currency, amount: number, purpose: 'charge' | 'refund' = 'charge'): string | undefined {
  const inexact = exactnessRule(currency, amount);
  if (inexact) return inexact;
  const { minimumCharge } = stripeCurrency(currency);
  if (purpose === 'charge' && minimumCharge !== undefined && amount < minimumCharge) {
    const shown = formatMoney({ amount, currency });
    return `Stripe's minimum charge in ${currency} is ${formatMoney({ amount: minimumCharge, currency })}: ${shown} is below it`;
  }
  return undefined;
}

function exactnessRule(currency: Currency, amount: number): string | undefined {
  const stripe = stripeCurrency(currency);
  const step = Math.max(1, 10 ** (currencyExponent(currency) - stripe.exponent)) * stripe.multipleOf;
  if (amount % step === 0) return undefined;
  const rule =
    stripe.multipleOf > 1
      ? `Stripe requires the last digit of a three-decimal ${currency} amount to be 0`
      : stripe.exponent === 0
        ? `Stripe charges ${currency} in whole units only (a zero-decimal currency at Stripe)`
        : `Stripe charges ${currency} with two decimals only`;
  return `${rule}: ${formatMoney({ amount, currency })} cannot be charged exactly (use a multiple of ${step} minor units)`;
}

/** Settle's amount (ISO minor units) as Stripe's `amount`; throws when Stripe cannot hold it exactly. */
export function toStripeAmount(currency: Currency, amount: number): number {
  if (!Number.isSafeInteger(amount)) throw new StripeAmountError(`not an integer amount: ${amount} ${currency}`);
  const inexact = exactnessRule(currency, amount);
  if (inexact) throw new StripeAmountError(inexact);
  return rescale(amount, currencyExponent(currency), stripeCurrency(currency).exponent, currency);
}

/** An amount Stripe reports (its unit, in the currency it names) as ISO minor units; throws when not exact. */
export function fromStripeAmount(stripeCurrencyCode: string, stripeAmount: number): number {
  const currency = stripeCurrencyCode.toUpperCase();
  if (!isCurrency(currency)) throw new StripeAmountError(`Stripe reported an amount in an unknown currency '${stripeCurrencyCode}'`);
  return rescale(stripeAmount, stripeCurrency(currency).exponent, currencyExponent(currency), currency);
}

function rescale(amount: number, fromExponent: number, toExponent: number, currency: Currency): number {
  if (!Number.isSafeInteger(amount)) throw new StripeAmountError(`not an integer amount: ${amount} ${currency}`);
  if (toExponent >= fromExponent) {
    const result = amount * 10 ** (toExponent - fromExponent);
    if (!Number.isSafeInteger(result)) throw new StripeAmountError(`amount out of range: ${amount} ${currency}`);
    return result;
  }
  const divisor = 10 ** (fromExponent - toExponent);
  if (amount % divisor !== 0) {
    throw new StripeAmountError(`${amount} in Stripe's unit for ${currency} is not a whole number of ISO minor units`);
  }
  return amount / divisor || 0;
}

/** "0.50" with two decimals -> 50; exact, no floats. */
function majorToMinor(major: string, exponent: number): number {
  const [units, fraction = ''] = major.split('.') as [string, string?];
  if (/[^0]/.test(fraction.slice(exponent))) throw new RangeError(`${major} has more decimals than the currency`);
  return Number(units + fraction.padEnd(exponent, '0').slice(0, exponent));
}
