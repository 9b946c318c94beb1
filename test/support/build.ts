import { execFile } from 'node:child_process';
import { copyFile, cp, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

export interface Build {
  /** The folder that holds what `npm run build` writes to dist/: compiled code, migrations, the workflow bundle. */
  dir: string;
  /** The environment a process started from this build needs besides its own settings: where the packages are. */
  env: NodeJS.ProcessEnv;
}

/**
 * Builds Settle as `npm run build` does, into a folder of its own (the shared dist/ is left alone, and a
 * fresh clone has none), for tests that run the production processes: `node <dir>/workers/main.js`.
 * Type-checking is `npm test`'s first step, so this only compiles; the workflow bundle is the run's own.
 */
export async function buildSettle(): Promise<Build> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'settle-build-'));
  await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', dir], {
    cwd: ROOT,
    timeout: 5 * 60_000,
  });
  await cp(path.join(ROOT, 'db', 'migrations'), path.join(dir, 'db', 'migrations'), { recursive: true });
  const bundle = process.env.SETTLE_TEST_WORKFLOW_BUNDLE;
  if (!bundle) throw new Error('SETTLE_TEST_WORKFLOW_BUNDLE is not set: run the tests with `npm test`');
  await copyFile(bundle, path.join(dir, 'workflow-bundle.js'));
  // The build lives outside the project, so its require()s find the project's packages through NODE_PATH.
  return { dir, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } };
}
