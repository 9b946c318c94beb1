import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config';
import { API_KEY_PATTERN, createApiKey, revokeApiKey } from '../db/apiKeys';
import { startApiKey } from '../dev/apiKey';
import { buildSettle, type Build } from './support/build';
import { readAnswer, startSettle, uniqueId, type TestResponse, type TestSettle } from './support/settle';

/**
 * Every route but health, readiness and the Stripe webhook asks for a live API key, against the real API on
 * a real database; the key never reaches a log; keys are made, listed and revoked by the operator command.
 */
let settle: TestSettle;
/** Everything the API logged, at every level. */
let logged = '';

beforeAll(async () => {
  const capture = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  settle = await startSettle({ logger: pino({ level: 'trace' }, capture) });
});
afterAll(() => settle?.stop());

/** A request with exactly these headers: no key unless given. */
async function send(method: 'GET' | 'POST', urlPath: string, headers: Record<string, string> = {}, body?: unknown): Promise<TestResponse> {
  const response = await fetch(settle.baseUrl + urlPath, {
    method,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return readAnswer(response);
}

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const secretOf = (key: string) => API_KEY_PATTERN.exec(key)![2]!;
const idOf = (key: string) => API_KEY_PATTERN.exec(key)![1]!;

/** Another key's id with this key's secret, and the other way round: each half right, the whole wrong. */
async function refusedKeys(): Promise<Record<string, { authorization: string; code: string }>> {
  const { key: other } = await createApiKey(settle.pool, 'other');
  const { key: revoked } = await createApiKey(settle.pool, 'revoked');
  await revokeApiKey(settle.pool, idOf(revoked));
  const unknownId = `sk_${'0'.repeat(16)}_${secretOf(settle.apiKey)}`;
  return {
    'a Basic credential': { authorization: `Basic ${Buffer.from(`user:${settle.apiKey}`).toString('base64')}`, code: 'api_key_missing' },
    'a wrong secret for a real id': { authorization: `Bearer sk_${idOf(settle.apiKey)}_${secretOf(other)}`, code: 'api_key_invalid' },
    'an unknown id': { authorization: `Bearer ${unknownId}`, code: 'api_key_invalid' },
    'a malformed key': { authorization: `Bearer ${settle.apiKey}x`, code: 'api_key_invalid' },
    'a Stripe key': { authorization: 'Bearer sk_test_settle', code: 'api_key_invalid' },
    'an empty bearer': { authorization: 'Bearer ', code: 'api_key_invalid' },
    'a revoked key': { authorization: `Bearer ${revoked}`, code: 'api_key_revoked' },
  };
}

function expectRefusal(answer: TestResponse, code: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status: 401,
    body: { error: { code, message: expect.any(String), details: [] } },
  });
  expect(answer.headers.get('WWW-Authenticate')).toBe('Bearer realm="Settle"');
}

describe('a request without a live API key', () => {
  it('without an Authorization header answers 401 api_key_missing with a Bearer challenge', async () => {
    expectRefusal(await send('GET', '/v1/events'), 'api_key_missing');
  });

  it('answers 401 for each way a key can be wrong, and a refused checkout leaves nothing behind', async () => {
    for (const [what, { authorization, code }] of Object.entries(await refusedKeys())) {
      const idempotencyKey = uniqueId('key');
      const customerId = uniqueId('cus');
      const answer = await send('POST', '/v1/checkouts', { Authorization: authorization, 'Idempotency-Key': idempotencyKey }, {
        customerId,
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        orders: [{ sellerId: uniqueId('seller'), amount: 1000 }],
      });
      expect([what, answer.status, answer.body?.error?.code]).toEqual([what, 401, code]);
      expectRefusal(answer, code);
      const claimed = await settle.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [idempotencyKey]);
      const checkouts = await settle.pool.query('SELECT 1 FROM checkouts WHERE customer_id = $1', [customerId]);
      expect([what, claimed.rowCount, checkouts.rowCount]).toEqual([what, 0, 0]);
    }
  });

  it('is refused before its body is read: a body that is not JSON still answers 401', async () => {
    const response = await fetch(`${settle.baseUrl}/v1/checkouts`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"orders": [' });
    expect(response.status).toBe(401);
  });
});

describe('a request with a live API key', () => {
  it('reaches its route, whatever the case of the scheme', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const answer = await send('GET', '/v1/events?limit=1', { Authorization: `${scheme} ${settle.apiKey}` });
      expect([scheme, answer.status]).toEqual([scheme, 200]);
    }
    const missing = await send('GET', `/v1/checkouts/chk_${'0'.repeat(32)}`, bearer(settle.apiKey));
    expect(missing.status).toBe(404);
  });

  it('starts a checkout', async () => {
    const answer = await send('POST', '/v1/checkouts', { ...bearer(settle.apiKey), 'Idempotency-Key': uniqueId('key') }, {
      customerId: uniqueId('cus'),
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
      orders: [{ sellerId: uniqueId('seller'), amount: 1000 }],
    });
    expect(answer.status).toBe(202);
    expect((await settle.checkoutResult(answer.body.checkoutId)).status).toBe('SUCCEEDED');
  });
});

