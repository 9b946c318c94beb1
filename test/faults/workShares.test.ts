import os from 'node:os';
import { countTasksByIdentity, describeShares } from './workShares';

describe('the work each worker took, from the histories', () => {
  const host = os.hostname();
  const workflowTask = (identity: string) => ({ workflowTaskStartedEventAttributes: { identity } });
  const activityTask = (identity: string) => ({ activityTaskStartedEventAttributes: { identity } });

  it("counts each started task for the identity of the worker that took it, over a worker's every process", () => {
    const tasks = countTasksByIdentity([
      workflowTask(`100@${host}`),
      activityTask(`100@${host}`),
      activityTask(`101@${host}`),
      workflowTask(`200@${host}`),
      activityTask(`200@${host}`),
      activityTask(`200@${host}`),
      { workflowExecutionStartedEventAttributes: {} },
    ]);
    const lines = describeShares(
      tasks,
      [
        { name: 'worker-1', pids: [100, 101] },
        { name: 'worker-2', pids: [200] },
        { name: 'worker-3', pids: [300] },
      ],
      2,
    );
    expect(lines).toEqual([
      'work by worker, from 2 workflow histories:',
      '  worker-1 (pids 100, 101): 1 workflow tasks, 2 activity tasks (50 % of activities)',
      '  worker-2 (pids 200): 1 workflow tasks, 2 activity tasks (50 % of activities)',
      '  worker-3 (pids 300): 0 workflow tasks, 0 activity tasks (0 % of activities)',
    ]);
  });

  it('names tasks that no worker of the run took', () => {
    const tasks = countTasksByIdentity([workflowTask('9@elsewhere'), workflowTask('')]);
    expect(describeShares(tasks, [{ name: 'worker-1', pids: [1] }], 1).slice(2)).toEqual([
      '  9@elsewhere (no worker of this run): 1 workflow tasks, 0 activity tasks',
      '  (none) (no identity recorded): 1 workflow tasks, 0 activity tasks',
    ]);
  });
});
