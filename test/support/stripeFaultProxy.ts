import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { declines, FaultPlan, slowBy, stillFailing, type FaultTarget, type PspFault, type PspOperation } from '../../psp/faults';

interface Payment {
  paymentOrderId: string;
  paymentMethod: string;
}

/**
 * An HTTP proxy between the `stripe` client and the Stripe stand-in that injects faults to order: answers
 * 429 or 500 without forwarding (transient), forwards and then drops the connection (the answer is lost
 * after the charge happened), delays, or declines. It learns each PaymentIntent's payment order and payment
 * method from the create call, so faults are planned as for the simulator: per order or per payment method.
 */
export class StripeFaultProxy {
  private readonly plan = new FaultPlan();
  private readonly intents = new Map<string, Payment>();
  /** Every PaymentIntent created through the proxy, per payment order: the PSP's record, seen on the wire. */
  private readonly intentsByOrder = new Map<string, string[]>();
  private server: Server | undefined;
  /** Idempotency as Stripe keeps it, which the stand-in does not: keys in flight, and the answers of keys done. */
  private honoursKeys = false;
  private readonly keysInFlight = new Set<string>();
  private readonly keysDone = new Map<string, { status: number; headers: Record<string, string>; body: Buffer }>();

  constructor(private readonly upstreamPort: number) {}

  /**
   * From now on, answer as Stripe does to a repeated Idempotency-Key: 409 `idempotency_key_in_use` while the
   * first request is still being processed, and the first answer again once it was. (Only answers the
   * stand-in gave are kept; a fault the proxy injected was never processed.)
   */
  honourIdempotencyKeys(): void {
    this.honoursKeys = true;
  }

  inject(target: FaultTarget, fault: PspFault): void {
    this.plan.inject(target, fault);
  }

  /** The ids of every PaymentIntent created through this proxy for a payment order, oldest first. */
  intentsFor(paymentOrderId: string): string[] {
    return this.intentsByOrder.get(paymentOrderId) ?? [];
  }

  async start(): Promise<number> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        res.statusCode = 502;
        res.end(JSON.stringify({ error: { type: 'api_error', message: `proxy: ${error.message}` } }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const key = this.honoursKeys && req.method === 'POST' ? req.headers['idempotency-key'] : undefined;
    if (typeof key !== 'string') {
      await this.process(req, res, body);
      return;
    }
    const done = this.keysDone.get(key);
    if (done) {
      res.writeHead(done.status, { ...done.headers, 'idempotent-replayed': 'true' });
      res.end(done.body);
      return;
    }
    if (this.keysInFlight.has(key)) {
      const message = 'There is currently another in-progress request using this Idempotent Key. Please try again later.';
      return answer(res, 409, { error: { type: 'idempotency_error', code: 'idempotency_key_in_use', message } });
    }
    this.keysInFlight.add(key);
    try {
      const upstream = await this.process(req, res, body);
      if (upstream && upstream.status < 400) this.keysDone.set(key, upstream);
    } finally {
      this.keysInFlight.delete(key);
    }
  }

  /** Injects the planned fault, or forwards; answers what the stand-in answered, if it was asked. */
  private async process(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer } | undefined> {
    const { operation, payment } = this.classify(req, body);
    const planned = operation && payment ? this.plan.take(operation, payment) : undefined;

    const delay = slowBy(planned);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    // A request whose client gave up while it was delayed never reached Stripe: a closed connection is
    // not processed.
    if (delay > 0 && (req.socket.destroyed || res.destroyed)) return;
    if (stillFailing(planned, 'transient')) {
      // Alternate a rate limit and a server error: neither was processed.
      const status = planned!.attempt % 2 === 1 ? 429 : 500;
      answer(res, status, { error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message: 'injected fault' } });
      return undefined;
    }
    if (stillFailing(planned, 'inUse')) {
      // Stripe names this conflict as an idempotency error or as an invalid request: answer both.
      const type = planned!.attempt % 2 === 1 ? 'idempotency_error' : 'invalid_request_error';
      const message = 'There is currently another in-progress request using this Idempotent Key. Please try again later.';
      answer(res, 409, { error: { type, code: 'idempotency_key_in_use', message } });
      return undefined;
    }
    if (planned?.fault.kind === 'decline' && declines(planned)) {
      const { code, message } = planned.fault;
      answer(res, 402, { error: { type: 'card_error', code, decline_code: code, message: message ?? 'Your card was declined.' } });
      return undefined;
    }

    const upstream = await forward(this.upstreamPort, req, body);
    if (process.env.SETTLE_TEST_PROXY_TRACE) console.log('PROXY', req.method, req.url, upstream.status, planned ? JSON.stringify(planned) : '', upstream.status >= 400 ? upstream.body.toString() : '');
    if (req.method === 'POST' && req.url?.split('?')[0] === '/v1/payment_intents' && upstream.status === 200) {
      const intent = JSON.parse(upstream.body.toString('utf8'));
      const paymentOrderId: string = intent.metadata?.payment_order_id ?? '';
      this.intents.set(intent.id, { paymentOrderId, paymentMethod: intent.payment_method ?? '' });
      this.intentsByOrder.set(paymentOrderId, [...(this.intentsByOrder.get(paymentOrderId) ?? []), intent.id]);
    }
    if (stillFailing(planned, 'timeoutAfterCommit')) {
      req.socket.destroy(); // the stand-in did the work; the client never hears of it
      return upstream;
    }
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
    return upstream;
  }

  private classify(req: IncomingMessage, body: Buffer): { operation?: PspOperation; payment?: Payment } {
    if (req.method !== 'POST') return {};
    const path = req.url?.split('?')[0] ?? '';
    const form = new URLSearchParams(body.toString('utf8'));
    const onIntent = /^\/v1\/payment_intents\/(pi_[^/]+)\/(confirm|capture|cancel)$/.exec(path);
    if (onIntent) {
      const operation = ({ confirm: 'authorize', capture: 'capture', cancel: 'void' } as const)[onIntent[2] as 'confirm' | 'capture' | 'cancel'];
      return { operation, payment: this.intents.get(onIntent[1]!) };
    }
    if (path === '/v1/refunds') return { operation: 'refund', payment: this.intents.get(form.get('payment_intent') ?? '') };
    return {};
  }
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(port: number, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: `127.0.0.1:${port}`, 'content-length': String(body.length) };
    const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, async (response) => {
      const payload = await readAll(response);
      const forwarded: Record<string, string> = { 'content-type': response.headers['content-type'] ?? 'application/json' };
      if (response.headers['request-id']) forwarded['request-id'] = String(response.headers['request-id']);
      resolve({ status: response.statusCode ?? 502, headers: forwarded, body: payload });
    });
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
