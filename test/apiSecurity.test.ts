import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type Server } from 'node:http';
import os from 'node:os';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { API_KEY_PATTERN, createApiKey, revokeApiKey } from '../db/apiKeys';
import { eventFeedEnd, insertWebhookEndpoint } from '../db/webhookEndpoints';
import { webhookEndpointWorkflowId } from '../domain/webhookEndpoint';
import { blockedPort, isPrivateAddress } from '../domain/webhookUrl';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * The API as an attacker or a careless client meets it: every way around the API key, every place a key or a
 * webhook secret could show, every way to point Settle's webhooks at an address it must not reach, and
 * requests built to make it answer 5xx or hang. Against real Settles: one as production runs it (no private
 * networks), one as development runs it (receivers on 127.0.0.1 allowed) for what a receiver can do.
 */
let strict: TestSettle;
let dev: TestSettle;
/** Everything the strict Settle's API logged, at every level. */
let logged = '';

/** Fast retries, so that giving up fits in seconds. */
const policy = { firstRetryMs: 200, longestRetryMs: 500, retryForMs: 1_500, attemptTimeoutMs: 1_000 };

beforeAll(async () => {
  const capture = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  // Databases of their own: an endpoint is sent every event of its database, and the shared one takes other
  // suites' events all the while, which would queue ahead of this file's and fill its delivery logs.
  [strict, dev] = await Promise.all([
    startSettle({ isolatedDatabase: true, logger: pino({ level: 'trace' }, capture), webhooks: { allowPrivateNetworks: false, delivery: policy } }),
    startSettle({ isolatedDatabase: true, webhooks: { allowPrivateNetworks: true, delivery: policy } }),
  ]);
}, 120_000);
afterAll(() => Promise.all([strict?.stop(), dev?.stop()]));

interface RawAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A request exactly as written: repeated headers stay repeated, nothing is normalized. */
function raw(on: TestSettle, method: string, path: string, headers: Record<string, string | string[]> = {}): Promise<RawAnswer> {
  const { port } = new URL(on.baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Bytes written straight to the API's socket: the status line it answers, or 'closed'. */
async function rawBytes(on: TestSettle, bytes: string): Promise<string> {
  return (await rawAnswer(on, bytes)).split('\r\n')[0] || 'closed';
}

/** Bytes written straight to the API's socket: all it answered before closing, or 'hung'. */
function rawAnswer(on: TestSettle, bytes: string): Promise<string> {
  const { port } = new URL(on.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => {
      socket.destroy();
      resolve('hung');
    });
  });
}

const idOf = (key: string) => API_KEY_PATTERN.exec(key)![1]!;
const secretOf = (key: string) => API_KEY_PATTERN.exec(key)![2]!;

