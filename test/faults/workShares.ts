import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

/**
 * Which worker process did the work, as Temporal recorded it: every workflow and activity task started in a
 * history names the identity of the worker that took it, `<pid>@<host>` unless the worker sets another.
 */

export interface WorkerTasks {
  workflowTasks: number;
  activityTasks: number;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Tasks per worker identity, from the events of one or more histories. */
export function countTasksByIdentity(events: Iterable<HistoryEvent>, into = new Map<string, WorkerTasks>()): Map<string, WorkerTasks> {
  const add = (identity: string | null | undefined, kind: keyof WorkerTasks) => {
    const key = identity || '(none)';
    const tasks = into.get(key) ?? { workflowTasks: 0, activityTasks: 0 };
    tasks[kind] += 1;
    into.set(key, tasks);
  };
  for (const event of events) {
    if (event.workflowTaskStartedEventAttributes) add(event.workflowTaskStartedEventAttributes.identity, 'workflowTasks');
    if (event.activityTaskStartedEventAttributes) add(event.activityTaskStartedEventAttributes.identity, 'activityTasks');
  }
  return into;
}

/**
 * Lines such as "worker-1 (pids 4100, 4388): 812 workflow tasks, 1300 activity tasks (34 % of activities)",
 * one per worker, then any identity that is none of theirs, from every workflow on the task queue.
 */
export async function workByWorker(input: {
  address: string;
  namespace: string;
  taskQueue: string;
  workers: Array<{ name: string; pids: number[] }>;
}): Promise<string[]> {
  const connection = await Connection.connect({ address: input.address });
  try {
    const client = new Client({ connection, namespace: input.namespace });
    const tasks = new Map<string, WorkerTasks>();
    const executions: Array<{ workflowId: string; runId: string }> = [];
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${input.taskQueue}'` })) {
      executions.push({ workflowId: execution.workflowId, runId: execution.runId });
    }
    // A few at a time: the server and the machine are shared with the run's other processes.
    for (let i = 0; i < executions.length; i += 8) {
      const histories = await Promise.all(
        executions.slice(i, i + 8).map(({ workflowId, runId }) => client.workflow.getHandle(workflowId, runId).fetchHistory()),
      );
      for (const history of histories) countTasksByIdentity(history.events ?? [], tasks);
    }
    return describeShares(tasks, input.workers, executions.length);
  } finally {
    await connection.close();
  }
}

export function describeShares(tasks: Map<string, WorkerTasks>, workers: Array<{ name: string; pids: number[] }>, workflows: number): string[] {
  const host = os.hostname();
  const total = [...tasks.values()].reduce((sum, t) => sum + t.activityTasks, 0);
  const claimed = new Set<string>();
  const lines = workers.map((worker) => {
    const identities = worker.pids.map((pid) => `${pid}@${host}`);
    identities.forEach((identity) => claimed.add(identity));
    const mine = identities.map((identity) => tasks.get(identity) ?? { workflowTasks: 0, activityTasks: 0 });
    const workflowTasks = mine.reduce((sum, t) => sum + t.workflowTasks, 0);
    const activityTasks = mine.reduce((sum, t) => sum + t.activityTasks, 0);
    const share = total === 0 ? 0 : Math.round((100 * activityTasks) / total);
    return `${worker.name} (pids ${worker.pids.join(', ')}): ${workflowTasks} workflow tasks, ${activityTasks} activity tasks (${share} % of activities)`;
  });
  for (const [identity, t] of tasks) {
    if (claimed.has(identity)) continue;
    const who = identity === '(none)' ? 'no identity recorded' : 'no worker of this run';
    lines.push(`${identity} (${who}): ${t.workflowTasks} workflow tasks, ${t.activityTasks} activity tasks`);
  }
  return [`work by worker, from ${workflows} workflow histories:`, ...lines.map((line) => `  ${line}`)];
}
