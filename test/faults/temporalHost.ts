import { startTemporalDevServer } from '../../dev/temporalServer';

/**
 * Runs the Temporal dev server (dev/temporalServer.ts) in a process of its own, so that the fault suite can
 * send its output to a log file and kill it as it kills Settle's processes. Arguments: the SQLite file and
 * the port; FAULTS_TEMPORAL_CLI names the binary. Stops the server on SIGTERM.
 */
async function main(): Promise<void> {
  const [dbFilename, port] = process.argv.slice(2);
  if (!dbFilename || !port) throw new Error('usage: temporalHost <db file> <port>');
  const server = await startTemporalDevServer({ cliPath: process.env.FAULTS_TEMPORAL_CLI || undefined, dbFilename, port: Number(port) });
  console.log(`temporal ready at ${server.address}`);
  // A signal handler alone does not keep Node running, and the server's handle does not either.
  const alive = setInterval(() => undefined, 60_000);
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await server.stop();
  clearInterval(alive);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
