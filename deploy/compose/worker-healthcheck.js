'use strict';
/**
 * Exits 0 when the Settle worker in this container polls its task queue, 1 otherwise (a container
 * healthcheck). Temporal lists a task queue's recent pollers by identity, which the SDK makes
 * `<pid>@<hostname>`, and a container's hostname is its own. Reaches Temporal as the worker does, through
 * Temporal's own TEMPORAL_* variables and profile file (TLS, API key); the task queue is TEMPORAL_TASK_QUEUE.
 */
const os = require('node:os');
const { Connection } = require('@temporalio/client');
const { loadClientConnectConfig } = require('@temporalio/envconfig');

// A worker holds each workflow-task poll open for up to a minute; one that stopped polling drops out after two.
const RECENT_MS = 2 * 60_000;
// Only workflow tasks: a worker whose activity slots are all busy rightly stops asking for activities.
const TASK_QUEUE_TYPE_WORKFLOW = 1;

async function main() {
  const taskQueue = process.env.TEMPORAL_TASK_QUEUE;
  if (!taskQueue) throw new Error('TEMPORAL_TASK_QUEUE is not set');
  // An empty variable means "not set", as Settle reads them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([, value]) => value));
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: env });
  const { address, apiKey, tls, metadata } = connectionOptions;
  const connection = await Connection.connect({ address, apiKey, tls, metadata, connectTimeout: '5s' });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: namespace ?? 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
    });
    const suffix = `@${os.hostname()}`;
    const mine = (pollers ?? []).find((poller) => poller.identity?.endsWith(suffix) && Date.now() - millis(poller.lastAccessTime) < RECENT_MS);
    if (!mine) throw new Error(`no worker on ${os.hostname()} polls task queue '${taskQueue}'`);
  } finally {
    await connection.close();
  }
}

function millis(timestamp) {
  return timestamp ? Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6) : 0;
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
