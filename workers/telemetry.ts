import { Runtime } from '@temporalio/worker';
import type { Config } from '../config';

/**
 * Sets up the Temporal SDK's runtime for a worker process before its first connection: with
 * WORKER_METRICS_ADDRESS set, the SDK serves its own worker metrics (task slots, poll and schedule-to-start
 * latencies, activity and workflow outcomes, sticky cache) for Prometheus at http://<address>/metrics.
 * Without it, the runtime starts later with its defaults, as before.
 */
export function installWorkerRuntime(config: Config): void {
  const bindAddress = config.workerMetricsAddress;
  if (!bindAddress) return;
  Runtime.install({
    telemetryOptions: {
      metrics: { prometheus: { bindAddress } },
    },
  });
}