describe('reaching a route without a valid key', () => {
  it.each([
    ['GET', '/v1/events'],
    ['GET', '/V1/EVENTS'],
    ['GET', '/v1/events/'],
    ['GET', '/v1/checkouts/;x'],
    ['GET', '/v1/checkouts/x;'],
    ['GET', '/v1/checkouts/%2E%2E'],
    ['GET', '/metrics'],
    ['GET', '/Metrics/'],
    ['GET', '/openapi.json'],
    ['HEAD', '/v1/events'],
    ['HEAD', '/openapi.json'],
    ['POST', '/v1/checkouts/'],
    ['POST', '/v1/webhook-endpoints'],
  ])('%s %s without a key answers 401', async (method, path) => {
    const answer = await raw(strict, method, path);
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="Settle"');
  });

  it.each([
    ['//v1/events'],
    ['/v1%2Fevents'],
    ['/v1/events%00'],
    ['/healthz/../v1/events'],
    ['/v1/./events'],
  ])('%s matches no route and answers 404 (no data) without a key', async (path) => {
    const answer = await raw(strict, 'GET', path);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body).error.code).toBe('not_found');
  });

  it('OPTIONS is no way in: it answers as an undeclared method, and says nothing of the routes behind a key', async () => {
    for (const path of ['/v1/checkouts', '/v1/checkouts/x', '/v1/webhook-endpoints', '/no/such/route']) {
      const answer = await raw(strict, 'OPTIONS', path);
      expect([path, answer.status, answer.headers.allow]).toEqual([path, 404, undefined]);
      expect(JSON.parse(answer.body).error.code).toBe('not_found');
    }
  });

  it('two Authorization headers are refused, whichever of them holds the live key', async () => {
    const { key: other } = await createApiKey(strict.pool, 'other');
    await revokeApiKey(strict.pool, idOf(other));
    for (const pair of [
      [`Bearer ${strict.apiKey}`, `Bearer ${other}`],
      [`Bearer ${other}`, `Bearer ${strict.apiKey}`],
      [`Bearer ${strict.apiKey}`, `Bearer ${strict.apiKey}`],
      [`Bearer ${strict.apiKey}`, 'Basic dXNlcjpwYXNz'],
    ]) {
      const answer = await raw(strict, 'GET', '/v1/events?limit=1', { Authorization: pair });
      expect([pair.map((value) => value.slice(0, 12)), answer.status]).toEqual([pair.map((value) => value.slice(0, 12)), 401]);
      expect(JSON.parse(answer.body).error.code).toBe('api_key_invalid');
    }
    // One header still works.
    expect((await raw(strict, 'GET', '/v1/events?limit=1', { Authorization: `Bearer ${strict.apiKey}` })).status).toBe(200);
  });

  it.each([
    ['the scheme in lower case', (key: string) => `bearer ${key}`, 200],
    ['several spaces', (key: string) => `Bearer    ${key}   `, 200],
    ['a tab for a space', (key: string) => `Bearer\t${key}`, 401],
    ['no space', (key: string) => `Bearer${key}`, 401],
    ['two keys', (key: string) => `Bearer ${key} ${key}`, 401],
    ['the key upper-cased', (key: string) => `Bearer ${key.toUpperCase()}`, 401],
    ['a comma list', (key: string) => `Bearer ${key}, Bearer ${key}`, 401],
    ['the scheme alone', () => 'Bearer', 401],
    ['a 10 kB key', () => `Bearer sk_${'a'.repeat(10_000)}`, 401],
    ['bytes that are not ASCII', (key: string) => `Bearer ${key}\u00ff`, 401],
  ])('an Authorization header with %s answers %s', async (_what, header, status) => {
    const answer = await raw(strict, 'GET', '/v1/events?limit=1', { Authorization: Buffer.from(header(strict.apiKey), 'latin1').toString('latin1') });
    expect(answer.status).toBe(status);
  });

  it('a key with a trailing newline never gets through, and never a 5xx', async () => {
    const status = await rawBytes(strict, `GET /v1/events?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${strict.apiKey}\n\r\nConnection: close\r\n\r\n`);
    expect(status).not.toMatch(/ (2|5)\d\d /);
    const folded = await rawBytes(strict, `GET /v1/events?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n ${strict.apiKey}\r\nConnection: close\r\n\r\n`);
    expect(folded).not.toMatch(/ (2|5)\d\d /);
  });

  it('a refusal does not tell an unknown key id from a known one with a wrong secret, nor a revoked key from either unless it is whole', async () => {
    const { key: revoked } = await createApiKey(strict.pool, 'revoked');
    await revokeApiKey(strict.pool, idOf(revoked));
    const wrongSecret = `sk_${idOf(strict.apiKey)}_${'0'.repeat(64)}`;
    const unknownId = `sk_${'f'.repeat(16)}_${secretOf(strict.apiKey)}`;
    const revokedWrongSecret = `sk_${idOf(revoked)}_${'0'.repeat(64)}`;
    const answers = await Promise.all(
      [wrongSecret, unknownId, revokedWrongSecret].map(async (key) => {
        const answer = await raw(strict, 'GET', '/v1/events?limit=1', { Authorization: `Bearer ${key}` });
        const { 'request-id': _id, date: _date, ...headers } = answer.headers;
        return { status: answer.status, headers, body: answer.body };
      }),
    );
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });
});

