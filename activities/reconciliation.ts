import path from 'node:path';
import { MalformedSettlementLine } from '../domain/settlement';
import { withTransaction, type Pool } from '../db/pool';
import { classifyDiscrepancies, finishRun, loadSettlementFile, startRun, type ReconciliationOutcome } from '../db/reconciliation';
import { writeSettlementFile } from '../psp/settlementFile';
import type { Psp } from '../psp/types';

export interface ReconciliationDeps {
  pool: Pool;
  psp: Psp;
  /** Where the PSP's settlement files are kept, one per day. */
  settlementDir: string;
}

/** Reconciliation's side effects: fetch the PSP's file for a day, and match it against the ledger. */
export function createReconciliationActivities({ pool, psp, settlementDir }: ReconciliationDeps) {
  return {
    /** The PSP's settlement file for a UTC day, fetched anew (a day still going on may have grown). */
    async fetchSettlementFile(date: string): Promise<string> {
      const file = path.join(settlementDir, `settlement-${date}.csv`);
      await writeSettlementFile(psp, date, file);
      return file;
    },

    /**
     * Loads the file and records every discrepancy in one transaction, so a retry starts clean and a run
     * is whole or absent. A malformed file fails the run, naming the line. The ledger is only read.
     */
    async reconcileSettlementFile(runId: string, date: string, file: string): Promise<ReconciliationOutcome> {
      await startRun(pool, runId, date);
      try {
        return await withTransaction(pool, async (tx) => {
          await tx.query('DELETE FROM reconciliation_discrepancies WHERE run_id = $1', [runId]);
          await tx.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
          const lines = await loadSettlementFile(tx, runId, file);
          const counts = await classifyDiscrepancies(tx, runId, date);
          const outcome: ReconciliationOutcome = { status: 'COMPLETED', lines, counts };
          await finishRun(tx, runId, outcome);
          return outcome;
        });
      } catch (error) {
        if (!(error instanceof MalformedSettlementLine)) throw error;
        const outcome: ReconciliationOutcome = { status: 'FAILED', line: error.lineNo, reason: error.reason };
        await withTransaction(pool, (tx) => finishRun(tx, runId, outcome));
        return outcome;
      }
    },

  };
}

export type ReconciliationActivities = ReturnType<typeof createReconciliationActivities>;
