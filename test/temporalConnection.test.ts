import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ConfigError, loadConfig } from '../config';
import { connectTemporal } from '../temporalConnection';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'settle-temporal-tls-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Temporal's client configuration (TEMPORAL_* variables and temporal.toml profiles)", () => {
  it('connects in plaintext to a configured address by default', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(config.temporal).toMatchObject({ address: 'temporal:7233', namespace: 'default', connection: {} });
  });

  it('an API key (Temporal Cloud) implies TLS with the system roots, unless TLS is turned off', () => {
    const cloud = loadConfig({ TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'settle.a1b2c', TEMPORAL_API_KEY: 'key-123' });
    expect(cloud.temporal).toMatchObject({ namespace: 'settle.a1b2c', connection: { apiKey: 'key-123', tls: true } });
    const plain = loadConfig({ TEMPORAL_ADDRESS: 'localhost:7233', TEMPORAL_API_KEY: 'key-123', TEMPORAL_TLS: 'false' });
    expect(plain.temporal.connection).toEqual({ apiKey: 'key-123', tls: false });
  });

  it('reads a profile of a temporal.toml file, and the variables win over it', () => {
    const file = path.join(dir, 'temporal.toml');
    writeFileSync(
      file,
      [
        '[profile.default]',
        'address = "localhost:7233"',
        '',
        '[profile.prod]',
        'address = "prod.tmprl.cloud:7233"',
        'namespace = "settle-prod"',
        'api_key = "from-file"',
        '[profile.prod.grpc_meta]',
        'x-team = "payments"',
      ].join('\n'),
    );
    const prod = loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
    expect(prod.temporal).toMatchObject({ address: 'prod.tmprl.cloud:7233', namespace: 'settle-prod', connection: { apiKey: 'from-file', tls: true, metadata: { 'x-team': 'payments' } } });
    const overridden = loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'settle-staging', TEMPORAL_API_KEY: 'from-env' });
    expect(overridden.temporal).toMatchObject({ namespace: 'settle-staging', connection: { apiKey: 'from-env' } });
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: file }).temporal.address).toBe('localhost:7233');
  });

  it("reads the CLI's own temporal.toml only when a profile is asked for, so npm start keeps its dev server", () => {
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
    writeFileSync(path.join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\naddress = "prod.tmprl.cloud:7233"\napi_key = "k"\n');
    expect(loadConfig({ HOME: home }).temporal).toMatchObject({ address: undefined, connection: {} });
    expect(loadConfig({ HOME: home, TEMPORAL_PROFILE: 'default' }).temporal).toMatchObject({ address: 'prod.tmprl.cloud:7233', connection: { apiKey: 'k' } });
  });

  it('stops start-up on a profile that is not there, a bad file, a missing certificate or a bad address', () => {
    const file = path.join(dir, 'broken.toml');
    writeFileSync(file, '[profile.default\naddress = ');
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: file })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: file })).toThrow(/TEMPORAL_CONFIG_FILE=/);
    const good = path.join(dir, 'good.toml');
    writeFileSync(good, '[profile.default]\naddress = "localhost:7233"\n');
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: good, TEMPORAL_PROFILE: 'nope' })).toThrow(/nope/);
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'localhost:7233', TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'missing-ca.pem') })).toThrow(ConfigError);
    const badAddress = path.join(dir, 'bad-address.toml');
    writeFileSync(badAddress, '[profile.default]\naddress = "no port here"\n');
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: badAddress })).toThrow(/must be host:port/);
  });
});

/**
 * A TLS front for the test Temporal server (as a load balancer or Temporal Cloud presents), with a
 * certificate signed by a CA of the test's own: only a client that trusts that CA connects.
 */
async function tlsFront(): Promise<{ port: number; caPath: string; close(): Promise<void> }> {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Settle test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=temporal.settle.test');
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:temporal.settle.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext');

  const [host, port] = process.env.SETTLE_TEST_TEMPORAL_ADDRESS!.split(':');
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    { key: readFileSync(path.join(dir, 'server.key')), cert: readFileSync(path.join(dir, 'server.pem')), ALPNProtocols: ['h2'] },
    (client) => {
      const upstream = net.connect(Number(port), host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    caPath: path.join(dir, 'ca.pem'),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('connections to a Temporal behind TLS', () => {
  it('the client and the worker connect when the server CA and name are configured, and not without them', async () => {
    const front = await tlsFront();
    try {
      const address = `127.0.0.1:${front.port}`;
      const trusted = loadConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: front.caPath, TEMPORAL_TLS_SERVER_NAME: 'temporal.settle.test' });
      const connections = await connectTemporal(trusted, address);
      try {
        const { namespaceInfo } = await connections.connection.workflowService.describeNamespace({ namespace: 'default' });
        expect(namespaceInfo?.name).toBe('default');
        // The worker's connection (Rust core) validates the server on connect.
        expect(connections.nativeConnection).toBeDefined();
      } finally {
        await connections.close();
      }

      const untrusted = loadConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_NAME: 'temporal.settle.test' });
      await expect(connectTemporal(untrusted, address)).rejects.toThrow();
      const plaintext = loadConfig({ TEMPORAL_ADDRESS: address });
      await expect(connectTemporal(plaintext, address)).rejects.toThrow();
    } finally {
      await front.close();
    }
  }, 60_000);
});
