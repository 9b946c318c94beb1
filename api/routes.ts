import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { parseBody, parseParams, requireUtf8 } from './requests';

/**
 * Every route of the API is declared once, here in shape: its path, its inputs as zod schemas, its answers.
 * The Express router validates requests with those schemas, and the OpenAPI document (api/openapi.ts) is
 * built from the same declarations, so the document cannot describe a route other than the one that runs.
 */
export type Method = 'get' | 'post';

export interface HeaderSpec {
  description: string;
  schema: z.ZodType;
  required?: boolean;
}

export interface ResponseSpec {
  description: string;
  /** The JSON body; none for an answer without one. */
  schema?: z.ZodType;
  /** An answer that is not JSON (Prometheus text, say): its media type; its body is then text. */
  contentType?: string;
  headers?: Record<string, HeaderSpec>;
}

/** A route's inputs once validated. */
export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Express syntax: `/v1/checkouts/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Answered without an API key (health, readiness). */
  public?: boolean;
  params?: P;
  /** Without one, the route takes no query parameters: an unknown one is a 400, as Stripe answers. */
  query?: Q;
  /** A JSON body. `bodyOptional`: no body at all stands for `{}`. */
  body?: B;
  bodyOptional?: boolean;
  /**
   * The body reaches the handler as the bytes that arrived (`req.body` a Buffer), unparsed: a webhook whose
   * signature covers them. `body` then only describes it in the document.
   */
  rawBody?: { limit: string };
  /** Request headers the route reads (Idempotency-Key ...), for the document. */
  headers?: Record<string, HeaderSpec>;
  /** The route's own answers; the error answers every route can give are added by the registry. */
  responses: Record<number, ResponseSpec>;
  /** Error statuses particular to this route (409, 413 ...), beyond those every route may answer. */
  errors?: number[];
  handler: (input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>, req: Request, res: Response) => Promise<void> | void;
}

/** A declared route, as the document and the tests read it. */
export type DeclaredRoute = Omit<RouteSpec<z.ZodType, z.ZodType, z.ZodType>, 'handler'>;

const noQuery = z.strictObject({});
const noBody = z.strictObject({});

// Not strict: a JSON body that is not an object (null, a number) reaches validation and is named there.
const jsonBody = express.json({ limit: '100kb', strict: false, type: ['application/json', 'application/*+json'], verify: requireUtf8 });

export class RouteRegistry {
  readonly routes: DeclaredRoute[] = [];
  readonly router = Router();

  /** `authenticate` runs before every route that is not public, before its body is read. */
  constructor(private readonly authenticate: RequestHandler = (_req, _res, next) => next()) {}

  route<P extends z.ZodType = z.ZodObject<{}>, Q extends z.ZodType = z.ZodObject<{}>, B extends z.ZodType = z.ZodObject<{}>>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    const { handler, ...declared } = spec;
    if (this.routes.some((route) => route.operationId === spec.operationId)) throw new Error(`operationId ${spec.operationId} is declared twice`);
    this.routes.push(declared);
    const bodyParser = spec.rawBody ? express.raw({ type: () => true, limit: spec.rawBody.limit }) : jsonBody;
    const guards = spec.public ? [bodyParser] : [this.authenticate, bodyParser];
    this.router[spec.method](spec.path, ...guards, async (req: Request, res: Response) => {
      if (spec.rawBody) {
        await handler({ params: {}, query: {}, body: req.body } as RouteInput<z.output<P>, z.output<Q>, z.output<B>>, req, res);
        return;
      }
      const params = spec.params ? parseParams(req.params, spec.params) : {};
      const query = parseParams(req.query, spec.query ?? noQuery);
      // A route without a body still refuses one that is not JSON (415), or one that says something (400).
      const body = parseBody(req, spec.body ?? noBody, { optional: spec.bodyOptional ?? !spec.body });
      await handler({ params, query, body } as RouteInput<z.output<P>, z.output<Q>, z.output<B>>, req, res);
    });
  }
}
