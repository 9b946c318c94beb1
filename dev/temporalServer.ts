import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { TEMPORAL_CLI_MISSING } from './temporalCli';

export interface DevServer {
  address: string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** The `temporal` binary; without one, the SDK downloads the CLI (needs the internet). */
  cliPath: string | undefined;
  /** SQLite file that keeps workflows across restarts; in memory when absent (tests). */
  dbFilename?: string;
  port?: number;
  /** Web UI port; no UI when absent. */
  uiPort?: number;
  /** SQLite pragmas for the file (`--sqlite-pragma NAME=VALUE`), e.g. DURABLE_SQLITE_PRAGMAS. */
  sqlitePragmas?: Record<string, string>;
}

/**
 * Write-ahead logging with fsync at checkpoints only: a crash of any process loses nothing committed (the
 * log is in the operating system's hands); only a power loss can lose the last commits. Several times the
 * dev server's throughput on its default rollback journal, which syncs every commit.
 */
export const DURABLE_SQLITE_PRAGMAS: Record<string, string> = { journal_mode: 'wal', synchronous: 'NORMAL' };

/**
 * The Temporal CLI's dev server (`temporal server start-dev`), with Settle's search attributes registered so
 * the Web UI can filter checkouts by status and customer.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  let env: TestWorkflowEnvironment;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: options.cliPath ? { type: 'existing-path', path: options.cliPath } : { type: 'cached-download' },
        ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}),
        ...(options.port ? { port: options.port } : {}),
        ...(options.uiPort ? { ui: true, uiPort: options.uiPort } : {}),
        searchAttributes: SEARCH_ATTRIBUTES,
        extraArgs: [
          ...(options.uiPort !== undefined ? ['--ui-disable-news-fetch'] : []),
          ...Object.entries(options.sqlitePragmas ?? {}).flatMap(([name, value]) => ['--sqlite-pragma', `${name}=${value}`]),
        ],
      },
    });
  } catch (error) {
    if (!options.cliPath) throw new Error(`${TEMPORAL_CLI_MISSING}\n(the SDK's download failed too: ${(error as Error).message})`);
    throw new Error(`the Temporal dev server did not start: ${(error as Error).message}`);
  }
  return { address: env.address, stop: () => env.teardown() };
}
