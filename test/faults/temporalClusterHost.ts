import { findTemporalServer, postgresAccountFromUrl, startTemporalCluster, type ServerPorts } from '../../dev/temporalCluster';

/**
 * Runs a real Temporal server on PostgreSQL (dev/temporalCluster.ts) under a process of its own, as
 * temporalHost.ts runs the dev server: the fault suite logs, kills and restarts it like Settle's processes.
 * Arguments: the server's folder, PostgreSQL's URL, its ports (JSON), the folder holding the built binaries.
 * The server's own log is `root`/temporal-server.log. Stops the server on SIGTERM; exits 1 when the server stops on its own, so that the suite starts it again.
 */
async function main(): Promise<number> {
  const [root, postgresUrl, portsJson, binDir] = process.argv.slice(2);
  if (!root || !postgresUrl || !portsJson || !binDir) throw new Error('usage: temporalClusterHost <root> <postgres url> <ports json> <bin dir>');
  const binaries = await findTemporalServer(binDir);
  if (!binaries) throw new Error(`no Temporal server built in ${binDir}`);
  const cluster = await startTemporalCluster({
    binaries,
    postgres: postgresAccountFromUrl(postgresUrl),
    root,
    ports: JSON.parse(portsJson) as ServerPorts,
    numHistoryShards: 4,
  });
  console.log(`temporal ready at ${cluster.address} (server pid ${cluster.pid})`);
  const outcome = await Promise.race([
    new Promise<'stop'>((resolve) => process.once('SIGTERM', () => resolve('stop'))),
    cluster.exited.then(({ code, signal }) => {
      console.error(`the Temporal server exited on its own: code ${code}, signal ${signal}`);
      return 'exited' as const;
    }),
  ]);
  if (outcome === 'exited') return 1;
  await cluster.stop(20_000);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