describe('keys and secrets where they should not be', () => {
  it('a key sent the wrong way (query string, X-Api-Key, Proxy-Authorization, a cookie) is not written to the log', async () => {
    const { key } = await createApiKey(strict.pool, 'careless');
    await raw(strict, 'GET', `/v1/events?api_key=${key}`);
    await raw(strict, 'GET', `/v1/events?limit=1&key=Bearer%20${key}`);
    await raw(strict, 'GET', `/v1/checkouts/${key}`);
    await raw(strict, 'GET', '/v1/events?limit=1', { 'X-Api-Key': key });
    await raw(strict, 'GET', '/v1/events?limit=2', { 'Proxy-Authorization': `Bearer ${key}` });
    await raw(strict, 'GET', '/v1/events?limit=3', { 'X-Authorization': `Bearer ${key}` });
    await raw(strict, 'GET', '/healthz', { 'X-Api-Key': key });
    await raw(strict, 'GET', '/nope', { 'X-Api-Key': key, Authorization: `Bearer ${key}` });
    const echoed = await raw(strict, 'GET', '/healthz', { 'Request-Id': `key ${key}` });
    expect(echoed.headers['request-id']).toMatch(/^req_/);
    expect(logged).toContain('/v1/events?limit=3');
    expect(logged).not.toContain(secretOf(key));
  });

  it('a key put in the path is not written to the log of a request that fails with a 5xx either', async () => {
    let failing = '';
    const settle = await startSettle({
      logger: pino({ level: 'trace' }, new Writable({ write: (chunk, _encoding, done) => ((failing += String(chunk)), done()) })),
    });
    const { key } = await createApiKey(strict.pool, 'careless');
    // Its database gone, every request this Settle serves fails (the key check first): a 5xx, logged with its path.
    await settle.pool.end();
    const answer = await fetch(`${settle.baseUrl}/v1/reconciliations/${key}`, { headers: settle.authHeaders });
    expect(answer.status).toBeGreaterThanOrEqual(500);
    await settle.stop().catch(() => undefined);
    expect(failing).toContain('/v1/reconciliations/');
    expect(failing).not.toContain(secretOf(key));
  });

  it('a webhook secret is answered once: never in the endpoint, its listing, its disabling, its delivery log, the document or the log', async () => {
    const created = await dev.post('/v1/webhook-endpoints', { url: 'http://127.0.0.1:1/hooks', events: ['*'] });
    expect(created.status).toBe(201);
    const { id, secret } = created.body;
    expect(secret).toMatch(/^whsec_/);
    const answers = [
      await dev.get(`/v1/webhook-endpoints/${id}`),
      await dev.get('/v1/webhook-endpoints?limit=100'),
      await dev.get(`/v1/webhook-endpoints/${id}/deliveries`),
      await dev.post(`/v1/webhook-endpoints/${id}/disable`, {}),
      await dev.get('/openapi.json'),
    ];
    for (const answer of answers) expect(JSON.stringify(answer.body)).not.toContain(secret);
    const metrics = await fetch(`${dev.baseUrl}/metrics`, { headers: dev.authHeaders });
    expect(await metrics.text()).not.toContain(secret);
  });
});

