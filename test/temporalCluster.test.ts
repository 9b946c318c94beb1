import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  findTemporalServer,
  MAX_MEMBERSHIP_PORT,
  postgresAccountFromUrl,
  resolveTemporalServer,
  SERVER_PORT_NAMES,
  serverArgs,
  serverConfig,
  serverPorts,
  TEMPORAL_SERVER_NEEDS_GO,
  TEMPORAL_SERVER_VERSION,
  type ServerPorts,
} from '../dev/temporalCluster';

const PORTS: ServerPorts = {
  frontend: 47233,
  frontendMembership: 26933,
  history: 47234,
  historyMembership: 26934,
  matching: 47235,
  matchingMembership: 26935,
  worker: 47239,
  workerMembership: 26939,
};

describe("the real Temporal server's config", () => {
  const config = YAML.parse(
    serverConfig({
      postgres: { host: 'localhost', port: 41000, user: 'postgres', password: 'p@ss:word' },
      databases: { temporal: 'temporal', visibility: 'temporal_visibility' },
      numHistoryShards: 4,
      ports: PORTS,
      dynamicConfigFile: '/tmp/cluster/config/dynamicconfig.yaml',
      logLevel: 'info',
    }),
  );

  it('keeps history and visibility in two PostgreSQL databases through the postgres12 plugin, on 4 history shards', () => {
    expect(config.persistence).toMatchObject({ defaultStore: 'postgres-default', visibilityStore: 'postgres-visibility', numHistoryShards: 4 });
    const common = { pluginName: 'postgres12', connectAddr: 'localhost:41000', connectProtocol: 'tcp', user: 'postgres', password: 'p@ss:word' };
    expect(config.persistence.datastores['postgres-default'].sql).toMatchObject({ ...common, databaseName: 'temporal' });
    expect(config.persistence.datastores['postgres-visibility'].sql).toMatchObject({ ...common, databaseName: 'temporal_visibility' });
  });

  it("runs every service on this machine only, each on its own gRPC and membership port, and names the frontend as the cluster's address", () => {
    for (const service of ['frontend', 'history', 'matching', 'worker'] as const) {
      expect(config.services[service].rpc).toEqual({ grpcPort: PORTS[service], membershipPort: PORTS[`${service}Membership`], bindOnLocalHost: true });
    }
    expect(config.global.membership.broadcastAddress).toBe('127.0.0.1');
    expect(config.clusterMetadata).toMatchObject({ currentClusterName: 'active', masterClusterName: 'active' });
    expect(config.clusterMetadata.clusterInformation.active).toMatchObject({ enabled: true, rpcName: 'frontend', rpcAddress: '127.0.0.1:47233' });
    expect(config.dynamicConfigClient.filepath).toBe('/tmp/cluster/config/dynamicconfig.yaml');
  });

  it('is found by the server as config/development.yaml under the root it is given', () => {
    expect(serverArgs('/tmp/cluster')).toEqual(['--root', '/tmp/cluster', '--config', 'config', '--env', 'development', '--allow-no-auth', 'start']);
  });
});

describe("the real Temporal server's ports", () => {
  it('keeps the frontend port asked for and gives every other service a distinct free port, none of those to avoid', async () => {
    const avoid = new Set([3000, 7233, 8233, 54329]);
    const ports = await serverPorts({ frontend: 45999 }, avoid);
    expect(ports.frontend).toBe(45999);
    const all = SERVER_PORT_NAMES.map((name) => ports[name]);
    expect(new Set(all).size).toBe(SERVER_PORT_NAMES.length);
    expect(all.filter((port) => avoid.has(port))).toEqual([]);
  });

  it('draws membership ports below 32768, as its SQL schema stores them in a SMALLINT', async () => {
    const ports = await serverPorts({}, new Set());
    for (const name of ['frontendMembership', 'historyMembership', 'matchingMembership', 'workerMembership'] as const) {
      expect(ports[name]).toBeLessThanOrEqual(MAX_MEMBERSHIP_PORT);
    }
    await expect(serverPorts({ historyMembership: 40000 }, new Set())).rejects.toThrow(/historyMembership port 40000 is above 32767/);
  });
});

describe("the real Temporal server's binaries", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'settle-cluster-bin-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const fakeBinary = async (name: string, version: string) => {
    await writeFile(path.join(dir, name), `#!/bin/sh\necho "temporal version ${version}"\n`);
    await chmod(path.join(dir, name), 0o755);
  };

  it('are used from the tools folder when both answer the pinned release', async () => {
    await fakeBinary('server', TEMPORAL_SERVER_VERSION);
    await fakeBinary('sql', TEMPORAL_SERVER_VERSION);
    expect(await findTemporalServer(dir)).toEqual({ server: path.join(dir, 'server'), sql: path.join(dir, 'sql') });
  });

  it('are not used at another release, nor when one is missing', async () => {
    await fakeBinary('server', '1.28.0');
    await fakeBinary('sql', TEMPORAL_SERVER_VERSION);
    expect(await findTemporalServer(dir)).toBeUndefined();
    await rm(path.join(dir, 'server'));
    expect(await findTemporalServer(dir)).toBeUndefined();
  });

  it('without Go to build them, ask for Go and say how long the first build takes', async () => {
    const pathBefore = process.env.PATH;
    process.env.PATH = dir;
    try {
      await expect(resolveTemporalServer({ binDir: path.join(dir, 'bin'), log: () => undefined })).rejects.toThrow(TEMPORAL_SERVER_NEEDS_GO);
    } finally {
      process.env.PATH = pathBefore;
    }
    expect(TEMPORAL_SERVER_NEEDS_GO).toMatch(/about 10 minutes/);
  });
});

describe('the PostgreSQL account the server uses', () => {
  it('is read from a database URL, its password decoded', () => {
    expect(postgresAccountFromUrl('postgres://postgres:p%40ss%3Aword@localhost:41000/settle')).toEqual({
      host: 'localhost',
      port: 41000,
      user: 'postgres',
      password: 'p@ss:word',
    });
  });
});
