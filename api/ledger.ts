import { z } from 'zod';
import { listLedgerEntries, type LedgerEntries } from '../db/listings';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { limitQuery, listAnswer, startingAfterQuery } from './listings';
import type { RouteRegistry } from './routes';

const ledgerAccountSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['asset', 'liability', 'revenue', 'expense']),
    currency: z.string().regex(/^[A-Z]{3}$/),
    balance: z.number().int().meta({
      description:
        'Every entry summed on the normal side: debits less credits for an asset or expense, credits less debits for a liability or revenue',
    }),
  })
  .meta({ id: 'LedgerAccount' });

const ledgerEntrySchema = z
  .object({
    id: z.string().meta({ description: 'The entry id; entries are listed by it, newest first' }),
    transactionId: z.string(),
    direction: z.enum(['debit', 'credit']),
    amount: z.number().int().min(1).meta({ description: 'Integer minor units' }),
    currency: z.string().regex(/^[A-Z]{3}$/),
    paymentOrderId: z.string(),
    step: z.string().meta({ description: 'What posted it for the payment order: capture, a refund, a reversal' }),
    createdAt: z.string().meta({ format: 'date-time', description: 'When its transaction was posted' }),
  })
  .meta({ id: 'LedgerEntry' });

const ledgerEntriesSchema = z
  .object({
    object: z.literal('list'),
    account: ledgerAccountSchema.meta({ description: 'The account, its balance read in the same snapshot as the page' }),
    data: z.array(ledgerEntrySchema),
    has_more: z.boolean(),
    url: z.string(),
  })
  .meta({ id: 'LedgerEntryList' });

export function ledgerRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'get',
    path: '/v1/ledger/accounts/:id/entries',
    operationId: 'listLedgerEntries',
    tag: 'Ledger',
    summary: "A ledger account's entries, newest first, with its balance",
    description: 'Accounts are named by what they hold: psp_clearing:<currency>, psp_fees:<currency>, seller_payable:<seller>:<currency>.',
    params: z.strictObject({ id: z.string().max(200).meta({ description: 'The account id, such as seller_payable:acme:USD' }) }),
    query: z.strictObject({ limit: limitQuery, starting_after: startingAfterQuery }),
    responses: { 200: { description: "A page of the account's entries", schema: ledgerEntriesSchema } },
    errors: [400, 404],
    handler: async ({ params, query }, _req, res) => {
      const listed = await listLedgerEntries(ctx.pool, params.id, { limit: query.limit, startingAfter: query.starting_after });
      if (listed === undefined) throw ApiError.notFound('ledger account', params.id);
      const url = `/v1/ledger/accounts/${encodeURIComponent(params.id)}/entries`;
      const page = listAnswer(listed, url, query.starting_after, 'entry of this account'); // throws unless a page
      res.json({ ...page, account: (listed as LedgerEntries).account });
    },
  });
}
