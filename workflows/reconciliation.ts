import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReconciliationActivities } from '../activities/reconciliation';
import type { ReconciliationOutcome } from '../db/reconciliation';

const { fetchSettlementFile } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '30m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});
const { reconcileSettlementFile } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '1h',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});

export interface ReconciliationInput {
  /** The UTC day to reconcile, YYYY-MM-DD; by default the day before this run started (the nightly run). */
  date?: string;
  /** A settlement file already at hand; by default the PSP's file for the day is fetched. */
  file?: string;
}

/**
 * Reconciles one day: the PSP's settlement file against the ledger, every discrepancy recorded by class
 * under the run's id (this workflow's id). A malformed file ends the run FAILED, naming the line.
 */
export async function reconciliationWorkflow(input: ReconciliationInput = {}): Promise<ReconciliationOutcome> {
  const date = input.date ?? dayBefore(workflowInfo().startTime);
  const file = input.file ?? (await fetchSettlementFile(date));
  return reconcileSettlementFile(workflowInfo().workflowId, date, file);
}

function dayBefore(moment: Date): string {
  return new Date(moment.getTime() - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}
