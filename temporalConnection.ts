import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';

/**
 * Settle's two connections to Temporal, made the same way by every process: the client's (starts, signals,
 * queries, the operator API) and the worker's native one. `address` is the configured frontend, or the dev
 * server `npm start` launched (which needs no TLS and no key).
 */
export interface TemporalConnections {
  connection: Connection;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export function temporalConnectionOptions(config: Config, address: string) {
  const settings = address === config.temporal.address ? config.temporal.connection : {};
  return { address, ...settings };
}

export async function connectClient(config: Config, address: string): Promise<Connection> {
  return Connection.connect(temporalConnectionOptions(config, address));
}

export async function connectTemporal(config: Config, address: string): Promise<TemporalConnections> {
  const connection = await connectClient(config, address);
  try {
    const nativeConnection = await NativeConnection.connect(temporalConnectionOptions(config, address));
    return {
      connection,
      nativeConnection,
      async close() {
        await connection.close();
        await nativeConnection.close();
      },
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
