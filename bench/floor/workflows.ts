import {
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { CheckoutStatusAttribute } from '../../workflows/definitions';
import type { FloorActivities } from './activities';

/**
 * Settle's checkout with nothing of Settle in it: the same workflows, children, activities, signals and
 * search-attribute upserts, each activity a no-op. Run on the same server as Settle, it is the fastest a
 * checkout of this shape can be there.
 */

export interface FloorCheckoutInput {
  orders: number;
  /** The database steps (record, status, outcome, booking) as local activities rather than activities. */
  localDatabaseSteps: boolean;
}

const retry = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '1m' };
const remote = proxyActivities<FloorActivities>({ startToCloseTimeout: '30s', heartbeatTimeout: '10s', retry });
const local = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '30s', retry });

const authorizedSignal = defineSignal<[number]>('authorized');
const captureSignal = defineSignal('capture');

export async function floorCheckoutWorkflow(input: FloorCheckoutInput): Promise<number> {
  const database = input.localDatabaseSteps ? local : remote;
  const authorized = new Set<number>();
  setHandler(authorizedSignal, (order) => void authorized.add(order));

  await database.recordCheckout();
  upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: 'PROCESSING' }]);
  const children = await Promise.all(
    Array.from({ length: input.orders }, (_, order) =>
      startChild(floorPaymentOrderWorkflow, {
        workflowId: `${workflowInfo().workflowId}-order-${order}`,
        args: [order, input.localDatabaseSteps],
        parentClosePolicy: 'REQUEST_CANCEL',
      }),
    ),
  );
  const results = Promise.all(children.map((child) => child.result()));

  await condition(() => authorized.size === input.orders);
  await database.setCheckoutStatus();
  upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: 'CAPTURING' }]);
  await Promise.all(children.map((child) => child.signal(captureSignal)));
  await results;

  await database.completeCheckout(workflowInfo().workflowId);
  upsertSearchAttributes([{ key: CheckoutStatusAttribute, value: 'SUCCEEDED' }]);
  return input.orders;
}

export async function floorPaymentOrderWorkflow(order: number, localDatabaseSteps: boolean): Promise<void> {
  let capture = false;
  setHandler(captureSignal, () => void (capture = true));

  await remote.authorize();
  const parent = workflowInfo().parent!;
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(authorizedSignal, order);
  await condition(() => capture);
  await remote.capture();
  await (localDatabaseSteps ? local : remote).book();
}
