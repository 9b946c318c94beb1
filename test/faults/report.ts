import type { Pool } from '../../db/pool';
import type { Violation } from '../support/invariants';
import type { SettleClient } from './client';
import type { ProcessExit } from './cluster';
import type { CheckoutRun } from './workload';

/** What a fault run reports: the figures of the run, and for each violation the story of its checkout. */

export type ChaosKind = 'kill -9 workers' | 'kill -9 one worker' | 'kill -9 API' | 'restart PostgreSQL' | 'kill -9 Temporal';

export interface ChaosRecord {
  at: number;
  kind: ChaosKind;
  afterCheckouts: number;
  detail: string;
}

/** A fault the simulated PSP reported injecting, as a worker logged it. */
export interface InjectedFaultLine {
  at: number;
  worker: string;
  kind: string;
  operation: string;
  key: string;
}

function countBy<T>(items: T[], key: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([name, count]) => `${name} ${count}`).join(', ') || 'none';
}

export async function summarize(input: {
  pool: Pool;
  seed: string;
  /** The command that runs this seed again; FAULTS_SEED=<seed> npm run test:faults when absent. */
  repeat?: string;
  started: number;
  workloadSeconds: string;
  runs: CheckoutRun[];
  faults: InjectedFaultLine[];
  chaosLog: ChaosRecord[];
  exits: ProcessExit[];
  client: SettleClient;
  feedLength: number;
  unfinished: string[];
  verifyReport: string;
  violations: Violation[];
  apiBreaches: string[];
  /** Which worker took how many tasks, from the workflows' histories. */
  workShares?: string[];
}): Promise<string> {
  const { pool, runs } = input;
  const statuses = async (table: string) =>
    (await pool.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${table} GROUP BY status ORDER BY status`)).rows
      .map((row) => `${row.status} ${row.n}`)
      .join(', ') || 'none';
  const plans = runs.map((run) => run.plan);
  const lines = [
    '',
    `==== test:faults, seed ${input.seed} (repeat: ${input.repeat ?? `FAULTS_SEED=${input.seed} npm run test:faults`}) ====`,
    `time: ${((Date.now() - input.started) / 1000).toFixed(0)}s in all, the workload ${input.workloadSeconds}s`,
    `checkouts by status: ${await statuses('checkouts')}`,
    `payment orders by status: ${await statuses('payment_orders')}`,
    `refunds by status: ${await statuses('refunds')}`,
    `workload: ${plans.length} checkouts, ${plans.reduce((n, plan) => n + plan.request.orders.length, 0)} orders; ` +
      `capture ${countBy(plans, (p) => p.request.capture)}; client action ${countBy(plans, (p) => p.action)}; refunds ${countBy(plans, (p) => p.refund)}; ` +
      `duplicate POSTs ${plans.filter((p) => p.duplicatePost).length}`,
    `client: ${input.client.requests} requests; sent again after no answer ${input.client.retried.connection} (connection) + ${input.client.retried.timeout} (timeout), after a 5xx ${input.client.retried.serverError}`,
    `PSP faults injected (${input.faults.length}): ${countBy(input.faults, (f) => `${f.kind} ${f.operation}`)}`,
    `deaths and restarts: ${input.chaosLog.map((c) => `${c.kind} at ${(c.at / 1000).toFixed(0)}s (${c.afterCheckouts} checkouts): ${c.detail}`).join('; ')}`,
    `processes that exited on their own (restarted by the suite): ${input.exits.length === 0 ? 'none' : ''}`,
    ...input.exits.map((exit) => `  ${exit.name} at ${exit.at.toISOString()}: code ${exit.code}, signal ${exit.signal}; last lines:\n${exit.lastLines.map((l) => `      ${l}`).join('\n')}`),
    ...(input.workShares ?? []),
    `event feed read from the start through the API: ${input.feedLength} events`,
    `unfinished at the bound: ${input.unfinished.length === 0 ? 'none' : input.unfinished.join(', ')}`,
    'npm run verify:',
    ...input.verifyReport.split('\n').map((line) => `  ${line}`),
    `invariant violations: ${input.violations.length}${input.violations.length ? ` (${countBy(input.violations, (v) => v.invariant)})` : ''}`,
    ...input.violations.map((v) => `  ${v.message}`),
    `API answers outside the contract: ${input.apiBreaches.length}`,
    ...input.apiBreaches.map((breach) => `  ${breach}`),
  ];
  return lines.join('\n');
}

/** For each checkout a violation names: what the client did, what Settle recorded, what the PSP kept, which faults it met. */
export async function describeViolations(pool: Pool, violations: Violation[], runs: CheckoutRun[], faults: InjectedFaultLine[], chaos: ChaosRecord[]): Promise<string> {
  const checkouts = new Set<string>();
  for (const violation of violations) {
    const { rows } = await pool.query<{ checkout_id: string }>(
      `SELECT id AS checkout_id FROM checkouts WHERE id = $1
       UNION SELECT checkout_id FROM payment_orders WHERE id = $1
       UNION SELECT checkout_id FROM refunds WHERE id = $1`,
      [violation.subject],
    );
    rows.forEach((row) => checkouts.add(row.checkout_id));
  }
  const sections: string[] = [`deaths and restarts: ${chaos.map((c) => `${(c.at / 1000).toFixed(1)}s ${c.kind}`).join(', ')}`];
  for (const checkoutId of checkouts) {
    const run = runs.find((r) => r.checkoutId === checkoutId);
    const checkout = (await pool.query('SELECT status, failure_code, failure_reason FROM checkouts WHERE id = $1', [checkoutId])).rows[0];
    const orders = (
      await pool.query('SELECT id, status, amount, refunded_amount, fee_amount, failure_code FROM payment_orders WHERE checkout_id = $1 ORDER BY id', [checkoutId])
    ).rows;
    const refunds = (await pool.query('SELECT id, payment_order_id, amount, status, reason FROM refunds WHERE checkout_id = $1 ORDER BY created_at', [checkoutId])).rows;
    const events = (await pool.query(`SELECT type, payment_order_id, refund_id, created_at FROM events WHERE checkout_id = $1 ORDER BY id`, [checkoutId])).rows;
    const lines = [
      `---- ${checkoutId}: ${checkout?.status} ${checkout?.failure_code ?? ''} ${checkout?.failure_reason ?? ''}`,
      ...violations.filter((v) => v.subject === checkoutId || orders.some((o) => o.id === v.subject) || refunds.some((r) => r.id === v.subject)).map((v) => `  violation: ${v.message}`),
      run ? `  plan #${run.plan.index}: ${JSON.stringify({ ...run.plan.request, customerId: undefined })}, action ${run.plan.action} after ${run.plan.actionDelayMs} ms, refund ${run.plan.refund}, duplicate POST ${run.plan.duplicatePost}` : '  (no client run names it)',
      ...(run?.steps ?? []).map((step) => `  client ${step}`),
    ];
    for (const order of orders) {
      const psp = (await pool.query('SELECT id, status, amount, amount_captured, amount_refunded, fee FROM psp_simulator_payments WHERE payment_order_id = $1', [order.id])).rows;
      lines.push(
        `  order ${order.id}: ${order.status} amount ${order.amount} refunded ${order.refunded_amount} fee ${order.fee_amount} ${order.failure_code ?? ''}`,
        ...psp.map((p) => `    PSP ${p.id}: ${p.status} amount ${p.amount} captured ${p.amount_captured} refunded ${p.amount_refunded} fee ${p.fee}`),
        ...faults.filter((f) => f.key.includes(order.id)).map((f) => `    fault at ${(f.at / 1000).toFixed(1)}s on ${f.worker}: ${f.kind} ${f.operation} ${f.key}`),
      );
    }
    lines.push(...refunds.map((r) => `  refund ${r.id} of ${r.payment_order_id}: ${r.amount} ${r.status} (${r.reason})`));
    lines.push(`  events: ${events.map((e) => `${e.type}${e.payment_order_id ? `(${String(e.payment_order_id).slice(0, 11)})` : ''}`).join(' > ')}`);
    sections.push(lines.join('\n'));
  }
  return sections.join('\n\n');
}
