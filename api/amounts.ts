import type { Currency } from '../domain/money';
import type { ApiContext } from './context';
import { ApiError } from './errors';

/**
 * Refuses, before anything starts, amounts the PSP cannot take exactly (with PSP=stripe: Stripe's amount
 * unit and minimum charges). A buyer is charged exactly what they were shown, or nothing.
 */
export function refuseUnsupportedAmounts(
  ctx: ApiContext,
  currency: Currency,
  purpose: 'charge' | 'refund',
  amounts: Array<[field: string, amount: number]>,
): void {
  const rule = ctx.amountRule;
  if (!rule) return;
  const details = amounts.flatMap(([field, amount]) => {
    const reason = rule(currency, amount, purpose);
    return reason ? [{ field, message: reason }] : [];
  });
  if (details.length === 0) return;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new ApiError(400, 'amount_not_supported', `${details[0]!.field}: ${details[0]!.message}${more}`, details);
}
