import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Settle's HTTP API as a careful client uses it: a request that gets no answer (connection refused or
 * reset, no answer in time) or a 5xx is sent again, unchanged and with the same Idempotency-Key, until it
 * is answered or the client's patience runs out.
 */

export interface Answer {
  status: number;
  body: any;
  replayed: boolean;
  /** How many times the request was sent again before this answer. */
  retries: number;
}

export interface RequestOptions {
  /** A JSON body, sent with Content-Type: application/json; none when absent. */
  json?: unknown;
  idempotencyKey?: string;
}

export class NoAnswerError extends Error {
  override name = 'NoAnswerError';
}

export class SettleClient {
  requests = 0;
  readonly retried = { connection: 0, timeout: 0, serverError: 0 };

  constructor(
    private readonly baseUrl: string,
    /** The API key every request carries. */
    private readonly apiKey: string,
    /** How long a request is retried before the client gives up on it. */
    private readonly patienceMs = 300_000,
    /** How long one attempt waits for its answer. */
    private readonly attemptTimeoutMs = 30_000,
  ) {}

  get(path: string): Promise<Answer> {
    return this.request('GET', path, {});
  }

  post(path: string, options: RequestOptions = {}): Promise<Answer> {
    return this.request('POST', path, options);
  }

  async request(method: 'GET' | 'POST', path: string, options: RequestOptions): Promise<Answer> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.apiKey}` };
    if (options.json !== undefined) headers['Content-Type'] = 'application/json';
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    const deadline = Date.now() + this.patienceMs;
    let lastProblem = '';
    for (let retries = 0; ; retries += 1) {
      if (retries > 0) {
        if (Date.now() >= deadline) {
          throw new NoAnswerError(`${method} ${path}: no answer after ${retries} attempts in ${this.patienceMs} ms (last: ${lastProblem})`);
        }
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(retries, 5)));
      }
      this.requests += 1;
      let response: Response;
      try {
        response = await fetch(this.baseUrl + path, { method, headers, body, signal: AbortSignal.timeout(this.attemptTimeoutMs) });
      } catch (error) {
        const timedOut = (error as Error).name === 'TimeoutError';
        if (timedOut) this.retried.timeout += 1;
        else this.retried.connection += 1;
        lastProblem = timedOut ? `no answer within ${this.attemptTimeoutMs} ms` : describe(error);
        continue;
      }
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        // The connection died while the answer was on its way: the request may or may not have been served.
        this.retried.connection += 1;
        lastProblem = describe(error);
        continue;
      }
      if (response.status >= 500) {
        this.retried.serverError += 1;
        lastProblem = `${response.status} ${text.slice(0, 200)}`;
        continue;
      }
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text for whoever reports it
      }
      return { status: response.status, body: parsed, replayed: response.headers.get('idempotent-replayed') === 'true', retries };
    }
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
