import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Signals a workflow from a shell, with the real temporal CLI, as an operator would. */
export async function signalFromShell(workflowId: string, name: string, input?: string): Promise<void> {
  const cli = process.env.SETTLE_TEST_TEMPORAL_CLI;
  if (!cli) throw new Error('the test setup found no temporal CLI binary');
  const args = ['workflow', 'signal', '--address', process.env.SETTLE_TEST_TEMPORAL_ADDRESS!, '--workflow-id', workflowId, '--name', name];
  await run(cli, input === undefined ? args : [...args, '--input', input]);
}