describe('the routes open without a key', () => {
  it('health and readiness answer without a key', async () => {
    expect((await send('GET', '/healthz')).status).toBe(200);
    expect((await send('GET', '/readyz')).status).toBe(200);
  });

  it('the Stripe webhook answers by its signature, not by a key', async () => {
    const answer = await send('POST', '/webhooks/stripe', {}, { id: 'evt_1' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('signature_missing');
  });
});

/** Every route Express serves, from its own router: a route added outside the registry is found too. */
function servedRoutes(app: Express): Array<{ method: string; path: string }> {
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const walk = (stack: Layer[]): Array<{ method: string; path: string }> =>
    stack.flatMap((layer) => {
      if (layer.route) return Object.keys(layer.route.methods).map((method) => ({ method: method.toUpperCase(), path: String(layer.route!.path) }));
      return layer.handle?.stack ? walk(layer.handle.stack) : [];
    });
  return walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
}

describe('every route', () => {
  it('answers 401 without a key, but health, readiness and the Stripe webhook', async () => {
    const routes = servedRoutes(settle.app);
    expect(routes.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining(['POST /v1/checkouts', 'GET /openapi.json', 'GET /metrics', 'GET /v1/events']),
    );
    const open: string[] = [];
    for (const route of routes) {
      const urlPath = route.path.replace(/:(\w+)/g, 'x');
      const answer = await send(route.method as 'GET' | 'POST', urlPath, {}, route.method === 'POST' ? {} : undefined);
      if (answer.status === 401) expectRefusal(answer, 'api_key_missing');
      else open.push(`${route.method} ${route.path}`);
    }
    expect(open.sort()).toEqual(['GET /healthz', 'GET /readyz', 'POST /webhooks/stripe']);
  });

  it('the OpenAPI document asks for the key on exactly the routes that do', async () => {
    const document = (await send('GET', '/openapi.json', bearer(settle.apiKey))).body;
    const open = Object.entries<Record<string, { security?: unknown[] }>>(document.paths).flatMap(([documentPath, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => Array.isArray(operation.security) && operation.security.length === 0)
        .map(([method]) => `${method.toUpperCase()} ${documentPath}`),
    );
    expect(open.sort()).toEqual(['GET /healthz', 'GET /readyz', 'POST /webhooks/stripe']);
  });
});

describe('the API log', () => {
  it('holds no key and no secret, accepted or refused', async () => {
    const keys = [settle.apiKey, ...Object.values(await refusedKeys()).map(({ authorization }) => authorization.replace(/^Bearer /, ''))];
    for (const key of keys) {
      await send('GET', '/v1/events?limit=1', bearer(key));
      await send('POST', '/v1/checkouts', bearer(key), { not: 'a checkout' });
    }
    await send('GET', '/v1/events?limit=1', { Authorization: `Basic ${Buffer.from(`user:${settle.apiKey}`).toString('base64')}` });
    // The log holds these requests (access lines at trace), so its silence on keys means something.
    expect(logged).toContain('/v1/events?limit=1');
    for (const key of keys.filter((candidate) => API_KEY_PATTERN.test(candidate))) {
      expect(logged).not.toContain(secretOf(key));
    }
    expect(logged).not.toContain(settle.apiKey);
    expect(logged).not.toContain(Buffer.from(`user:${settle.apiKey}`).toString('base64'));
  });
});

describe('SETTLE_API_KEY', () => {
  it('must be a Settle key, and the refusal does not repeat it', () => {
    const attempt = () => loadConfig({ SETTLE_API_KEY: 'sk_test_not-a-settle-key' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/SETTLE_API_KEY: must be a Settle API key/);
    expect(attempt).not.toThrow(/not-a-settle-key/);
    expect(loadConfig({ SETTLE_API_KEY: settle.apiKey }).apiKey).toBe(settle.apiKey);
  });
});

describe("npm start's API key", () => {
  it('without SETTLE_API_KEY: made once, kept readable by its owner only, reused while the database accepts it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'settle-keys-'));
    const first = await startApiKey(settle.pool, { configured: undefined, dataDir });
    expect(first).toMatchObject({ key: expect.stringMatching(API_KEY_PATTERN), print: true });
    expect((await readFile(path.join(dataDir, 'api-key'), 'utf8')).trim()).toBe(first.key);
    expect((await stat(path.join(dataDir, 'api-key'))).mode & 0o777).toBe(0o600);
    expect((await send('GET', '/v1/events?limit=1', bearer(first.key))).status).toBe(200);

    expect(await startApiKey(settle.pool, { configured: undefined, dataDir })).toEqual({ key: first.key, print: true });

    await revokeApiKey(settle.pool, idOf(first.key));
    const after = await startApiKey(settle.pool, { configured: undefined, dataDir });
    expect(after.key).not.toBe(first.key);
    expect((await readFile(path.join(dataDir, 'api-key'), 'utf8')).trim()).toBe(after.key);
    expect((await send('GET', '/v1/events?limit=1', bearer(after.key))).status).toBe(200);
  });

  it('with SETTLE_API_KEY: that key, registered once and never printed; a revoked one stops the start', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'settle-keys-'));
    const configured = `sk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('hex')}`;
    expect((await send('GET', '/v1/events?limit=1', bearer(configured))).status).toBe(401);
    const first = await startApiKey(settle.pool, { configured, dataDir });
    expect(first).toMatchObject({ key: configured, print: false, note: expect.stringContaining(idOf(configured)) });
    expect(first.note).not.toContain(secretOf(configured));
    expect((await send('GET', '/v1/events?limit=1', bearer(configured))).status).toBe(200);
    expect(await startApiKey(settle.pool, { configured, dataDir })).toEqual({ key: configured, print: false, note: undefined });

    const sameIdOtherSecret = `sk_${idOf(configured)}_${randomBytes(32).toString('hex')}`;
    await expect(startApiKey(settle.pool, { configured: sameIdOtherSecret, dataDir })).rejects.toThrow(/holds with another secret/);
    await revokeApiKey(settle.pool, idOf(configured));
    await expect(startApiKey(settle.pool, { configured, dataDir })).rejects.toThrow(/was revoked/);
    expect((await send('GET', '/v1/events?limit=1', bearer(configured))).status).toBe(401);
  });
});

