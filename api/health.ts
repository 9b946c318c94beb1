import { z } from 'zod';
import type { ApiContext } from './context';
import type { RouteRegistry } from './routes';

/** Each dependency gets this long to answer a readiness check; a load balancer's probe must not hang. */
export const READINESS_TIMEOUT_MS = 2_000;

type Check = 'ok' | 'unavailable' | 'timeout';

const check = z.enum(['ok', 'unavailable', 'timeout']);

/**
 * GET /healthz: the process is alive and answers (a liveness probe: restart it if not); it asks nothing of
 * PostgreSQL or Temporal, so an outage there does not get every API restarted.
 * GET /readyz: PostgreSQL and Temporal both answer within their time (a readiness probe: send it traffic).
 */
export function healthRoutes(ctx: ApiContext, api: RouteRegistry, timeoutMs = READINESS_TIMEOUT_MS): void {
  api.route({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'Operations',
    summary: 'Whether the API process is alive (asks no dependency)',
    public: true,
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
    handler: (_input, _req, res) => {
      res.json({ status: 'ok' });
    },
  });

  api.route({
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    tag: 'Operations',
    summary: 'Whether the API can serve: PostgreSQL and Temporal each answer within 2 s',
    public: true,
    responses: {
      200: { description: 'Both answer', schema: z.object({ status: z.literal('ready'), database: z.literal('ok'), temporal: z.literal('ok') }) },
      503: {
        description: 'One does not: it is named unavailable (it refused or failed) or timeout (no answer in time)',
        schema: z.object({ status: z.literal('not_ready'), database: check, temporal: check }),
      },
    },
    handler: async (_input, _req, res) => {
      const [database, temporal] = await Promise.all([
        outcome(ctx.pool.query('SELECT 1'), timeoutMs),
        // The deadline also ends the gRPC call, so a Temporal that never answers leaves nothing behind.
        outcome(ctx.temporal.connection.withDeadline(Date.now() + timeoutMs, () => ctx.temporal.workflowService.getSystemInfo({})), timeoutMs),
      ]);
      const ready = database === 'ok' && temporal === 'ok';
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', database, temporal });
    },
  });
}

/** How a check went: answered, failed, or still nothing after timeoutMs (it is then left to finish on its own). */
async function outcome(work: Promise<unknown>, timeoutMs: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.race([work.then((): Check => 'ok', (error: unknown): Check => (isDeadline(error) ? 'timeout' : 'unavailable')), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** gRPC's DEADLINE_EXCEEDED (4), as Temporal's client reports a call its deadline ended. */
function isDeadline(error: unknown): boolean {
  const cause = (error as { cause?: { code?: number } })?.cause;
  return (error as { code?: number })?.code === 4 || cause?.code === 4;
}
