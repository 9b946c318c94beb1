import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createFloorActivities } from '../bench/floor/activities';
import type { floorCheckoutWorkflow } from '../bench/floor/workflows';
import { historyEvents } from '../bench/load';

/** The benchmark's floor keeps the shape of a checkout: children, their activities, signals and upserts. */

const address = () => process.env.SETTLE_TEST_TEMPORAL_ADDRESS!;
let connection: Connection;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `floor-${randomUUID()}`;
const ended: string[] = [];

beforeAll(async () => {
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error } as never, shutdownSignals: [] });
  nativeConnection = await NativeConnection.connect({ address: address() });
  connection = await Connection.connect({ address: address() });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../bench/floor/workflows'),
    activities: createFloorActivities(0, (checkoutId) => ended.push(checkoutId)),
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker.shutdown();
  await running;
  await connection.close();
  await nativeConnection.close();
});

async function floorCheckout(localDatabaseSteps: boolean) {
  const client = new Client({ connection });
  const handle = await client.workflow.start<typeof floorCheckoutWorkflow>('floorCheckoutWorkflow', {
    workflowId: `floor-test-${randomUUID()}`,
    taskQueue,
    args: [{ orders: 2, localDatabaseSteps }],
  });
  expect(await handle.result()).toBe(2);
  expect(ended).toContain(handle.workflowId);
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const activities = (list: typeof events) => list.flatMap((event) => event.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  const child = await client.workflow.getHandle(`${handle.workflowId}-order-0`).fetchHistory();
  return {
    counted: await historyEvents(client, handle.workflowId),
    checkoutActivities: activities(events),
    orderActivities: activities(child.events ?? []),
    upserts: events.filter((event) => event.upsertWorkflowSearchAttributesEventAttributes).length,
    signalsToOrders: events.filter((event) => event.signalExternalWorkflowExecutionInitiatedEventAttributes).length,
    reports: events.filter((event) => event.workflowExecutionSignaledEventAttributes).length,
    localActivities: events.filter((event) => event.markerRecordedEventAttributes).length,
  };
}

describe('the floor of the checkout benchmark', () => {
  it('runs a checkout as Settle does: one child per order, each authorizing, reporting, then capturing and booking on its signal', async () => {
    const floor = await floorCheckout(false);
    expect(floor.checkoutActivities).toEqual(['recordCheckout', 'setCheckoutStatus', 'completeCheckout']);
    expect(floor.orderActivities).toEqual(['authorize', 'capture', 'book']);
    expect(floor).toMatchObject({ upserts: 3, signalsToOrders: 2, reports: 2, localActivities: 0 });
    expect(floor.counted.orders).toHaveLength(2);
    expect(floor.counted.checkout).toBeGreaterThan(30);
  });

  it('runs the database steps as local activities when asked', async () => {
    const floor = await floorCheckout(true);
    expect(floor.checkoutActivities).toEqual([]);
    expect(floor.orderActivities).toEqual(['authorize', 'capture']);
    expect(floor).toMatchObject({ upserts: 3, localActivities: 3 });
  });
});
