import { randomUUID } from 'node:crypto';
import { ConfigError, loadConfig } from '../../config';
import { createPool, type Pool } from '../../db/pool';
import type { Currency } from '../../domain/money';
import { PspDeclinedError, PspInvalidRequestError, PspTransientError, PspUnknownOutcomeError } from '../../psp/errors';
import { parseFaultRates, SeededFaultRates, type InjectedFault } from '../../psp/faultRates';
import { SimulatedPsp } from '../../psp/simulated';

describe('SIMULATED_PSP_FAULTS', () => {
  it('reads rates per call of transient errors, lost answers, slow calls and declines, with the seed', () => {
    const config = loadConfig({ SIMULATED_PSP_FAULTS: 'transient=0.05, lost=0.02,slow=0.01:40000,decline@authorize=.02', SIMULATED_PSP_SEED: 'run-7' });
    const all = ['authorize', 'capture', 'void', 'refund'];
    expect(config.psp).toMatchObject({
      kind: 'simulated',
      seed: 'run-7',
      faults: [
        { kind: 'transient', rate: 0.05, operations: all },
        { kind: 'lost', rate: 0.02, operations: all },
        { kind: 'slow', rate: 0.01, operations: all, delayMs: 40_000 },
        { kind: 'decline', rate: 0.02, operations: ['authorize'] },
      ],
    });
  });

  it('injects nothing unless asked, with the seed the references always had', () => {
    expect(loadConfig({}).psp).toMatchObject({ kind: 'simulated', faults: [], seed: 'settle' });
  });

  it.each([
    ['transient', /SIMULATED_PSP_FAULTS: 'transient' is not kind\[@operation\]=rate\[:ms\]/],
    ['flaky=0.1', /SIMULATED_PSP_FAULTS: 'flaky=0.1': unknown fault 'flaky' \(known: transient, lost, slow, decline\)/],
    ['transient=1.5', /SIMULATED_PSP_FAULTS: 'transient=1.5': the rate must be a number from 0 to 1/],
    ['transient=0.1.2', /SIMULATED_PSP_FAULTS: 'transient=0.1.2': the rate must be a number from 0 to 1/],
    ['slow=0.1', /SIMULATED_PSP_FAULTS: 'slow=0.1': a slow call needs its delay/],
    ['lost=0.1:500', /SIMULATED_PSP_FAULTS: 'lost=0.1:500': only slow takes a delay/],
    ['slow=0.1:9000000', /SIMULATED_PSP_FAULTS: 'slow=0.1:9000000': the delay must be at most 600000 ms/],
    ['decline@settle=0.1', /SIMULATED_PSP_FAULTS: 'decline@settle=0.1': unknown operation 'settle'/],
    ['transient=0.6,decline@capture=0.5', /SIMULATED_PSP_FAULTS: the rates for capture add up to 1.1, more than 1/],
  ])('refuses %s, naming the variable and the fault', (spec, message) => {
    expect(() => loadConfig({ SIMULATED_PSP_FAULTS: spec })).toThrow(ConfigError);
    expect(() => loadConfig({ SIMULATED_PSP_FAULTS: spec })).toThrow(message);
  });

  it('refuses faults for a PSP that is not the simulator, and a seed with spaces', () => {
    const stripe = { PSP: 'stripe', STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc' };
    expect(() => loadConfig({ ...stripe, SIMULATED_PSP_FAULTS: 'transient=0.1' })).toThrow(/SIMULATED_PSP_FAULTS: applies only to PSP=simulated/);
    expect(() => loadConfig({ SIMULATED_PSP_SEED: 'two words' })).toThrow(/SIMULATED_PSP_SEED: must be 1-100 printable characters/);
  });
});

describe('faults at random rates', () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `po_${i}:capture`);
  const draw = (spec: string, seed: string) => {
    const source = new SeededFaultRates(parseFaultRates(spec), seed);
    return keys.map((key) => source.take('capture', key)?.fault.kind ?? 'none');
  };

  it('meets each fault at its rate, one fault per call at most', () => {
    const kinds = draw('transient=0.05,lost=0.02,slow=0.01:40000,decline=0.02,transient@authorize=0.5', 'rates');
    const count = (kind: string) => kinds.filter((k) => k === kind).length;
    // 20,000 draws: each count lies within five standard deviations of its expectation.
    for (const [kind, rate] of [['transient', 0.05], ['timeoutAfterCommit', 0.02], ['slow', 0.01], ['decline', 0.02]] as const) {
      const expected = keys.length * rate;
      expect(Math.abs(count(kind) - expected)).toBeLessThan(5 * Math.sqrt(expected * (1 - rate)));
    }
    expect(count('none') + count('transient') + count('timeoutAfterCommit') + count('slow') + count('decline')).toBe(keys.length);
  });

  it('gives the same call the same fault for the same seed, in any process, and other faults for another seed', () => {
    const spec = 'transient=0.1,lost=0.1';
    expect(draw(spec, 'a')).toEqual(draw(spec, 'a'));
    expect(draw(spec, 'a')).not.toEqual(draw(spec, 'b'));
  });

  it('draws afresh for each retry of a call, and reports what it injected', () => {
    const injected: InjectedFault[] = [];
    const source = new SeededFaultRates(parseFaultRates('transient@authorize=0.5'), 'retries', (fault) => injected.push(fault));
    const attempts = Array.from({ length: 64 }, () => source.take('authorize', 'po_1:authorize')?.fault);
    expect(attempts.filter(Boolean).length).toBeGreaterThan(10);
    expect(attempts.filter((fault) => !fault).length).toBeGreaterThan(10);
    expect(attempts.filter(Boolean).every((fault) => fault!.kind === 'transient' && fault!.times === 1)).toBe(true);
    expect(injected.length).toBe(attempts.filter(Boolean).length);
    expect(injected[0]).toMatchObject({ kind: 'transient', operation: 'authorize', idempotencyKey: 'po_1:authorize' });
    expect(source.take('capture', 'po_1:capture')).toBeUndefined();
  });
});

