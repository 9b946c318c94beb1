import { IllegalTransitionError } from '../domain/status';
import type { Queryable } from './pool';

interface TransitionSpec<S extends string> {
  table: 'checkouts' | 'payment_orders';
  entity: string;
  id: string;
  to: S;
  allowed: (from: S, to: S) => boolean;
  /** Extra columns written with the status, e.g. psp_reference. */
  set?: Record<string, string | null>;
}

/**
 * Moves a row to a new status under a row lock. Repeating a transition already made is a no-op that
 * answers false, so an activity retried after a lost reply does not fail; an illegal one throws.
 */
export async function transition<S extends string>(db: Queryable, spec: TransitionSpec<S>): Promise<boolean> {
  const { rows } = await db.query<{ status: S }>(`SELECT status FROM ${spec.table} WHERE id = $1 FOR UPDATE`, [spec.id]);
  const current = rows[0];
  if (!current) throw new Error(`${spec.entity} ${spec.id} does not exist`);
  if (current.status === spec.to && !spec.allowed(spec.to, spec.to)) return false;
  if (!spec.allowed(current.status, spec.to)) {
    throw new IllegalTransitionError(spec.entity, spec.id, current.status, spec.to);
  }
  const columns = Object.entries(spec.set ?? {});
  const assignments = columns.map(([column], index) => `${column} = $${index + 3}`);
  await db.query(
    `UPDATE ${spec.table} SET status = $2, updated_at = now()${assignments.map((a) => `, ${a}`).join('')} WHERE id = $1`,
    [spec.id, spec.to, ...columns.map(([, value]) => value)],
  );
  return true;
}
