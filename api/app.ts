import express, { type Express } from 'express';
import { z } from 'zod';
import { requireApiKey } from './auth';
import type { ApiContext } from './context';
import { checkoutRoutes } from './checkouts';
import { compensationRoutes } from './compensations';
import { ApiError, errorHandler } from './errors';
import { eventRoutes } from './events';
import { healthRoutes } from './health';
import { ledgerRoutes } from './ledger';
import { listingRoutes } from './listings';
import { ApiMetrics, metricsRoute, observeRequests } from './observability';
import { openApiDocument } from './openapi';
import { paymentOrderRoutes } from './paymentOrders';
import { reconciliationRoutes } from './reconciliations';
import { RouteRegistry } from './routes';
import { webhookEndpointRoutes } from './webhookEndpoints';
import { webhookRoutes } from './webhooks';

/**
 * The API. Every route is declared in a RouteRegistry (api/routes.ts): the registry validates each request
 * against the route's schemas, asks non-public routes for their API key, and the OpenAPI document served at
 * /openapi.json is made from the same declarations.
 */
export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const metrics = new ApiMetrics(ctx.pool, ctx.logger);
  // First: every answer, whatever refuses it later, carries its Request-Id and is logged and counted.
  app.use(observeRequests(ctx.logger, metrics));
  const api = new RouteRegistry(requireApiKey(ctx.pool));

  healthRoutes(ctx, api);
  metricsRoute(api, metrics);

  webhookRoutes(ctx, api);
  checkoutRoutes(ctx, api);
  compensationRoutes(ctx, api);
  paymentOrderRoutes(ctx, api);
  eventRoutes(ctx, api);
  reconciliationRoutes(ctx, api);
  listingRoutes(ctx, api);
  ledgerRoutes(ctx, api);
  webhookEndpointRoutes(ctx, api);

  let document: unknown;
  api.route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'Operations',
    summary: 'This document: OpenAPI 3.1, made from the schemas that validate each request',
    responses: { 200: { description: 'The OpenAPI document', schema: z.object({ openapi: z.string() }).loose() } },
    handler: (_input, _req, res) => {
      document ??= openApiDocument(api.routes, {
        title: 'Settle',
        version: '1',
        description: 'Durable multi-seller payment checkouts: authorize, capture, refund, with wallets and a double-entry ledger',
      });
      res.json(document);
    },
  });

  // No route declares OPTIONS: Express's router would answer it itself, without a key, listing the methods.
  app.use((req, _res, next) => next(req.method === 'OPTIONS' ? new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`) : undefined));
  app.use(api.router);
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(ctx.logger));
  return app;
}