describe('the simulated PSP with faults at random rates', () => {
  let pool: Pool;
  beforeAll(() => {
    const url = process.env.SETTLE_TEST_DATABASE_URL;
    if (!url) throw new Error('SETTLE_TEST_DATABASE_URL is not set: run the tests with jest (its global setup sets it)');
    pool = createPool(url, 4);
  });
  afterAll(() => pool?.end());

  const pspWith = (spec: string) => new SimulatedPsp(pool, { seed: randomUUID(), randomFaults: new SeededFaultRates(parseFaultRates(spec), randomUUID()) });
  const authorize = (psp: SimulatedPsp, paymentOrderId: string) =>
    psp.authorize({ paymentOrderId, amount: 1000, currency: 'USD' as Currency, paymentMethod: 'pm_card_visa', idempotencyKey: `${paymentOrderId}:authorize` });

  it('fails before processing on a transient fault: the PSP records nothing', async () => {
    const psp = pspWith('transient@authorize=1');
    const order = `po_${randomUUID()}`;
    await expect(authorize(psp, order)).rejects.toBeInstanceOf(PspTransientError);
    expect(await psp.chargesFor(order)).toEqual([]);
  });

  it('processes, then loses the answer: the PSP keeps the hold, and a repeat of the call answers the same payment', async () => {
    const psp = pspWith('lost@authorize=1');
    const order = `po_${randomUUID()}`;
    await expect(authorize(psp, order)).rejects.toBeInstanceOf(PspUnknownOutcomeError);
    const [charge] = await psp.chargesFor(order);
    expect(charge).toMatchObject({ status: 'requires_capture', amount: 1000 });
    expect(await authorize(pspWith(''), order)).toEqual({ outcome: 'authorized', pspReference: charge!.pspReference });
    expect(await psp.chargesFor(order)).toHaveLength(1);
  });

  it('declines authorizations, captures and refunds, and refuses voids, as configured', async () => {
    const order = `po_${randomUUID()}`;
    expect(await authorize(pspWith('decline@authorize=1'), order)).toMatchObject({ outcome: 'declined', declineCode: 'card_declined' });

    const held = `po_${randomUUID()}`;
    const authorized = await authorize(pspWith(''), held);
    if (authorized.outcome !== 'authorized') throw new Error(`not authorized: ${JSON.stringify(authorized)}`);
    const capture = { pspReference: authorized.pspReference, amount: 1000, idempotencyKey: `${held}:capture` };
    await expect(pspWith('decline@capture=1').capture(capture)).rejects.toBeInstanceOf(PspDeclinedError);
    await expect(pspWith('decline@void=1').void({ pspReference: authorized.pspReference, idempotencyKey: `${held}:void` })).rejects.toBeInstanceOf(
      PspInvalidRequestError,
    );
    await pspWith('').capture(capture);
    const refund = { pspReference: authorized.pspReference, amount: 400, idempotencyKey: `${held}:refund:1` };
    await expect(pspWith('decline@refund=1').refund(refund)).rejects.toBeInstanceOf(PspDeclinedError);
    expect(await pspWith('').chargesFor(held)).toMatchObject([{ status: 'succeeded', amountCaptured: 1000, amountRefunded: 0 }]);
  });
});
