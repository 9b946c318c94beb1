import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { paymentOrderWorkflowId } from '../domain/ids';
import { eventually, startSettle, uniqueId, type TestSettle } from './support/settle';

/**
 * "A PaymentIntent that waits on the buyer asks Stripe itself after 5 s, then less and less often, and gives
 * up after a day." A day cannot pass on the dev server, so the day passes in the history instead: a real
 * payment order waiting on the buyer is recorded, the times of its events after the first wait are moved a
 * day on, and the result is replayed against the current workflow code. Replay feeds the workflow those
 * times as its clock and fails unless the code issues exactly the commands the history holds, so a history
 * that ends in giving up replays only if the code gives up at that moment.
 */

const DAY_MS = 24 * 60 * 60_000;

type HistoryEvent = { eventId: string; eventTime: string; eventType: string; [attributes: string]: any };

let settle: TestSettle;
let recorded: HistoryEvent[];
beforeAll(async () => {
  settle = await startSettle({ psp: 'stripe' });
  recorded = await recordPaymentOrderWaitingOnTheBuyer();
}, 60_000);
afterAll(() => settle?.stop());

/** A payment order whose buyer never authenticates: authorized twice as pending, then waiting again. */
async function recordPaymentOrderWaitingOnTheBuyer(): Promise<HistoryEvent[]> {
  const checkoutId = await settle.createCheckout({
    paymentMethod: await settle.psp.paymentMethod('requires_authentication'),
    orders: [{ sellerId: uniqueId('seller'), amount: 2700 }],
  });
  const orderId = await eventually('the payment order to exist', async () => (await settle.checkout(checkoutId)).orders[0]?.orderId);
  const handle = settle.temporal.workflow.getHandle(paymentOrderWorkflowId(orderId));
  const events = async () => (JSON.parse(historyToJSON(await handle.fetchHistory())) as { events: HistoryEvent[] }).events;
  // The second attempt answered pending and the workflow went back to waiting (its second timer).
  await eventually(
    'the payment order to wait a second time',
    async () => (await events().catch(() => [])).filter((event) => event.timerStartedEventAttributes).length >= 2,
    30_000,
  );
  const history = await events();
  // Done recording: the buyer gives up here instead, which releases the PaymentIntent.
  expect((await settle.post(`/v1/checkouts/${checkoutId}/cancel`, {})).status).toBe(202);
  await settle.checkoutResult(checkoutId);
  return history;
}

/** The recorded history cut where the workflow decides again after its second attempt, with its clock moved. */
function decisionAfterSecondAttempt(movedOnMs: number) {
  const id = (event: HistoryEvent) => Number(event.eventId);
  const authorizations = recorded.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizePaymentOrder');
  expect(authorizations.length).toBeGreaterThanOrEqual(2);
  const second = authorizations[1]!;
  const answered = recorded.find((event) => event.activityTaskCompletedEventAttributes?.scheduledEventId === second.eventId)!;
  expect(JSON.parse(Buffer.from(answered.activityTaskCompletedEventAttributes.result.payloads[0].data, 'base64').toString())).toMatchObject({
    outcome: 'pending',
  });
  const decided = recorded.find((event) => id(event) > id(answered) && event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')!;
  const firstWait = recorded.find((event) => event.timerStartedEventAttributes)!;
  // Everything after the first wait began happens movedOnMs later.
  const moved = recorded.map((event) => (id(event) > id(firstWait) ? { ...event, eventTime: later(event.eventTime, movedOnMs) } : event));
  return {
    /** Up to and including the workflow task that decided what to do after the second pending answer. */
    upToDecision: moved.filter((event) => id(event) <= id(decided)),
    /** What the recorded workflow did then: it waited again (a timer). */
    recordedNext: moved.find((event) => id(event) === id(decided) + 1)!,
    /** Giving up instead: the authorization is released (a payment order's only way out of waiting, short of a release signal). */
    givingUp: (): HistoryEvent => ({
      eventId: String(id(decided) + 1),
      eventTime: moved.find((event) => id(event) === id(decided))!.eventTime,
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
      taskId: decided.taskId,
      activityTaskScheduledEventAttributes: {
        ...second.activityTaskScheduledEventAttributes,
        activityId: String(Number(second.activityTaskScheduledEventAttributes.activityId) + 1),
        activityType: { name: 'releaseUnconfirmedAuthorization' },
        workflowTaskCompletedEventId: decided.eventId,
      },
    }),
  };
}

/** An RFC 3339 time with nanoseconds, moved on by whole seconds. */
function later(eventTime: string, ms: number): string {
  const [, whole, fraction] = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(eventTime)!;
  return `${new Date(new Date(`${whole}Z`).getTime() + ms).toISOString().slice(0, 19)}${fraction ?? ''}Z`;
}

const replay = (events: HistoryEvent[]) =>
  Worker.runReplayHistory({ workflowBundle: { codePath: process.env.SETTLE_TEST_WORKFLOW_BUNDLE! } }, historyFromJSON({ events }), 'payment-order-waiting');

describe('a payment order waiting on the buyer', () => {
  it('asks again when a little less than a day has passed', async () => {
    const almostADay = decisionAfterSecondAttempt(DAY_MS - 60_000);
    expect(almostADay.recordedNext.timerStartedEventAttributes).toBeDefined();
    await replay([...almostADay.upToDecision, almostADay.recordedNext]);
  });

  it('gives up, releasing the authorization, once a day has passed', async () => {
    const aDay = decisionAfterSecondAttempt(DAY_MS);
    await replay([...aDay.upToDecision, aDay.givingUp()]);
  });

  it('does not give up before the day is out, nor keep waiting after it (the replays above can tell)', async () => {
    const almostADay = decisionAfterSecondAttempt(DAY_MS - 60_000);
    await expect(replay([...almostADay.upToDecision, almostADay.givingUp()])).rejects.toThrow(/Nondeterminism|determinism/i);
    const aDay = decisionAfterSecondAttempt(DAY_MS);
    await expect(replay([...aDay.upToDecision, aDay.recordedNext])).rejects.toThrow(/Nondeterminism|determinism/i);
  });
});
