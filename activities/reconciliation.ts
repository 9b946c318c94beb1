import os from 'node:os';
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import { MalformedSettlementLine } from '../domain/settlement';
import type { Pool } from '../db/pool';
import {
  classifyDiscrepancies,
  findRunOutcome,
  finishRun,
  loadedLines,
  loadSettlementLines,
  startRun,
  summarizeBookedCaptures,
  type ReconciliationOutcome,
} from '../db/reconciliation';
import { pspSettlementLines, settlementFileLines } from '../psp/settlementFile';
import type { Psp } from '../psp/types';

export interface ReconciliationDeps {
  pool: Pool;
  psp: Psp;
}

const HEARTBEAT_EVERY_MS = 5_000;

/**
 * Reconciliation's side effects. A day is reconciled whole by one activity, its settlement lines kept in
 * PostgreSQL: no step leaves a file on one worker for another step, which may run on another host, to find.
 */
export function createReconciliationActivities({ pool, psp }: ReconciliationDeps) {
  /** Runs work holding the run's lock: an attempt Temporal gave up on may still be running on some worker. */
  async function holdingRun<T>(runId: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(hashtext('reconciliation_run'), hashtext($1))`, [runId]);
      const result = await work(client);
      await client.query(`SELECT pg_advisory_unlock(hashtext('reconciliation_run'), hashtext($1))`, [runId]);
      client.release();
      return result;
    } catch (error) {
      client.release(true); // closing the session drops the lock, whatever state the failure left it in
      throw error;
    }
  }

  /** Runs work with a second connection; one the work did not leave idle is closed, with what it held. */
  async function withSecondConnection<T>(work: (second: pg.PoolClient) => Promise<T>): Promise<T> {
    const second = await pool.connect();
    try {
      const result = await work(second);
      second.release();
      return result;
    } catch (error) {
      second.release(true);
      throw error;
    }
  }

  return {
    /**
     * Reconciles one day: loads the PSP's settlement lines for it (or `file`, a settlement file an operator put
     * on the workers) into PostgreSQL, matches them against the ledger, and records every discrepancy and the
     * outcome with its event. A run already finished answers its outcome: a retry never records it twice. A
     * malformed file, or a file not on this worker, ends the run FAILED, naming why. The ledger is only read.
     */
    async reconcileSettlementFile(runId: string, date: string, file?: string | null): Promise<ReconciliationOutcome> {
      return heartbeating((progress) =>
        holdingRun(runId, async (client) => {
          const finished = await findRunOutcome(client, runId);
          if (finished) return finished;
          await startRun(client, runId, date);

          // The day's captures are summarized on a second connection while this one loads the settlement;
          // that connection then matches and records the run.
          return withSecondConnection(async (matcher) => {
            const summarized = summarizeBookedCaptures(matcher, date);
            summarized.catch(() => undefined); // awaited below
            let lines: number;
            try {
              const source = file ? settlementFileLines(file) : pspSettlementLines(psp, date);
              lines = await loadSettlementLines(client, runId, source, (loaded) => progress({ loaded }));
            } catch (error) {
              await summarized.catch(() => undefined);
              const failure = unreadable(error, file);
              if (!failure) throw error;
              await inTransaction(client, async () => {
                await client.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
                await finishRun(client, runId, failure);
              });
              await matcher.query('DROP TABLE IF EXISTS booked_captures');
              return failure;
            }
            await summarized;
            return inTransaction(matcher, async () => {
              if ((await loadedLines(matcher, runId)) !== lines) {
                throw new Error(`run ${runId}: the loaded settlement lines are gone (PostgreSQL restarted?); loading them again`);
              }
              await matcher.query('DELETE FROM reconciliation_discrepancies WHERE run_id = $1', [runId]);
              const counts = await classifyDiscrepancies(matcher, runId, date);
              const outcome: ReconciliationOutcome = { status: 'COMPLETED', lines, counts };
              await finishRun(matcher, runId, outcome);
              return outcome;
            });
          });
        }),
      );
    },

    /** Ends a run that could not be reconciled as FAILED, with why (unless it finished meanwhile). */
    async recordReconciliationFailure(runId: string, date: string, reason: string): Promise<ReconciliationOutcome> {
      return heartbeating(() =>
        holdingRun(runId, async (client) => {
          const finished = await findRunOutcome(client, runId);
          if (finished) return finished;
          const failure: ReconciliationOutcome = { status: 'FAILED', line: null, reason };
          await inTransaction(client, async () => {
            await startRun(client, runId, date);
            await finishRun(client, runId, failure);
          });
          return failure;
        }),
      );
    },

    /**
     * The first step of a run begun before a day was reconciled in one activity, which wrote the PSP's file on
     * its worker. It now writes nothing, and the run's next step reads the PSP's lines itself.
     */
    async fetchSettlementFile(_date: string): Promise<null> {
      return null;
    },
  };
}

export type ReconciliationActivities = ReturnType<typeof createReconciliationActivities>;

/** Why a settlement cannot be read, as the run's failure; undefined for a failure a retry may pass. */
function unreadable(error: unknown, file: string | null | undefined): ReconciliationOutcome | undefined {
  if (error instanceof MalformedSettlementLine) return { status: 'FAILED', line: error.lineNo, reason: error.reason };
  const code = (error as NodeJS.ErrnoException)?.code;
  if (file && (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')) {
    return { status: 'FAILED', line: null, reason: `the settlement file ${file} cannot be read on worker ${os.hostname()} (${code})` };
  }
  return undefined;
}

async function inTransaction<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Heartbeats while work runs (a worker that died is noticed after the heartbeat timeout, not the hour of
 * start-to-close), with the latest progress as details; a cancellation stops the work at its next progress.
 * Outside an activity (a benchmark) it only runs the work.
 */
async function heartbeating<T>(work: (progress: (details: { loaded: number }) => void) => Promise<T>): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return work(() => undefined);
  }
  const current = context;
  let details = { loaded: 0 };
  current.heartbeat(details);
  const timer = setInterval(() => current.heartbeat(details), HEARTBEAT_EVERY_MS);
  try {
    return await work((latest) => {
      details = latest;
      current.heartbeat(latest);
      current.cancellationSignal.throwIfAborted();
    });
  } finally {
    clearInterval(timer);
  }
}