describe('webhook destinations when private networks are not allowed', () => {
  it.each([
    ['a decimal IPv4 address', 'http://2130706433/hooks'],
    ['a hex IPv4 address', 'http://0x7f.1/hooks'],
    ['an octal IPv4 address', 'http://017700000001/hooks'],
    ['a short IPv4 address', 'http://127.1/hooks'],
    ['IPv4 with a trailing dot', 'http://127.0.0.1./hooks'],
    ['full-width digits', 'http://\uff11\uff12\uff17.0.0.1/hooks'],
    ['IPv4-mapped IPv6 in hex', 'http://[::ffff:7f00:1]/hooks'],
    ['IPv4-compatible IPv6', 'http://[::127.0.0.1]/hooks'],
    ['the long form of ::1', 'http://[0:0:0:0:0:0:0:1]/hooks'],
    ['the IPv6 unspecified address', 'http://[::]/hooks'],
    ['6to4 around a private address', 'http://[2002:a00:1::]/hooks'],
    ['NAT64 around the metadata address', 'http://[64:ff9b::a9fe:a9fe]/hooks'],
    ['IPv6 link-local', 'http://[fe80::1]/hooks'],
    ['IPv6 unique-local', 'http://[fd12::1]/hooks'],
    ['0', 'http://0/hooks'],
    ['localhost with a trailing dot', 'http://localhost./hooks'],
    ['LOCALHOST', 'http://LOCALHOST/hooks'],
    ['the metadata address in decimal', 'http://2852039166/latest/meta-data'],
    ['the carrier-grade NAT range', 'http://100.100.100.200/hooks'],
  ])('refuses %s (400 url_not_allowed, nothing stored)', async (_what, url) => {
    const answer = await strict.post('/v1/webhook-endpoints', { url, events: ['*'] });
    expect([url, answer.status, answer.body.error?.code]).toEqual([url, 400, 'url_not_allowed']);
  });

  it('a name that resolves to a private address is refused without saying what it resolves to', async () => {
    // This machine's own name resolves to an address of this machine, never a public one.
    const answer = await strict.post('/v1/webhook-endpoints', { url: `http://${os.hostname()}:8080/hooks`, events: ['*'] });
    expect([answer.status, answer.body.error?.code]).toEqual([400, 'url_not_allowed']);
    const resolved = await import('node:dns/promises').then((dns) => dns.lookup(os.hostname(), { all: true }));
    for (const { address } of resolved) expect(JSON.stringify(answer.body)).not.toContain(address);
  });

  it.each([
    ['a user name before a loopback address', 'http://a@127.0.0.1/hooks'],
    ['a user name that looks like a host', 'http://example.com@127.0.0.1/hooks'],
    ['a password', 'http://:x@127.0.0.1/hooks'],
  ])('refuses %s (400)', async (_what, url) => {
    const answer = await strict.post('/v1/webhook-endpoints', { url, events: ['*'] });
    expect(answer.status).toBe(400);
  });

  it.each([
    ['SMTP', 'http://93.184.216.34:25/hooks'],
    ['SSH', 'https://93.184.216.34:22/hooks'],
    ['SMTP submission', 'http://93.184.216.34:587/hooks'],
    ['IRC', 'http://93.184.216.34:6667/hooks'],
    ['DNS', 'http://93.184.216.34:53/hooks'],
  ])('refuses a URL on a port of another protocol (%s): 400 url_not_allowed', async (_what, url) => {
    const answer = await strict.post('/v1/webhook-endpoints', { url, events: ['*'] });
    expect([url, answer.status, answer.body.error?.code]).toEqual([url, 400, 'url_not_allowed']);
    expect(answer.body.error.details).toEqual([expect.objectContaining({ field: 'url', message: expect.stringMatching(/port/) })]);
  });

  it('the blocked ports are those the Fetch standard blocks; http and https ports are fine', () => {
    for (const port of [1, 7, 9, 21, 22, 23, 25, 53, 110, 143, 389, 465, 587, 993, 995, 2049, 4190, 5060, 6000, 6667, 10080]) expect([port, blockedPort(port)]).toEqual([port, true]);
    for (const port of [80, 443, 8080, 8443, 3000, 5000, 9000, 32768, 65535]) expect([port, blockedPort(port)]).toEqual([port, false]);
  });

  it.each(['::ffff:0:7f00:1', '2001:db8::1', 'fec0::1', '::ffff:a9fe:a9fe', '0.1.2.3', '255.255.255.255', '224.0.0.1'])('%s is not public', (address) =>
    expect(isPrivateAddress(address)).toBe(true),
  );

  it('at delivery, an endpoint on a blocked port of a public address is not connected to', async () => {
    const id = `we_${randomBytes(16).toString('hex')}`;
    // As if it had been stored before ports were checked: delivery checks again.
    await insertWebhookEndpoint(strict.pool, { id, url: 'http://93.184.216.34:25/hooks', events: ['checkout.created'], description: null, secret: 'whsec_test' });
    await strict.temporal.workflow.start('webhookEndpointWorkflow', {
      workflowId: webhookEndpointWorkflowId(id),
      taskQueue: strict.taskQueue,
      args: [{ endpointId: id, cursor: await eventFeedEnd(strict.pool), policy }],
    });
    await strict.createCheckout({ orders: [{ sellerId: uniqueId('seller'), amount: 500 }] });
    const delivery = await eventually('the delivery attempted', async () => {
      const answer = await strict.get(`/v1/webhook-endpoints/${id}/deliveries`);
      return answer.body.data?.find((entry: { attempts: number }) => entry.attempts > 0);
    });
    expect(delivery.lastHttpStatus).toBeNull();
    expect(delivery.lastError).toMatch(/^not sent: port 25/);
  });
});

/** A receiver on 127.0.0.1 that answers each path as told, and counts what reached it. */
class Receiver {
  readonly hits = new Map<string, number>();
  readonly closed = new Map<string, number>();
  private server!: Server;
  url = '';

