import { Client, type Connection } from '@temporalio/client';
import type { Config } from '../config';
import { ensureReconciliationSchedule } from './schedules';
import { ensureSearchAttributes } from './searchAttributes';

/**
 * What a worker makes sure of in its namespace before it polls: Settle's search attributes (a cluster may
 * never have seen Settle) and the nightly reconciliation schedule. Both idempotent, so workers starting
 * together are fine.
 */
export async function prepareNamespace(connection: Connection, config: Config, say: (message: string) => void): Promise<void> {
  const { namespace, taskQueue } = config.temporal;
  const added = await ensureSearchAttributes(connection, namespace);
  if (added.length > 0) say(`registered search attributes ${added.join(', ')} in namespace '${namespace}'`);
  await ensureReconciliationSchedule(new Client({ connection, namespace }), taskQueue, config.reconciliationTime);
}
