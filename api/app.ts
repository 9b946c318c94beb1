import express, { type Express } from 'express';
import type { ApiContext } from './context';
import { checkoutRoutes } from './checkouts';
import { compensationRoutes } from './compensations';
import { ApiError, errorHandler } from './errors';
import { eventRoutes } from './events';
import { paymentOrderRoutes } from './paymentOrders';
import { reconciliationRoutes } from './reconciliations';
import { requireUtf8 } from './requests';
import { webhookRoutes } from './webhooks';

export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Before the JSON parser: a webhook's signature is checked on the body exactly as it arrived.
  app.use(webhookRoutes(ctx));
  // Not strict: a JSON body that is not an object (null, a number) reaches validation and is named there.
  app.use(express.json({ limit: '100kb', strict: false, type: ['application/json', 'application/*+json'], verify: requireUtf8 }));

  app.get('/healthz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      ctx.pool.query('SELECT 1').then(() => 'ok', () => 'unavailable'),
      ctx.temporal.workflowService.getSystemInfo({}).then(() => 'ok', () => 'unavailable'),
    ]);
    const ok = database === 'ok' && temporal === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, temporal });
  });

  app.use(checkoutRoutes(ctx));
  app.use(compensationRoutes(ctx));
  app.use(paymentOrderRoutes(ctx));
  app.use(eventRoutes(ctx));
  app.use(reconciliationRoutes(ctx));

  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(ctx.logger));
  return app;
}
