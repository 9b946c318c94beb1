import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';

export interface CheckedResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface DocumentOperation {
  path: string;
  method: string;
  operation: any;
}

const pointer = (...parts: string[]) => parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * Holds real answers against the OpenAPI document Settle serves: the status must be one the operation
 * declares, the body must be what its schema describes, and its required headers must be there. Records
 * what it saw, per operation, so a suite can tell which operations it has covered.
 */
export class DocumentChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly matchers: Array<{ pattern: RegExp } & DocumentOperation>;
  /** operationId -> statuses seen. */
  readonly seen = new Map<string, Set<number>>();

  constructor(readonly document: any) {
    this.ajv.addSchema(document, 'openapi.json');
    this.matchers = this.operations().map((entry) => ({
      ...entry,
      pattern: new RegExp(`^${entry.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  operations(): DocumentOperation[] {
    return Object.entries(this.document.paths).flatMap(([path, methods]: [string, any]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    );
  }

  /** The operation serving a request, or undefined for a path no route has (its 404 is the app's). */
  operationFor(method: string, url: string): DocumentOperation | undefined {
    const path = new URL(url, 'http://settle').pathname;
    // A literal path wins over a template (`/v1/checkouts` over `/v1/checkouts/{id}` cannot clash, but
    // `/v1/payment-orders/{id}/refunds` and a longer literal could).
    const matching = this.matchers.filter((entry) => entry.method === method.toLowerCase() && entry.pattern.test(path));
    return matching.sort((a, b) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0))[0];
  }

  /** Throws, saying what differs, when the answer is not one the document declares. */
  check(method: string, url: string, answer: CheckedResponse): void {
    const found = this.operationFor(method, url);
    if (!found) return;
    const { path, operation } = found;
    const declared = operation.responses[String(answer.status)];
    if (!declared) {
      throw new Error(`${method} ${url} answered ${answer.status}, which ${operation.operationId} does not declare: ${JSON.stringify(answer.body)}`);
    }
    if (declared.content?.['application/json']?.schema) {
      const ref = `openapi.json#/${pointer('paths', path, method.toLowerCase(), 'responses', String(answer.status), 'content', 'application/json', 'schema')}`;
      let validate = this.validators.get(ref);
      if (!validate) {
        validate = this.ajv.getSchema(ref)!;
        this.validators.set(ref, validate);
      }
      if (!validate(answer.body)) {
        throw new Error(`${method} ${url} ${answer.status}: body outside the document's schema: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body).slice(0, 2000)}`);
      }
    }
    for (const [name, header] of Object.entries<any>(declared.headers ?? {})) {
      if (header.required && !answer.headers.get(name)) throw new Error(`${method} ${url} ${answer.status}: the ${name} header is missing`);
    }
    if (!this.seen.has(operation.operationId)) this.seen.set(operation.operationId, new Set());
    this.seen.get(operation.operationId)!.add(answer.status);
  }

  /** Compiles a component schema in the document's own context (its $refs resolve). */
  compileComponent(name: string): ValidateFunction {
    return this.ajv.getSchema(`openapi.json#/${pointer('components', 'schemas', name)}`)!;
  }
}
