import { Router } from 'express';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import { plainText } from '../domain/checkoutRequest';
import { DISCREPANCY_CLASSES, SETTLEMENT_DATE } from '../domain/settlement';
import { findReconciliationView, startRun } from '../db/reconciliation';
import type { reconciliationWorkflow } from '../workflows/reconciliation';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { newId, parseBody, parseParams } from './requests';

const startSchema = z.strictObject({
  date: z
    .string({ error: 'must be a date YYYY-MM-DD' })
    .regex(SETTLEMENT_DATE, 'must be a date YYYY-MM-DD')
    .refine((date) => !Number.isNaN(Date.parse(`${date}T00:00:00Z`)) && new Date(`${date}T00:00:00Z`).toISOString().startsWith(date), 'is not a calendar date')
    .refine((date) => new Date(`${date}T00:00:00Z`).getTime() <= Date.now(), 'must not be in the future'),
});

// A nightly run's id is its scheduled workflow's, so any text Temporal allows as a workflow id.
const runParams = z.object({ id: plainText({ max: 1000 }) });

const pageSchema = z.strictObject({
  after: z
    .string()
    .regex(/^\d{1,19}$/, 'must be a cursor this endpoint handed out (nextCursor)')
    .refine((after) => BigInt(after) <= 2n ** 63n - 1n, 'must be a cursor this endpoint handed out (nextCursor)')
    .optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int().min(1).max(500).default(100),
  class: z.enum(DISCREPANCY_CLASSES).optional(),
});

/** Reconciliation on demand, and the results of any run (on demand or nightly). */
export function reconciliationRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.post('/v1/reconciliations', async (req, res) => {
    const { date } = parseBody(req, startSchema);
    const reconciliationId = newId('rec_');
    await startRun(ctx.pool, reconciliationId, date);
    try {
      await ctx.temporal.workflow.start<typeof reconciliationWorkflow>('reconciliationWorkflow', {
        workflowId: reconciliationId,
        taskQueue: ctx.taskQueue,
        args: [{ date }],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    const self = `/v1/reconciliations/${reconciliationId}`;
    res.status(202).location(self).json({ reconciliationId, date, status: 'RUNNING', links: { self } });
  });

  router.get('/v1/reconciliations/:id', async (req, res) => {
    const { id } = parseParams(req.params, runParams);
    const page = parseParams(req.query, pageSchema);
    const view = await findReconciliationView(ctx.pool, id, page);
    if (!view) throw ApiError.notFound('reconciliation', id);
    res.json(view);
  });

  return router;
}
