import path from 'node:path';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import { z } from 'zod';
import { API_KEY_PATTERN } from './db/apiKeys';
import { DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS } from './db/idempotency';
import { parseFaultRates, type FaultRate } from './psp/faultRates';
import { DEFAULT_WEBHOOK_DELIVERY_POLICY, type WebhookDeliveryPolicy } from './domain/webhookEndpoint';

/**
 * Every setting Settle reads, from the environment, validated once at start-up. A missing or malformed
 * setting stops start-up with a message naming the variable.
 */

const port = z.coerce.number().int().min(1).max(65535);
const HOST_PORT = /^[^\s:]+:\d+$/;
const positiveInt = z.coerce.number().int().min(1);

const settings = z.object({
  PORT: port.default(3000),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  TEMPORAL_ADDRESS: z.string().regex(HOST_PORT, 'must be host:port').optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('settle'),
  TEMPORAL_CLI: z.string().min(1).optional(),
  SETTLE_DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: port.default(54329),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  PSP: z.enum(['simulated', 'stripe']).default('simulated'),
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_..., sk_live_...)').optional(),
  STRIPE_API_BASE: z
    .url({ protocol: /^https?$/, error: 'must be a URL such as http://localhost:8420' })
    .optional(),
  STRIPE_WEBHOOK_SECRET: z.string().regex(/^whsec_[A-Za-z0-9_]+$/, 'must be a webhook signing secret (whsec_...)').optional(),
  AUTHORIZATION_WINDOW_MS: positiveInt.default(7 * 24 * 60 * 60 * 1000),
  IDEMPOTENCY_KEY_TTL_HOURS: positiveInt.default(DEFAULT_IDEMPOTENCY_KEY_TTL_HOURS),
  RECONCILIATION_TIME: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time HH:MM')
    .default('02:00'),
  SIMULATED_PSP_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(20),
  SIMULATED_PSP_FEE_BPS: z.coerce.number().int().min(0).max(10_000).default(290),
  SIMULATED_PSP_FEE_FIXED: z.coerce.number().int().min(0).default(30),
  SIMULATED_PSP_FAULTS: z
    .string()
    .transform((spec, ctx) => {
      try {
        return parseFaultRates(spec);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .default([]),
  SIMULATED_PSP_SEED: z.string().regex(/^[\x21-\x7e]{1,100}$/, 'must be 1-100 printable characters without spaces').default('settle'),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(100),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.default(40),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  DATABASE_CONNECTION_TIMEOUT_MS: positiveInt.default(5_000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(10_000),
  WORKER_METRICS_ADDRESS: z.string().regex(HOST_PORT, 'must be host:port, e.g. 0.0.0.0:9464').optional(),
  SETTLE_API_KEY: z.string().regex(API_KEY_PATTERN, 'must be a Settle API key (sk_<16 hex digits>_<64 hex digits>)').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z.enum(['true', 'false'], 'must be true or false').default('false'),
  WEBHOOK_FIRST_RETRY_MS: positiveInt.default(DEFAULT_WEBHOOK_DELIVERY_POLICY.firstRetryMs),
  WEBHOOK_LONGEST_RETRY_MS: positiveInt.default(DEFAULT_WEBHOOK_DELIVERY_POLICY.longestRetryMs),
  WEBHOOK_RETRY_FOR_MS: positiveInt.default(DEFAULT_WEBHOOK_DELIVERY_POLICY.retryForMs),
  WEBHOOK_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(DEFAULT_WEBHOOK_DELIVERY_POLICY.attemptTimeoutMs),
});

/**
 * Temporal's own client variables, read by @temporalio/envconfig as every Temporal SDK and the CLI read them:
 * over a profile of the TOML file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; profile
 * TEMPORAL_PROFILE, else "default"), read when one of those two is set. TEMPORAL_ADDRESS and
 * TEMPORAL_NAMESPACE are also Settle's own settings.
 */
const TEMPORAL_CLIENT_VARIABLES = [
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_PROFILE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
] as const;

/** Every environment variable Settle reads (besides TEMPORAL_GRPC_META_<NAME>, gRPC headers to Temporal). */
export const SETTLE_VARIABLES: readonly string[] = [...Object.keys(settings.shape), ...TEMPORAL_CLIENT_VARIABLES];

const schema = settings.superRefine((env, ctx) => {
  if (env.PSP !== 'simulated' && env.SIMULATED_PSP_FAULTS.length > 0) {
    ctx.addIssue({ code: 'custom', path: ['SIMULATED_PSP_FAULTS'], message: 'applies only to PSP=simulated' });
  }
  if (env.PSP !== 'stripe') return;
  for (const name of ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const) {
    if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when PSP=stripe' });
  }
});

export type PspConfig =
  | {
      kind: 'simulated';
      latencyMs: number;
      fee: { basisPoints: number; fixed: number };
      /** Faults at random, per call (SIMULATED_PSP_FAULTS); none by default. */
      faults: FaultRate[];
      /** Seeds the simulator's references and its random faults, so a run can be repeated. */
      seed: string;
    }
  | { kind: 'stripe'; secretKey: string; webhookSecret: string; apiBase?: { protocol: 'http' | 'https'; host: string; port: number } };

export interface Config {
  port: number;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /**
   * The API's database limits: how long a request waits for a pooled connection, and how long one statement
   * may run, before it answers 503. Workers keep no statement limit: reconciliation runs long statements.
   */
  apiDatabase: { connectionTimeoutMs: number; statementTimeoutMs: number };
  temporal: {
    /** The Temporal frontend Settle uses; none means `npm start` runs the dev server itself. */
    address: string | undefined;
    /** How to reach it beyond its address: Temporal Cloud's API key, mTLS, gRPC headers. */
    connection: TemporalConnectionSettings;
    namespace: string;
    taskQueue: string;
    cliPath: string | undefined;
    devServerPort: number;
    uiPort: number;
  };
  dataDir: string;
  embeddedPostgresPort: number;
  psp: PspConfig;
  authorizationWindowMs: number;
  /**
   * How long an Idempotency-Key answers retries of its first request; then it is free for new work. Keep it
   * within Temporal's retention period, which is what refuses a second run of a workflow whose start was
   * accepted but never marked.
   */
  idempotencyKeyTtlHours: number;
  /** When the nightly reconciliation runs, UTC. */
  reconciliationTime: { hour: number; minute: number };
  worker: { maxConcurrentActivities: number; maxConcurrentWorkflowTasks: number };
  /** Where the Temporal SDK serves a worker's metrics for Prometheus (host:port, path /metrics); none: off. */
  workerMetricsAddress: string | undefined;
  logLevel: z.infer<typeof settings>['LOG_LEVEL'];
  /**
   * Outgoing webhooks: how deliveries are retried, and whether they may reach loopback and private addresses
   * (development only: `npm start` and the tests allow it; production must not).
   */
  webhooks: WebhookSettings;
  /**
   * The API key `npm start` registers and leaves to its user (SETTLE_API_KEY); none: it keeps a development
   * key of its own. API processes need none: keys live in the database.
   */
  apiKey: string | undefined;
}

export interface WebhookSettings {
  allowPrivateNetworks: boolean;
  delivery: WebhookDeliveryPolicy;
}

export interface TemporalConnectionSettings {
  apiKey?: string;
  /** true: TLS with the system's roots (implied by an API key); false: plaintext. */
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= npm start`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Settle cannot start: bad configuration\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const temporal = temporalClient(present as Record<string, string>);
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    apiDatabase: { connectionTimeoutMs: e.DATABASE_CONNECTION_TIMEOUT_MS, statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS },
    temporal: {
      address: temporal.address,
      connection: temporal.connection,
      namespace: temporal.namespace ?? e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      cliPath: e.TEMPORAL_CLI,
      devServerPort: e.TEMPORAL_DEV_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
    },
    dataDir: path.resolve(e.SETTLE_DATA_DIR),
    embeddedPostgresPort: e.EMBEDDED_PG_PORT,
    psp:
      e.PSP === 'stripe'
        ? { kind: 'stripe', secretKey: e.STRIPE_SECRET_KEY!, webhookSecret: e.STRIPE_WEBHOOK_SECRET!, ...(e.STRIPE_API_BASE ? { apiBase: apiBase(e.STRIPE_API_BASE) } : {}) }
        : {
            kind: 'simulated',
            latencyMs: e.SIMULATED_PSP_LATENCY_MS,
            fee: { basisPoints: e.SIMULATED_PSP_FEE_BPS, fixed: e.SIMULATED_PSP_FEE_FIXED },
            faults: e.SIMULATED_PSP_FAULTS,
            seed: e.SIMULATED_PSP_SEED,
          },
    authorizationWindowMs: e.AUTHORIZATION_WINDOW_MS,
    idempotencyKeyTtlHours: e.IDEMPOTENCY_KEY_TTL_HOURS,
    reconciliationTime: { hour: Number(e.RECONCILIATION_TIME.slice(0, 2)), minute: Number(e.RECONCILIATION_TIME.slice(3)) },
    worker: {
      maxConcurrentActivities: e.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTasks: e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    },
    workerMetricsAddress: e.WORKER_METRICS_ADDRESS,
    logLevel: e.LOG_LEVEL,
    webhooks: {
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS === 'true',
      delivery: {
        firstRetryMs: e.WEBHOOK_FIRST_RETRY_MS,
        longestRetryMs: e.WEBHOOK_LONGEST_RETRY_MS,
        retryForMs: e.WEBHOOK_RETRY_FOR_MS,
        attemptTimeoutMs: e.WEBHOOK_ATTEMPT_TIMEOUT_MS,
      },
    },
    apiKey: e.SETTLE_API_KEY,
  };
}

/**
 * The Temporal profile (file, then TEMPORAL_* variables over it), as Temporal's SDKs and CLI resolve it: a
 * profile with an API key and no TLS settings gets TLS, as Temporal Cloud needs. Certificates named by path
 * are read now, so a missing file stops start-up naming it.
 */
function temporalClient(env: Record<string, string>): { address?: string; namespace?: string; connection: TemporalConnectionSettings } {
  const fail = (message: string): never => {
    throw new ConfigError(`Settle cannot start: bad Temporal configuration\n  ${message}`);
  };
  let options: ReturnType<typeof toClientOptions>;
  try {
    // The file is read only when named (TEMPORAL_CONFIG_FILE) or a profile is asked for (TEMPORAL_PROFILE): a
    // profile kept for the CLI (~/.config/temporalio/temporal.toml, perhaps a production namespace) must not
    // turn `npm start` away from its own dev server.
    const fileNamed = env.TEMPORAL_CONFIG_FILE !== undefined || env.TEMPORAL_PROFILE !== undefined;
    options = toClientOptions(loadClientConfigProfile({ profile: env.TEMPORAL_PROFILE, overrideEnvVars: env, disableFile: !fileNamed }));
  } catch (error) {
    const where = env.TEMPORAL_CONFIG_FILE ? ` (TEMPORAL_CONFIG_FILE=${env.TEMPORAL_CONFIG_FILE})` : '';
    return fail(`${(error as Error).message}${where}`);
  }
  const { address, apiKey, tls, metadata } = options.connectionOptions;
  if (address !== undefined && !HOST_PORT.test(address)) fail(`address '${address}' of profile '${env.TEMPORAL_PROFILE ?? 'default'}': must be host:port`);
  if (apiKey !== undefined && typeof apiKey !== 'string') fail('the API key must be text');
  return {
    address,
    namespace: options.namespace,
    connection: {
      ...(apiKey ? { apiKey } : {}),
      ...(tls !== undefined && tls !== null ? { tls } : {}),
      ...(metadata && Object.keys(metadata).length > 0 ? { metadata: metadata as Record<string, string> } : {}),
    },
  };
}

function apiBase(url: string): { protocol: 'http' | 'https'; host: string; port: number } {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'https:' ? 'https' : 'http';
  return { protocol, host: parsed.hostname, port: parsed.port ? Number(parsed.port) : protocol === 'https' ? 443 : 80 };
}

/** A process that is one of many (a worker, an API) runs against shared services, never embedded ones. */
export function requireSharedServices(config: Config, process: `a ${string}` | `an ${string}`): { databaseUrl: string; temporalAddress: string } {
  const missing = [!config.databaseUrl && 'DATABASE_URL', !config.temporal.address && 'TEMPORAL_ADDRESS'].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError(`Settle cannot start: ${process} process needs ${missing.join(' and ')} (npm start runs everything on one machine)`);
  }
  return { databaseUrl: config.databaseUrl!, temporalAddress: config.temporal.address! };
}
