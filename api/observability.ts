import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Pool } from '../db/pool';
import { readTotals } from '../db/totals';
import { checkoutWorkflowId, isCheckoutId } from '../domain/ids';
import type { RouteRegistry } from './routes';

/** A client's own Request-Id is kept when it is printable ASCII of reasonable length; otherwise it gets one. */
const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,200}$/;
/** Routes polled by machines: their access lines are debug, so they do not drown the others. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** A scrape reads the totals from the database; past this, PostgreSQL cancels it and the scrape goes on without. */
const TOTALS_TIMEOUT_MS = 2_000;
/** The route label of a request that matched no route: raw paths would make a label value per id. */
const UNMATCHED = 'unmatched';

/**
 * An API key's secret wherever a careless client put it (the query string, X-Api-Key, a Request-Id): the
 * access log keeps the key's id and masks the rest.
 */
const API_KEY_SECRET = /(sk_[0-9a-f]{16}_)[0-9a-f]+/gi;

export function withoutKeySecrets<T>(value: T): T {
  if (typeof value === 'string') return value.replace(API_KEY_SECRET, '$1[redacted]') as T;
  if (Array.isArray(value)) return value.map(withoutKeySecrets) as T;
  return value;
}

export function requestIdFor(header: string | string[] | undefined): string {
  if (typeof header === 'string' && CLIENT_REQUEST_ID.test(header) && withoutKeySecrets(header) === header) return header;
  return `req_${randomBytes(12).toString('hex')}`;
}

/** Tells the access log which checkout (and so which workflow) a request is about; an id of no checkout is not one. */
export function noteCheckout(res: Response, checkoutId: string): void {
  if (!isCheckoutId(checkoutId)) return;
  res.locals.checkoutId = checkoutId;
  res.locals.workflowId ??= checkoutWorkflowId(checkoutId);
}

/** The route a request matched, as declared (`/v1/checkouts/:id`), never the raw path. */
function routePattern(req: IncomingMessage): string | undefined {
  const { route, baseUrl } = req as Partial<Request>;
  return route ? `${baseUrl ?? ''}${String(route.path)}` : undefined;
}

/** What the access line says beyond the request and its answer: the route, and the checkout where known. */
function requestContext(req: IncomingMessage, res: ServerResponse): Record<string, string> {
  const locals: Record<string, unknown> = (res as Partial<Response>).locals ?? {};
  const context: Record<string, string> = {};
  const route = routePattern(req);
  if (route) context.route = route;
  for (const key of ['checkoutId', 'workflowId', 'apiKeyId'] as const) {
    const value = locals[key];
    if (typeof value === 'string') context[key] = value;
  }
  return context;
}

/**
 * The API's metrics, on a registry of its own: HTTP requests by method, route and status; the books' totals
 * read from the database at each scrape; and the process's own (CPU, memory, event loop), shared by every
 * API in the process.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from a request arriving to its answer being sent, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly checkouts = new Gauge({
    name: 'settle_checkouts',
    help: 'Checkouts by status (from the database at scrape)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly refunds = new Gauge({
    name: 'settle_refunds',
    help: 'Refunds by status (from the database at scrape)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly captured = new Counter({
    name: 'settle_captured_minor_units_total',
    help: 'Money captured by payment orders, in minor units of each currency (from the database at scrape)',
    labelNames: ['currency'] as const,
    registers: [this.registry],
  });
  private readonly refunded = new Counter({
    name: 'settle_refunded_minor_units_total',
    help: 'Money refunded on payment orders, in minor units of each currency (from the database at scrape)',
    labelNames: ['currency'] as const,
    registers: [this.registry],
  });
  private readonly totalsRead = new Gauge({
    name: 'settle_totals_read',
    help: '1 if the last scrape read the totals from the database, 0 if it could not (the settle_ totals are then absent)',
    registers: [this.registry],
  });

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {}

  /** Counts one answered request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  /** The Prometheus text exposition of every metric, the totals read now. */
  async scrape(): Promise<string> {
    await this.readTotals();
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${own}\n${process}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async readTotals(): Promise<void> {
    for (const metric of [this.checkouts, this.refunds, this.captured, this.refunded]) metric.reset();
    try {
      const totals = await readTotals(this.pool, TOTALS_TIMEOUT_MS);
      for (const { status, count } of totals.checkoutsByStatus) this.checkouts.set({ status }, count);
      for (const { status, count } of totals.refundsByStatus) this.refunds.set({ status }, count);
      for (const { currency, captured, refunded } of totals.moneyByCurrency) {
        this.captured.inc({ currency }, captured);
        this.refunded.inc({ currency }, refunded);
      }
      this.totalsRead.set(1);
    } catch (error) {
      this.logger.warn({ err: error }, 'metrics: could not read the totals from the database');
      this.totalsRead.set(0);
    }
  }
}

let processRegistry: Registry | undefined;

/** CPU, memory, event loop and GC: one set per process, however many apps it runs (the tests run many). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * Mounted first, so that every answer (401, 404, 415, 500 ...) has it: a Request-Id (the client's, or a new
 * one) on the answer and on every log line of the request (`req.log`), an access line at the end naming the
 * route pattern, status, duration and the checkout where known, and the request counted in the metrics.
 */
export function observeRequests(logger: Logger, metrics: ApiMetrics): RequestHandler[] {
  const accessLog = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdFor(req.headers['request-id']);
      res.setHeader('Request-Id', id);
      return id;
    },
    // Lines logged during the request carry only its id; the access line carries the request itself.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId', responseTime: 'durationMs' },
    serializers: {
      req: (req: { method: string; url: string; headers: Record<string, unknown>; remoteAddress?: string }) => ({
        method: req.method,
        url: withoutKeySecrets(req.url),
        headers: Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, withoutKeySecrets(value)])),
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["stripe-signature"]'], censor: '[redacted]' },
    customProps: requestContext,
    customLogLevel: (req, res, error) => {
      const probe = PROBE_PATHS.has((req as Partial<Request>).path ?? '');
      if (probe && res.statusCode < 500) return 'debug';
      if (error || res.statusCode >= 500) return probe ? 'warn' : 'error';
      return 'info';
    },
    customSuccessMessage: (req, res) => `${req.method} ${routePattern(req) ?? UNMATCHED} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${routePattern(req) ?? UNMATCHED} ${res.statusCode}`,
  });

  const countRequest: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    let counted = false;
    const count = () => {
      if (counted) return;
      counted = true;
      metrics.observe(req.method, routePattern(req) ?? UNMATCHED, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    };
    res.once('finish', count);
    res.once('close', count);
    next();
  };

  return [accessLog, countRequest];
}

/** GET /metrics: Prometheus's text format. */
export function metricsRoute(api: RouteRegistry, metrics: ApiMetrics): void {
  api.route({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics: HTTP requests by route and status, checkouts and refunds by status, money captured and refunded per currency, the process',
    description:
      'Text exposition format 0.0.4. The settle_ totals are read from the database at each scrape and are the same on every API process of a deployment: aggregate them with max, not sum.',
    responses: {
      // Not JSON: the body is Prometheus's text format (Content-Type text/plain; version=0.0.4).
      200: { description: 'The metrics in Prometheus text exposition format (text/plain; version=0.0.4)', contentType: 'text/plain' },
    },
    handler: async (_input, _req, res) => {
      res.setHeader('Content-Type', metrics.contentType);
      res.send(await metrics.scrape());
    },
  });
}
