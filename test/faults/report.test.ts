import { startSettle, uniqueId, type TestSettle } from '../support/settle';
import { SettleClient } from './client';
import { describeViolations, summarize } from './report';
import { planCheckout, type CheckoutRun } from './workload';

describe("a fault run's report", () => {
  let settle: TestSettle;
  beforeAll(async () => {
    settle = await startSettle();
  });
  afterAll(() => settle?.stop());

  it("tells each violated checkout's story: the client's steps, Settle's record, the PSP's, the faults its orders met", async () => {
    const failsAtCapture = await settle.psp.paymentMethod('visa');
    settle.psp.inject({ operation: 'capture', paymentMethod: failsAtCapture }, { kind: 'decline', code: 'expired_card' });
    const checkoutId = await settle.createCheckout({
      orders: [
        { sellerId: uniqueId('seller'), amount: 1000 },
        { sellerId: uniqueId('seller'), amount: 2000, paymentMethod: failsAtCapture },
      ],
    });
    const result = await settle.checkoutResult(checkoutId);
    const [kept, declined] = result.orders;

    const run: CheckoutRun = { plan: planCheckout('report', 'test', 7), checkoutId, steps: ['1.0s POST /v1/checkouts -> 202'], breaches: [], refunds: [] };
    const violation = { invariant: 'agreement' as const, subject: declined!.orderId, message: `agreement: ${declined!.orderId}: as an example` };
    const fault = { at: 1_500, worker: 'worker-2', kind: 'decline', operation: 'capture', key: `${declined!.orderId}:capture` };
    const story = await describeViolations(settle.pool, [violation], [run], [fault], [{ at: 900, kind: 'kill -9 API', afterCheckouts: 1, detail: '' }]);

    expect(story).toContain('0.9s kill -9 API');
    expect(story).toContain(`---- ${checkoutId}: ${result.status}`);
    expect(story).toContain(`violation: agreement: ${declined!.orderId}`);
    expect(story).toContain('plan #7');
    expect(story).toContain('client 1.0s POST /v1/checkouts -> 202');
    expect(story).toContain(`order ${kept!.orderId}: ${kept!.status} amount 1000 refunded ${kept!.refundedAmount}`);
    expect(story).toMatch(new RegExp(`order ${declined!.orderId}: ${declined!.status} amount 2000 .*\\n    PSP pi_sim_\\w+: \\w+ amount 2000 captured 0`));
    expect(story).toContain(`fault at 1.5s on worker-2: decline capture ${declined!.orderId}:capture`);
    expect(story).toMatch(/events: checkout\.created > .*checkout\.failed/);

    const summary = await summarize({
      pool: settle.pool,
      seed: 'report',
      started: Date.now() - 5_000,
      workloadSeconds: '4.0',
      runs: [run],
      faults: [fault],
      chaosLog: [],
      exits: [],
      client: new SettleClient(settle.baseUrl, settle.apiKey),
      feedLength: 12,
      unfinished: [],
      verifyReport: 'ok    everything',
      violations: [violation],
      apiBreaches: [],
    });
    expect(summary).toContain('FAULTS_SEED=report npm run test:faults');
    expect(summary).toMatch(/checkouts by status: .*FAILED \d+/);
    expect(summary).toContain('PSP faults injected (1): decline capture 1');
    expect(summary).toContain(`invariant violations: 1 (agreement 1)\n  agreement: ${declined!.orderId}: as an example`);
  });
});
