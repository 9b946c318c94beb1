import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pino from 'pino';
import { createApp } from '../api/app';
import { listen } from '../api/listen';
import { checkoutWorkflowId } from '../domain/ids';
import { createApiKey } from '../db/apiKeys';
import { createPool } from '../db/pool';
import { ConfigError } from '../config';
import { ensureSearchAttributes } from '../workers/searchAttributes';
import { CheckoutStatusAttribute, CustomerIdAttribute } from '../workflows/definitions';
import { eventually } from './support/settle';

let connection: Connection;
beforeAll(async () => {
  connection = await Connection.connect({ address: process.env.SETTLE_TEST_TEMPORAL_ADDRESS! });
});
afterAll(() => connection?.close());

/** A namespace of its own, as on a Temporal cluster that has never seen Settle. */
async function freshNamespace(): Promise<string> {
  const namespace = `settle-${randomUUID().slice(0, 8)}`;
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await eventually('the namespace to be usable', () => connection.operatorService.listSearchAttributes({ namespace }).then(() => true, () => false));
  return namespace;
}

/** Starts a checkout workflow the way the API does (no worker needed: the start itself checks the attributes). */
function startCheckout(namespace: string) {
  const client = new Client({ connection, namespace });
  return client.workflow.start('checkoutWorkflow', {
    workflowId: checkoutWorkflowId(`chk_${randomUUID().replace(/-/g, '')}`),
    taskQueue: `unpolled-${randomUUID()}`,
    args: [],
    typedSearchAttributes: [
      { key: CheckoutStatusAttribute, value: 'PENDING' },
      { key: CustomerIdAttribute, value: 'cus_1' },
    ],
  });
}

describe("Settle's search attributes on a cluster that has never seen Settle", () => {
  it('are registered by the worker, once, however many workers start together, and then checkouts start', async () => {
    const namespace = await freshNamespace();
    const refused = (await startCheckout(namespace).catch((error: Error & { cause?: Error }) => error)) as Error & { cause?: Error };
    expect(`${refused.message}: ${refused.cause?.message}`).toMatch(/no mapping defined for search attribute (CheckoutStatus|CustomerId)/);

    const added = await Promise.all([1, 2, 3].map(() => ensureSearchAttributes(connection, namespace)));
    expect(added.flat().sort()).toEqual(expect.arrayContaining(['CheckoutStatus', 'CustomerId']));
    expect(await ensureSearchAttributes(connection, namespace)).toEqual([]);
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(['CheckoutStatus', 'CustomerId']));

    const handle = await eventually('a checkout to start with its search attributes', () => startCheckout(namespace).catch(() => undefined));
    await handle.terminate('test');
  });
});

describe('an API pointed at a namespace Settle cannot use', () => {
  const post = async (namespace: string) => {
    const pool = createPool(process.env.SETTLE_TEST_DATABASE_URL!, 2);
    const app = createApp({
      pool,
      temporal: new Client({ connection, namespace }),
      taskQueue: `unpolled-${randomUUID()}`,
      authorizationWindowMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const { key } = await createApiKey(pool, 'search attributes test');
      const response = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1/checkouts`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID(), Authorization: `Bearer ${key}` },
        body: JSON.stringify({ customerId: 'cus_1', currency: 'USD', paymentMethod: 'pm_card_visa', orders: [{ sellerId: 's1', amount: 100 }] }),
      });
      return { status: response.status, body: (await response.json()) as { error: { code: string; message: string } } };
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await pool.end();
    }
  };

  it('names a namespace without search attributes as a configuration error, not as unavailable', async () => {
    const answer = await post(await freshNamespace());
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('temporal_misconfigured');
    expect(answer.body.error.message).toMatch(/search attribute.*start a Settle worker/);
  });

  it('names a namespace that does not exist', async () => {
    const answer = await post(`settle-missing-${randomUUID().slice(0, 8)}`);
    expect(answer).toMatchObject({ status: 503, body: { error: { code: 'temporal_misconfigured' } } });
    expect(answer.body.error.message).toMatch(/TEMPORAL_NAMESPACE/);
  });
});

describe('a namespace whose search attributes this identity may not add (Temporal Cloud)', () => {
  it('stops the worker with the commands that register them by hand', async () => {
    const refusing = {
      operatorService: {
        listSearchAttributes: async () => ({ customAttributes: { CustomerId: 2 } }),
        addSearchAttributes: async () => {
          throw new Error('7 PERMISSION_DENIED: Request unauthorized.');
        },
      },
    } as unknown as Connection;
    const failure = await ensureSearchAttributes(refusing, 'settle.a1b2c').catch((error: Error) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/lacks the search attributes CheckoutStatus and adding them failed \(7 PERMISSION_DENIED/);
    expect((failure as Error).message).toContain('temporal operator search-attribute create --namespace settle.a1b2c --name CheckoutStatus --type Keyword');
  });
});
