import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const HISTORIES = path.join(__dirname, 'histories');

describe('recorded workflow histories', () => {
  it('replay without a determinism error against the current workflow code', async () => {
    // The histories of today's code at the top; those of earlier code, still running somewhere, in v1/ and on.
    const files = (await readdir(HISTORIES, { recursive: true })).filter((name) => name.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThanOrEqual(5);
    const histories = await Promise.all(
      files.map(async (name) => ({ workflowId: name, history: historyFromJSON(JSON.parse(await readFile(path.join(HISTORIES, name), 'utf8'))) })),
    );
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: process.env.SETTLE_TEST_WORKFLOW_BUNDLE! } }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
