import { writeFile } from 'node:fs/promises';
import { explore, type ExploreOptions } from './explore';

/** The explorer's scenarios, in a process of their own; started by main.ts with the services' addresses in the environment. */
async function run(): Promise<void> {
  const psp = (process.env.EXPLORE_PSP || 'both') as ExploreOptions['psp'];
  if (!['simulated', 'stripe', 'both'].includes(psp)) throw new Error(`EXPLORE_PSP must be simulated, stripe or both, not '${psp}'`);
  const options = {
    scenarios: numberFrom('EXPLORE_SCENARIOS', 500),
    seed: numberFrom('EXPLORE_SEED', 1),
    psp,
    concurrency: numberFrom('EXPLORE_CONCURRENCY', 30),
    authorizationWindowMs: numberFrom('EXPLORE_AUTHORIZATION_WINDOW_MS', 10_000),
    finishWithinMs: numberFrom('EXPLORE_FINISH_WITHIN_MS', 240_000),
    print: (line: string) => process.stdout.write(`${line}\n`),
    replayCommand: 'npm run test:explore',
    stripeIdempotency: process.env.EXPLORE_STRIPE_IDEMPOTENCY !== '0',
    // A replay of a few seeds shows each in full.
    verbose: process.env.EXPLORE_VERBOSE ? process.env.EXPLORE_VERBOSE !== '0' : numberFrom('EXPLORE_SCENARIOS', 500) <= 5,
  };
  options.print(`exploring ${options.scenarios} scenarios from seed ${options.seed} (${psp}, ${options.concurrency} at a time)`);
  const result = await explore(options);
  await writeFile(process.env.EXPLORE_RESULT_FILE!, JSON.stringify({ explored: result.explored, violations: result.violations.length }));
}

function numberFrom(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not '${text}'`);
  return value;
}

run().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(`the explorer failed: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
