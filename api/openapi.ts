import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { DeclaredRoute, HeaderSpec } from './routes';
import { errorSchema } from './schemas';

type JsonSchema = Record<string, unknown>;

/**
 * Error answers any route may give, beyond its own: why each happens. 401 is left out for public routes,
 * 413 and 415 for routes that take no body.
 */
const COMMON_ERRORS: Record<number, string> = {
  400: 'The request is malformed: a path id, a query parameter, a header or the body does not validate (details name the field)',
  401: 'No API key, or one that is unknown or revoked',
  404: 'No such resource',
  413: 'The request body is too large',
  415: 'A body was sent that is not JSON',
  500: 'A defect in Settle (never the client\'s input); the request may be retried',
  503: 'A backing service (PostgreSQL, Temporal, a worker) is unavailable or saturated; retry later',
};

const requestIdHeader: HeaderSpec = {
  description: 'The request id: the one the client sent in Request-Id, or one Settle made. It is in every log line of the request',
  schema: z.string(),
  required: true,
};

/** Converts zod schemas, gathering named ones (`.meta({id})`) as shared components. */
class SchemaSet {
  readonly components: Record<string, JsonSchema> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
    const { $schema: _dialect, $defs, ...rest } = converted as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, definition] of Object.entries($defs ?? {})) this.add(id, definition);
    // A named schema converts to a bare reference to itself.
    const ref = rest.$ref as string | undefined;
    return relink(ref && Object.keys(rest).length === 1 ? { $ref: ref } : rest) as JsonSchema;
  }

  private add(id: string, definition: JsonSchema): void {
    const linked = relink(definition) as JsonSchema;
    const known = this.components[id];
    if (known && !isDeepStrictEqual(known, linked)) throw new Error(`two different schemas are named ${id}`);
    this.components[id] = linked;
  }
}

function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        key === '$ref' && typeof inner === 'string' ? inner.replace('#/$defs/', '#/components/schemas/') : relink(inner),
      ]),
    );
  }
  return value;
}

function shapeOf(schema: z.ZodType | undefined): Record<string, z.ZodType> {
  if (!schema) return {};
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) throw new Error('path parameters and query strings are declared as zod objects');
  return shape;
}

function parameters(route: DeclaredRoute, schemas: SchemaSet): JsonSchema[] {
  const path = Object.entries(shapeOf(route.params)).map(([name, schema]) => ({
    name,
    in: 'path',
    required: true,
    schema: schemas.convert(schema, 'input'),
  }));
  const query = Object.entries(shapeOf(route.query)).map(([name, schema]) => {
    const converted = schemas.convert(schema, 'input');
    const { description, ...rest } = converted;
    return { name, in: 'query', required: !schema.safeParse(undefined).success, ...(description ? { description } : {}), schema: rest };
  });
  const headers = Object.entries(route.headers ?? {}).map(([name, header]) => ({
    name,
    in: 'header',
    required: header.required ?? false,
    description: header.description,
    schema: schemas.convert(header.schema, 'input'),
  }));
  return [...path, ...query, ...headers];
}

function responseHeaders(headers: Record<string, HeaderSpec>, schemas: SchemaSet): JsonSchema {
  return Object.fromEntries(
    Object.entries({ 'Request-Id': requestIdHeader, ...headers }).map(([name, header]) => [
      name,
      { description: header.description, required: header.required ?? false, schema: schemas.convert(header.schema, 'output') },
    ]),
  );
}

function errorStatuses(route: DeclaredRoute): number[] {
  const takesBody = route.method === 'post';
  const statuses = new Set<number>([400, 404, 500, ...(route.errors ?? [])]);
  if (!route.public) statuses.add(401).add(503);
  if (takesBody) statuses.add(413).add(415);
  return [...statuses].sort((a, b) => a - b);
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description: string;
}

/** The OpenAPI 3.1 document of the declared routes. */
export function openApiDocument(routes: readonly DeclaredRoute[], info: OpenApiInfo): JsonSchema {
  const schemas = new SchemaSet();
  const errorBody = schemas.convert(errorSchema, 'output');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        headers: responseHeaders(response.headers ?? {}, schemas),
        ...(response.schema ? { content: { 'application/json': { schema: schemas.convert(response.schema, 'output') } } } : {}),
        ...(response.contentType ? { content: { [response.contentType]: { schema: { type: 'string' } } } } : {}),
      };
    }
    for (const status of errorStatuses(route)) {
      responses[String(status)] ??= {
        description: COMMON_ERRORS[status] ?? 'The request cannot be served in the resource\'s present state (the code says why)',
        headers: responseHeaders({}, schemas),
        content: { 'application/json': { schema: errorBody } },
      };
    }
    (paths[path] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.public ? { security: [] } : {}),
      parameters: parameters(route, schemas),
      ...(route.body
        ? {
            requestBody: {
              required: !route.bodyOptional,
              content: { 'application/json': { schema: schemas.convert(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer sk_...` (`npm run apikey -- create --name ...`)' },
      },
      schemas: schemas.components,
    },
  };
}
