import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { createActivities } from '../activities';
import { createReconciliationActivities } from '../activities/reconciliation';
import type { Pool } from '../db/pool';
import type { Psp } from '../psp/types';

export interface SettleWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  psp: Psp;
  /** Where the PSP's settlement files are written for reconciliation. */
  settlementDir: string;
  /** A workflow bundle built once by bundleWorkflowCode (see workers/bundle.ts). */
  workflowBundlePath: string;
  tuning: Config['worker'];
}

export function createSettleWorker(options: SettleWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.workflowBundlePath },
    activities: {
      ...createActivities({ pool: options.pool, psp: options.psp }),
      ...createReconciliationActivities({ pool: options.pool, psp: options.psp, settlementDir: options.settlementDir }),
    },
    maxConcurrentActivityTaskExecutions: options.tuning.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.tuning.maxConcurrentWorkflowTasks,
  });
}
