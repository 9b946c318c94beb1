import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import globalSetup from '../setup/globalSetup';
import globalTeardown from '../setup/globalTeardown';
import { summaryLine } from './explore';

/**
 * `npm run test:explore`: the full explorer, with the services the test suite uses (PostgreSQL, the Temporal
 * dev server, the Stripe stand-in) started here as jest's global setup starts them, the scenarios played in
 * a child process (a worker's Temporal runtime is one per process, as in a jest worker), and the services
 * stopped before the last line, which is always `explored N scenarios (seed S): V violations`.
 * Exits non-zero when V > 0.
 */
async function main(): Promise<number> {
  const seed = process.env.EXPLORE_SEED || String(randomInt(1, 2 ** 31 - 1));
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'settle-explore-'));
  const resultFile = path.join(scratch, 'result.json');

  await globalSetup();
  let result = { explored: 0, violations: 1 };
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', path.join(__dirname, 'register.js'), path.join(__dirname, 'run.ts')], {
        stdio: 'inherit',
        env: { ...process.env, EXPLORE_SEED: seed, EXPLORE_RESULT_FILE: resultFile },
      });
      child.on('error', reject);
      child.on('exit', (exitCode) => resolve(exitCode));
    });
    result = JSON.parse(await readFile(resultFile, 'utf8').catch(() => JSON.stringify({ explored: 0, violations: 1 })));
    if (code !== 0 && result.violations === 0) result.violations = 1;
  } finally {
    await globalTeardown();
    await rm(scratch, { recursive: true, force: true });
  }
  print(summaryLine(result.explored, Number(seed), result.violations));
  return result.violations > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stdout.write(`${(error as Error).stack ?? error}\n`);
    process.exit(2);
  },
);