  constructor(private readonly answer: (path: string, res: http.ServerResponse, receiver: Receiver) => void) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const path = req.url ?? '';
      req.resume();
      req.on('end', () => {
        this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
        res.on('close', () => this.closed.set(path, (this.closed.get(path) ?? 0) + 1));
        this.answer(path, res, this);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('what a receiver can do to a delivery', () => {
  const streams: NodeJS.Timeout[] = [];
  const receiver = new Receiver((path, res, self) => {
    if (path === '/redirect') {
      res.writeHead(307, { Location: `${self.url}/target` }).end();
    } else if (path === '/stream') {
      // 200, then a body that never ends.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      const timer = setInterval(() => res.write(chunk), 5);
      streams.push(timer);
      res.on('close', () => clearInterval(timer));
    } else if (path === '/huge-headers') {
      res.writeHead(200, { 'X-Filler': 'y'.repeat(200 * 1024) }).end();
    } else {
      res.writeHead(204).end();
    }
  });
  beforeAll(() => receiver.start());
  afterAll(async () => {
    for (const timer of streams) clearInterval(timer);
    await receiver.stop();
  });

  async function deliveryTo(path: string, wanted: (entry: any) => boolean): Promise<any> {
    const created = await dev.post('/v1/webhook-endpoints', { url: receiver.url + path, events: ['checkout.created'] });
    expect(created.status).toBe(201);
    const checkoutId = await dev.createCheckout({ orders: [{ sellerId: uniqueId('seller'), amount: 700 }] });
    return eventually(`a delivery to ${path}`, async () => {
      const answer = await dev.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`);
      return answer.body.data?.find((entry: any) => entry.checkoutId === checkoutId && wanted(entry));
    });
  }

  it('a redirect is not followed, even to an address Settle may reach: the delivery fails and the target gets nothing', async () => {
    const delivery = await deliveryTo('/redirect', (entry) => entry.status === 'failed');
    expect(delivery.lastHttpStatus).toBe(307);
    expect(receiver.hits.get('/target')).toBeUndefined();
  });

  it('a body that never ends: the answer counts at its status, and Settle hangs up', async () => {
    const delivery = await deliveryTo('/stream', (entry) => entry.status !== 'pending');
    expect(delivery.status).toBe('delivered');
    await eventually('Settle hung up on the endless body', async () => (receiver.closed.get('/stream') ?? 0) >= 1, 10_000);
  });

  it('headers larger than Node takes: the attempt fails, named, and is retried', async () => {
    const delivery = await deliveryTo('/huge-headers', (entry) => entry.status === 'failed');
    expect(delivery.lastHttpStatus).toBeNull();
    expect(delivery.lastError).toMatch(/HPE_HEADER_OVERFLOW|header/i);
    expect(delivery.attempts).toBeGreaterThan(1);
  });
});

describe('requests built to make the API fail or hang', () => {
  it('a Request-Id of 10 kB is replaced, not echoed, and the request is served', async () => {
    const answer = await raw(strict, 'GET', '/v1/events?limit=1', { Authorization: `Bearer ${strict.apiKey}`, 'Request-Id': 'r'.repeat(10_000) });
    expect(answer.status).toBe(200);
    expect(answer.headers['request-id']).toMatch(/^req_[0-9a-f]{24}$/);
  });

  it('a Request-Id with CR/LF cannot split the answer: Node refuses the request (4xx), and a bare CR is never reflected', async () => {
    for (const id of ['a\r\nSet-Cookie: x=1', 'a\rSet-Cookie: x=1', 'a\nSet-Cookie: x=1']) {
      const line = await rawBytes(strict, `GET /healthz HTTP/1.1\r\nHost: x\r\nRequest-Id: ${id}\r\nConnection: close\r\n\r\n`);
      expect(line).not.toMatch(/ 5\d\d /);
      expect(line).not.toBe('hung');
    }
  });

  it('a Request-Id with control or non-ASCII bytes is replaced', async () => {
    // Node's parser refuses a control byte itself (400); what it lets through is replaced.
    for (const id of ['a\u0001b', 'a\u007fb']) {
      const control = await rawAnswer(strict, `GET /healthz HTTP/1.1\r\nHost: x\r\nRequest-Id: ${id}\r\nConnection: close\r\n\r\n`);
      expect(control.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    }
    for (const id of ['caf\u00e9', '\u00ff\u00fe', '']) {
      const answer = await rawAnswer(strict, `GET /healthz HTTP/1.1\r\nHost: x\r\nRequest-Id: ${id}\r\nConnection: close\r\n\r\n`);
      expect([JSON.stringify(id), answer.split('\r\n')[0]]).toEqual([JSON.stringify(id), 'HTTP/1.1 200 OK']);
      expect(answer).toMatch(/\r\nRequest-Id: req_[0-9a-f]{24}\r\n/i);
    }
  });

  it('two Request-Id headers answer one id', async () => {
    const answer = await raw(strict, 'GET', '/healthz', { 'Request-Id': ['one', 'two'] });
    expect(answer.status).toBe(200);
    expect(typeof answer.headers['request-id']).toBe('string');
  });

  it('headers beyond what Node takes answer 431, not 5xx, and the API still serves', async () => {
    const line = await rawBytes(strict, `GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Filler: ${'z'.repeat(100_000)}\r\nConnection: close\r\n\r\n`);
    expect(line).toMatch(/ 431 /);
    expect((await raw(strict, 'GET', '/healthz')).status).toBe(200);
  });

  it('a malformed request line or method answers 4xx', async () => {
    for (const bytes of ['FOO /v1/events HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /v1/events HTTP/9.9\r\nHost: x\r\n\r\n', 'GET\r\n\r\n']) {
      const line = await rawBytes(strict, bytes);
      expect(line).not.toMatch(/ (2|5)\d\d /);
      expect(line).not.toBe('hung');
    }
  });
});
