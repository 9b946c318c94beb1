import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { temporalConnectionOptions } from '../../temporalConnection';
import { createFloorActivities } from './activities';

/**
 * The floor's worker, a process of its own as Settle's worker is, with the same slots. Reads Settle's
 * configuration (TEMPORAL_ADDRESS, SIMULATED_PSP_LATENCY_MS, WORKER_*) and FLOOR_TASK_QUEUE.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const address = config.temporal.address;
  if (!address) throw new Error('the floor worker needs TEMPORAL_ADDRESS');
  const taskQueue = process.env.FLOOR_TASK_QUEUE ?? 'settle-floor';
  const connection = await NativeConnection.connect(temporalConnectionOptions(config, address));
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    // The load generator reads each outcome from this process's output.
    activities: createFloorActivities(config.psp.kind === 'simulated' ? config.psp.latencyMs : 0, (checkoutId) =>
      process.stdout.write(`ended ${checkoutId} ${Date.now()}\n`),
    ),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
  });
  console.log(`floor worker polling task queue '${taskQueue}' at ${address}`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
