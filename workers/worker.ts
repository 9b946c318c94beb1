import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { createPsp } from '../psp';
import { DEFAULT_BUNDLE_PATH } from './bundle';
import { createActivities } from '../activities';
import { createReconciliationActivities } from '../activities/reconciliation';
import { createWebhookActivities } from '../activities/webhooks';
import type { Pool } from '../db/pool';
import type { Psp } from '../psp/types';

export interface SettleWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  psp: Psp;
  /** A workflow bundle built once by bundleWorkflowCode (see workers/bundle.ts). */
  workflowBundlePath: string;
  tuning: Config['worker'];
  /** Outgoing webhooks: whether deliveries may reach loopback and private addresses (development); no by default. */
  webhooks?: { allowPrivateNetworks: boolean };
}

/** How long a stopping worker lets its attempts finish, and how much longer it waits before it gives them up. */
const SHUTDOWN_GRACE_MS = 30_000;
const SHUTDOWN_FORCE_MARGIN_MS = 10_000;

export function createSettleWorker(options: SettleWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.workflowBundlePath },
    activities: {
      ...createActivities({ pool: options.pool, psp: options.psp }),
      ...createReconciliationActivities({ pool: options.pool, psp: options.psp }),
      ...createWebhookActivities({
        pool: options.pool,
        temporal: new Client({ connection: options.connection, namespace: options.namespace }),
        taskQueue: options.taskQueue,
        allowPrivateNetworks: options.webhooks?.allowPrivateNetworks ?? false,
      }),
    },
    maxConcurrentActivityTaskExecutions: options.tuning.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.tuning.maxConcurrentWorkflowTasks,
    // On shutdown (SIGTERM) the attempts under way finish instead of being abandoned to a retry elsewhere. An
    // attempt cannot outlast its start-to-close timeout (30 s), so neither does the wait.
    shutdownGraceTime: SHUTDOWN_GRACE_MS,
    // An attempt that ignores the cancellation sent at the end of the grace (a query waiting on a lock) would
    // keep the worker from ever stopping: past this, run() fails and the process exits; Temporal retries it.
    shutdownForceTime: SHUTDOWN_GRACE_MS + SHUTDOWN_FORCE_MARGIN_MS,
  });
}

/** A worker as configured: the PSP, settlement folder, task queue and tuning all come from the config. */
export function createConfiguredWorker(config: Config, deps: { connection: NativeConnection; pool: Pool }): Promise<Worker> {
  return createSettleWorker({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    pool: deps.pool,
    psp: createPsp(config.psp, deps.pool),
    workflowBundlePath: DEFAULT_BUNDLE_PATH,
    tuning: config.worker,
    webhooks: { allowPrivateNetworks: config.webhooks.allowPrivateNetworks },
  });
}