describe('npm run apikey', () => {
  let build: Build;
  beforeAll(async () => {
    build = await buildSettle();
  }, 300_000);

  /** The command as `npm run apikey` runs it after its build: `node dist/bin/apikey.js`. */
  const apikey = (args: string[], env: Record<string, string> = { DATABASE_URL: process.env.SETTLE_TEST_DATABASE_URL! }) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(build.dir, 'bin', 'apikey.js'), ...args], { env: { ...build.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });

  it('creates a key that works, printed once on a line of its own; list shows it without its secret; revoke refuses it', async () => {
    const name = `checkout frontend ${uniqueId('n')}`;
    const created = await apikey(['create', '--name', name]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^sk_[0-9a-f]{16}_[0-9a-f]{64}\n$/);
    const key = created.stdout.trim();
    const id = idOf(key);
    expect(created.stderr).toContain(id);
    expect(created.stderr).not.toContain(secretOf(key));
    expect((await send('GET', '/v1/events?limit=1', bearer(key))).status).toBe(200);

    const listed = await apikey(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^id\s+name\s+prefix\s+created\s+revoked$/);
    const line = listed.stdout.split('\n').find((row) => row.startsWith(id));
    expect(line).toMatch(new RegExp(`^${id}  +${name}  +sk_${id}_${secretOf(key).slice(0, 4)}  +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  +-$`));
    expect(listed.stdout).not.toContain(secretOf(key));
    expect(listed.stdout).not.toMatch(/[0-9a-f]{64}/);

    const revoked = await apikey(['revoke', id]);
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringContaining(`API key ${id} ('${name}') revoked at `) });
    expectRefusal(await send('GET', '/v1/events?limit=1', bearer(key)), 'api_key_revoked');
    const again = await apikey(['revoke', id]);
    expect(again).toMatchObject({ code: 0, stdout: revoked.stdout });
    expect((await apikey(['list'])).stdout.split('\n').find((row) => row.startsWith(id))).toMatch(/Z  +\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  }, 60_000);

  it('revoking a key never issued exits 1, saying so', async () => {
    const answer = await apikey(['revoke', 'f'.repeat(16)]);
    expect(answer).toMatchObject({ code: 1, stderr: `no API key with id ${'f'.repeat(16)}\n` });
  });

  it('exits 2 with its usage on arguments it does not understand, before it touches a database', async () => {
    const unreachable = new URL(process.env.SETTLE_TEST_DATABASE_URL!);
    unreachable.port = '1';
    const cases: Array<[string[], RegExp]> = [
      [[], /name a command/],
      [['destroy'], /unknown command 'destroy'/],
      [['create'], /create needs --name/],
      [['create', '--name'], /--name/],
      [['create', '--name', ' padded '], /--name must be/],
      [['create', '--name', 'x', 'extra'], /no arguments besides --name/],
      [['list', '--name', 'x'], /--name applies to create only/],
      [['list', '--verbose'], /Unknown option '--verbose'/],
      [['revoke'], /revoke takes one key id/],
      [['revoke', 'sk_0123456789abcdef_00'], /is not a key id/],
    ];
    for (const [args, message] of cases) {
      const answer = await apikey(args, { DATABASE_URL: unreachable.toString() });
      expect([args, answer.code]).toEqual([args, 2]);
      expect(answer.stderr).toMatch(message);
      expect(answer.stderr).toContain('usage:');
      expect(answer.stdout).toBe('');
    }
  });

  it('exits 1 when it cannot reach DATABASE_URL', async () => {
    const unreachable = new URL(process.env.SETTLE_TEST_DATABASE_URL!);
    unreachable.port = '1';
    const answer = await apikey(['list'], { DATABASE_URL: unreachable.toString() });
    expect(answer).toMatchObject({ code: 1, stderr: 'apikey could not run: cannot reach DATABASE_URL\n' });
  });
});
