import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import { plainText } from '../domain/checkoutRequest';
import { DISCREPANCY_CLASSES, SETTLEMENT_DATE } from '../domain/settlement';
import { findReconciliationView, startRun } from '../db/reconciliation';
import type { reconciliationWorkflow } from '../workflows/reconciliation';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { newId } from './requests';
import type { RouteRegistry } from './routes';
import { links, reconciliationViewSchema } from './schemas';

/** No PSP settled a card payment before this; it also keeps the year inside what PostgreSQL's date takes. */
const EARLIEST_SETTLEMENT_DATE = '1970-01-01';

const startSchema = z.strictObject({
  date: z
    .string({ error: 'must be a date YYYY-MM-DD' })
    .regex(SETTLEMENT_DATE, 'must be a date YYYY-MM-DD')
    .refine((date) => !Number.isNaN(Date.parse(`${date}T00:00:00Z`)) && new Date(`${date}T00:00:00Z`).toISOString().startsWith(date), 'is not a calendar date')
    .refine((date) => date >= EARLIEST_SETTLEMENT_DATE, `must be on or after ${EARLIEST_SETTLEMENT_DATE}`)
    .refine((date) => new Date(`${date}T00:00:00Z`).getTime() <= Date.now(), 'must not be in the future'),
});

// A nightly run's id is its scheduled workflow's, so any text Temporal allows as a workflow id.
const runParams = z.object({ id: plainText({ max: 1000 }) });

const pageSchema = z.strictObject({
  after: z
    .string()
    // Aborts: zod runs a string's later checks even after one failed, and BigInt throws on what is not digits.
    .regex(/^\d{1,19}$/, { message: 'must be a cursor this endpoint handed out (nextCursor)', abort: true })
    .refine((after) => BigInt(after) <= 2n ** 63n - 1n, 'must be a cursor this endpoint handed out (nextCursor)')
    .optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int().min(1).max(500).default(100),
  class: z.enum(DISCREPANCY_CLASSES).optional(),
});

/** Reconciliation on demand, and the results of any run (on demand or nightly). */
export function reconciliationRoutes(ctx: ApiContext, api: RouteRegistry): void {
  api.route({
    method: 'post',
    path: '/v1/reconciliations',
    operationId: 'startReconciliation',
    tag: 'Reconciliation',
    summary: 'Reconcile one settlement day now, against the PSP\'s settlement file',
    body: startSchema,
    responses: {
      202: {
        description: 'Accepted: the run works; read it at Location',
        schema: z.object({ reconciliationId: z.string(), date: z.string(), status: z.literal('RUNNING'), links }),
        headers: { Location: { description: 'Where the run is read', schema: z.string(), required: true } },
      },
    },
    handler: async ({ body: { date } }, _req, res) => {
      const reconciliationId = newId('rec_');
      // The workflow first, then the row that lets a GET answer RUNNING at once: a start that fails leaves
      // nothing behind, and the run's own activity writes the same row (whichever comes first) if this one
      // never does.
      try {
        await ctx.temporal.workflow.start<typeof reconciliationWorkflow>('reconciliationWorkflow', {
          workflowId: reconciliationId,
          taskQueue: ctx.taskQueue,
          args: [{ date }],
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      await startRun(ctx.pool, reconciliationId, date);
      const self = `/v1/reconciliations/${reconciliationId}`;
      res.status(202).location(self).json({ reconciliationId, date, status: 'RUNNING', links: { self } });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/reconciliations/:id',
    operationId: 'getReconciliation',
    tag: 'Reconciliation',
    summary: 'A reconciliation run (on demand or nightly) and a page of its discrepancies',
    params: runParams,
    query: pageSchema,
    responses: { 200: { description: 'The run', schema: reconciliationViewSchema } },
    handler: async ({ params: { id }, query: page }, _req, res) => {
      const view = await findReconciliationView(ctx.pool, id, page);
      if (!view) throw ApiError.notFound('reconciliation', id);
      res.json(view);
    },
  });
}
