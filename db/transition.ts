import {
  CHECKOUT_STATUSES,
  IllegalTransitionError,
  PAYMENT_ORDER_STATUSES,
  REFUND_STATUSES,
  canTransitionCheckout,
  canTransitionPaymentOrder,
  canTransitionRefund,
  type StatusEntity,
} from '../domain/status';
import type { Queryable } from './pool';

const entities: Record<
  StatusEntity,
  { table: string; statuses: readonly string[]; allowed: (from: never, to: never) => boolean; keys: string }
> = {
  checkout: { table: 'checkouts', statuses: CHECKOUT_STATUSES, allowed: canTransitionCheckout, keys: 'id, NULL, NULL' },
  payment_order: {
    table: 'payment_orders',
    statuses: PAYMENT_ORDER_STATUSES,
    allowed: canTransitionPaymentOrder,
    keys: 'checkout_id, id, NULL',
  },
  refund: { table: 'refunds', statuses: REFUND_STATUSES, allowed: canTransitionRefund, keys: 'checkout_id, payment_order_id, id' },
};

export interface Transition {
  entity: StatusEntity;
  id: string;
  to: string;
  /** Columns written with the status, e.g. psp_reference. */
  set?: Record<string, string | number | null>;
  /** Columns increased by an amount in the same statement, e.g. refunded_amount. */
  add?: Record<string, number>;
}

/**
 * Moves a row to a new status and writes its event (`<entity>.<status>`, the row as it now is) to the outbox,
 * in one statement. The update happens only from a status the rules allow, so concurrent writers cannot
 * both win. Repeating a transition already made answers false and changes nothing (an activity retried
 * after a lost reply); an illegal one throws.
 */
export async function transition(db: Queryable, change: Transition): Promise<boolean> {
  const spec = entities[change.entity];
  const allowedFrom = spec.statuses.filter((from) => (spec.allowed as (f: string, t: string) => boolean)(from, change.to));
  const columns = Object.entries(change.set ?? {});
  const increments = Object.entries(change.add ?? {});
  const assignments = [
    ...columns.map(([column], index) => `, ${column} = $${index + 5}`),
    ...increments.map(([column], index) => `, ${column} = ${column} + $${columns.length + index + 5}`),
  ].join('');
  const { rows } = await db.query<{ changed: number }>(
    `WITH changed AS (
       UPDATE ${spec.table} SET status = $2, updated_at = now()${assignments}
        WHERE id = $1 AND status = ANY($3::text[]) RETURNING *
     ), event AS (
       INSERT INTO events (type, checkout_id, payment_order_id, refund_id, data)
       SELECT $4, ${spec.keys}, to_jsonb(changed) FROM changed
     )
     SELECT count(*)::int AS changed FROM changed`,
    [
      change.id,
      change.to,
      allowedFrom,
      `${change.entity}.${change.to.toLowerCase()}`,
      ...columns.map(([, value]) => value),
      ...increments.map(([, value]) => value),
    ],
  );
  if (rows[0]!.changed === 1) return true;
  const current = await db.query<{ status: string }>(`SELECT status FROM ${spec.table} WHERE id = $1`, [change.id]);
  const status = current.rows[0]?.status;
  if (status === undefined) throw new Error(`${change.entity} ${change.id} does not exist`);
  if (status === change.to) return false;
  throw new IllegalTransitionError(change.entity, change.id, status, change.to);
}

/** The event for a row that starts to exist (checkout.created, refund.created). */
export async function recordCreated(db: Queryable, entity: StatusEntity, id: string): Promise<void> {
  const spec = entities[entity];
  await db.query(
    `INSERT INTO events (type, checkout_id, payment_order_id, refund_id, data)
     SELECT $2, ${spec.keys}, to_jsonb(t) FROM ${spec.table} t WHERE id = $1`,
    [id, `${entity}.created`],
  );
}
