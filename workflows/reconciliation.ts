import { defineSearchAttributeKey } from '@temporalio/common';
import { ActivityFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReconciliationActivities } from '../activities/reconciliation';
import type { ReconciliationOutcome } from '../db/reconciliation';

// A day is retried for six hours (a PSP down for a night), then the run ends FAILED and says why.
const { reconcileSettlementFile, recordReconciliationFailure } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '1m',
  scheduleToCloseTimeout: '6h',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});
const { fetchSettlementFile } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** Set by Temporal on every run a Schedule starts: the time the Schedule meant it for, not when it started. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

export interface ReconciliationInput {
  /** The UTC day to reconcile, YYYY-MM-DD; by default the day before the run's scheduled time (the nightly run). */
  date?: string;
  /** A settlement file on the workers' machines; by default the PSP's settlement for the day is read. */
  file?: string;
}

/**
 * Reconciles one day: the PSP's settlement against the ledger, every discrepancy recorded by class under the
 * run's id (this workflow's id). A malformed file, or a settlement that cannot be read for hours, ends the run
 * FAILED, saying why.
 */
export async function reconciliationWorkflow(input: ReconciliationInput = {}): Promise<ReconciliationOutcome> {
  const runId = workflowInfo().workflowId;
  // A catch-up or backfilled run reconciles the day its schedule meant, whenever it starts.
  const date = input.date ?? dayBefore(workflowInfo().typedSearchAttributes.get(SCHEDULED_START_TIME) ?? workflowInfo().startTime);
  // A run begun by an older Settle fetched the settlement as a step of its own: its history replays that step.
  const file = patched('settlement-read-by-the-reconciling-activity')
    ? input.file
    : (input.file ?? (await fetchSettlementFile(date)) ?? undefined);
  try {
    return await reconcileSettlementFile(runId, date, file);
  } catch (error) {
    if (!(error instanceof ActivityFailure)) throw error;
    return recordReconciliationFailure(runId, date, `reconciliation gave up: ${causes(error)}`);
  }
}

function dayBefore(moment: Date): string {
  return new Date(moment.getTime() - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}

function causes(error: Error | undefined): string {
  const messages: string[] = [];
  for (let at: unknown = error; at instanceof Error && messages.length < 4; at = at.cause) messages.push(at.message);
  return messages.filter((message) => message !== '').join(': ');
}
