import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** The workflow code, bundled once (at build time, or once per test run) and loaded by every worker. */
export async function writeWorkflowBundle(outputPath: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error },
  });
  await mkdir(path.dirname(outputPath), { recursive: true });
  await writeFile(outputPath, code);
  return outputPath;
}

export const DEFAULT_BUNDLE_PATH = path.resolve(__dirname, '..', 'workflow-bundle.js');

if (require.main === module) {
  writeWorkflowBundle(process.argv[2] ?? DEFAULT_BUNDLE_PATH).then(
    (file) => console.log(`workflow bundle written to ${path.relative(process.cwd(), file)}`),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
