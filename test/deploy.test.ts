import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import YAML from 'yaml';
import { loadConfig, requireSharedServices, SETTLE_VARIABLES } from '../config';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { startSettle, type TestSettle } from './support/settle';

/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so this checks what can be
 * checked without one: the files parse, their services and variables agree with config.ts, their commands
 * are the npm scripts the other suites run, and the compose jobs' scripts and the worker's health check do
 * what they say against the test run's Temporal server.
 */

const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

// ---- docker-compose.yml, as Compose reads it with nothing set in the environment ----

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  restart?: string;
  healthcheck?: { test: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Compose's interpolation with an empty environment: `${VAR:-default}` and `${VAR-default}` take their default. */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^}]*)\}|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, (match, _name, dash, fallback) => {
    if (match === '$$') return '$';
    if (dash !== undefined) return fallback as string;
    throw new Error(`${match} has no default: \`docker compose up\` with nothing set would not start`);
  });
}

function interpolateAll<T>(node: T): T {
  if (typeof node === 'string') return interpolate(node) as T;
  if (Array.isArray(node)) return node.map(interpolateAll) as T;
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateAll(value)])) as T;
  return node;
}

const composeText = read('docker-compose.yml');
const compose = interpolateAll(YAML.parse(composeText, { merge: true }) as Compose);
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service '${name}'`);
  return found;
};

const SETTLE_WORKERS = ['settle-worker-1', 'settle-worker-2'];
const SETTLE_APIS = ['settle-api-1', 'settle-api-2'];
const SETTLE_SERVICES = [...SETTLE_WORKERS, ...SETTLE_APIS];
const TEMPORAL_JOBS = ['temporal-schema', 'temporal-setup'];

/** A job runs once to completion; everything else runs until stopped and restarts. */
const isJob = (s: Service) => s.restart === undefined || s.restart === 'no' || s.restart.startsWith('on-failure');
const environment = (name: string): Record<string, string> => service(name).environment ?? {};

/** Every service `name` waits for, directly or not. */
function needs(name: string, seen = new Set<string>()): Set<string> {
  for (const dependency of Object.keys(service(name).depends_on ?? {})) {
    if (!seen.has(dependency)) {
      seen.add(dependency);
      needs(dependency, seen);
    }
  }
  return seen;
}

/** host:port of a "host-ip:host-port:container-port" or "host-port:container-port" mapping. */
function portMapping(mapping: string): { host: number; container: number } {
  const parts = mapping.split(':');
  return { host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1]) };
}

/** The files under deploy/compose a job runs, through its mount of that folder. */
function jobScript(name: string): string {
  const job = service(name);
  const mount = (job.volumes ?? []).map((volume) => volume.split(':')).find(([source]) => source === './deploy/compose');
  if (!mount) throw new Error(`${name} does not mount ./deploy/compose`);
  const script = (job.entrypoint ?? []).find((arg) => arg.startsWith(`${mount[1]}/`));
  if (!script) throw new Error(`${name} runs no script from ${mount[1]}`);
  return path.join('deploy', 'compose', path.relative(mount[1]!, script));
}

/** The namespace job's retention (such as 72h or 3d), in hours. */
function retentionHours(): number {
  const retention = /^(\d+)(h|d)$/.exec(environment('temporal-setup').TEMPORAL_NAMESPACE_RETENTION ?? '');
  if (!retention) throw new Error('TEMPORAL_NAMESPACE_RETENTION is not a number of hours (h) or days (d)');
  return Number(retention[1]) * (retention[2] === 'd' ? 24 : 1);
}

describe('docker-compose.yml', () => {
  it('parses, with its shared settings merged into each service', () => {
    const document = YAML.parseDocument(composeText, { merge: true });
    expect(document.errors).toEqual([]);
    expect(document.warnings).toEqual([]);
    expect(service('settle-worker-2')).toEqual(service('settle-worker-1'));
    expect(environment('settle-api-1').DATABASE_URL).toBe(environment('settle-worker-1').DATABASE_URL);
  });

  it("runs Settle's PostgreSQL, Temporal on PostgreSQL set up by jobs, the Temporal UI, two workers and two APIs", () => {
    expect(Object.keys(services).sort()).toEqual(
      ['settle-postgres', 'temporal-postgres', 'temporal-schema', 'temporal', 'temporal-setup', 'temporal-ui', ...SETTLE_SERVICES].sort(),
    );
    expect(service('temporal').image).toBe('temporalio/server:1.29.1');
    for (const job of TEMPORAL_JOBS) expect(service(job).image).toMatch(/^temporalio\/admin-tools:1\.29\.1(-|$)/);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    for (const [name, s] of Object.entries(services)) {
      expect([name, s.image]).toEqual([name, expect.stringMatching(/^[^:]+:(?!latest$)[\w][\w.-]*$/)]);
      expect([name, s.image]).not.toEqual([name, expect.stringContaining('auto-setup')]);
    }
    for (const name of SETTLE_SERVICES) {
      expect([name, service(name).image, service(name).build]).toEqual([name, service('settle-worker-1').image, '.']);
    }
  });

  it('starts each service after what it needs, without a cycle', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = service(dependency);
        if (isJob(target)) {
          expect([name, dependency, condition]).toEqual([name, dependency, 'service_completed_successfully']);
        } else {
          expect([name, dependency, condition]).toEqual([name, dependency, 'service_healthy']);
          expect([dependency, target.healthcheck]).toEqual([dependency, expect.objectContaining({ test: expect.any(Array) })]);
        }
      }
      expect([name, needs(name).has(name)]).toEqual([name, false]);
    }
    expect([...needs('temporal')].sort()).toEqual(['temporal-postgres', 'temporal-schema']);
    expect(needs('temporal-setup')).toContain('temporal');
    expect(needs('temporal-ui')).toContain('temporal');
    for (const worker of SETTLE_WORKERS) expect([...needs(worker)]).toEqual(expect.arrayContaining(['settle-postgres', 'temporal-setup']));
    // An API starts after the workers, which migrate Settle's database.
    for (const api of SETTLE_APIS) expect([...needs(api)]).toEqual(expect.arrayContaining(['settle-postgres', 'temporal-setup', ...SETTLE_WORKERS]));
  });

  it('checks the health of every long-running service; only the Temporal jobs run once', () => {
    expect(Object.keys(services).filter((name) => isJob(service(name))).sort()).toEqual([...TEMPORAL_JOBS].sort());
    for (const [name, s] of Object.entries(services)) {
      if (isJob(s)) {
        expect([name, s.healthcheck, s.ports]).toEqual([name, undefined, undefined]);
        expect(existsSync(path.join(ROOT, jobScript(name)))).toBe(true);
      } else {
        expect([name, s.restart]).toEqual([name, 'unless-stopped']);
        expect([name, s.healthcheck?.disable]).toEqual([name, undefined]);
        expect([name, s.healthcheck?.test[0]]).toEqual([name, expect.stringMatching(/^CMD(-SHELL)?$/)]);
      }
    }
  });

  it('runs the npm scripts the tests run: `npm run worker` in the workers, `npm run api` in the APIs', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const accepted = (script: string) => [['npm', 'run', script], scripts[script]!.split(' ')];
    for (const name of SETTLE_WORKERS) expect(accepted('worker')).toContainEqual(service(name).command);
    for (const name of SETTLE_APIS) expect(accepted('api')).toContainEqual(service(name).command);
    // What the scripts run is what `npm run build` compiles.
    for (const script of [scripts.worker!, scripts.api!]) {
      const compiled = /^node dist\/(\S+)\.js$/.exec(script);
      expect(compiled).not.toBeNull();
      expect(existsSync(path.join(ROOT, `${compiled![1]}.ts`))).toBe(true);
    }
    // npm start and npm test install packages first (their pre- hooks): never in a container.
    for (const [name, s] of Object.entries(services)) {
      expect([name, [...(s.entrypoint ?? []), ...(s.command ?? [])].join(' ')]).not.toEqual([name, expect.stringMatching(/npm (start|test)\b/)]);
    }
  });

  it('gives the Settle services only variables Settle reads, and Settle starts with each one’s settings', () => {
    for (const name of SETTLE_SERVICES) {
      const env = environment(name);
      expect([name, Object.keys(env).filter((variable) => !SETTLE_VARIABLES.includes(variable))]).toEqual([name, []]);
      const config = loadConfig(env);
      expect(requireSharedServices(config, 'a worker')).toEqual({ databaseUrl: env.DATABASE_URL, temporalAddress: 'temporal:7233' });
      expect(config.temporal).toMatchObject({ namespace: 'default', taskQueue: 'settle' });
      expect(config.psp.kind).toBe('simulated');
    }
    // Workers and APIs of one deployment agree on everything they both read.
    for (const name of SETTLE_SERVICES) {
      for (const [variable, value] of Object.entries(environment('settle-worker-1'))) {
        if (variable in environment(name)) expect([name, variable, environment(name)[variable]]).toEqual([name, variable, value]);
      }
    }
  });

  it("points the Settle services at the compose file's own PostgreSQL and Temporal", () => {
    const url = new URL(environment('settle-worker-1').DATABASE_URL!);
    const postgres = environment(url.hostname);
    expect([url.username, url.password, url.pathname.slice(1), url.port || '5432']).toEqual([
      postgres.POSTGRES_USER,
      postgres.POSTGRES_PASSWORD,
      postgres.POSTGRES_DB,
      '5432',
    ]);
    const [host, port] = environment('settle-worker-1').TEMPORAL_ADDRESS!.split(':');
    expect(service(host!).image).toMatch(/^temporalio\/server:/);
    expect(port).toBe('7233');
    expect(environment('temporal-setup').TEMPORAL_ADDRESS).toBe(`${host}:${port}`);
    expect(environment('temporal-ui').TEMPORAL_ADDRESS).toBe(`${host}:${port}`);
  });

  it('publishes each API on a port of its own, and checks each at the port it listens on', () => {
    const hostPorts = Object.values(services).flatMap((s) => (s.ports ?? []).map((mapping) => portMapping(mapping).host));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    for (const name of SETTLE_APIS) {
      const port = Number(loadConfig(environment(name)).port);
      expect((service(name).ports ?? []).map((mapping) => portMapping(mapping).container)).toEqual([port]);
      expect(service(name).healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${port}/readyz`);
    }
  });

  it('sets up Temporal where and as its server reads it', () => {
    const schema = environment('temporal-schema');
    const server = environment('temporal');
    const database = environment('temporal-postgres');
    expect(service('temporal-postgres').image).toMatch(/^postgres:/);
    expect([schema.SQL_PLUGIN, schema.SQL_HOST, schema.SQL_PORT, schema.SQL_USER, schema.SQL_PASSWORD]).toEqual([
      server.DB,
      server.POSTGRES_SEEDS,
      server.DB_PORT,
      server.POSTGRES_USER,
      server.POSTGRES_PWD,
    ]);
    expect([server.DB, server.POSTGRES_SEEDS, server.POSTGRES_USER, server.POSTGRES_PWD]).toEqual([
      'postgres12',
      'temporal-postgres',
      database.POSTGRES_USER,
      database.POSTGRES_PASSWORD,
    ]);
    expect([schema.TEMPORAL_DB, schema.TEMPORAL_VISIBILITY_DB]).toEqual([server.DBNAME, server.VISIBILITY_DBNAME]);
    const script = read(jobScript('temporal-schema'));
    for (const schemaName of ['postgresql/v12/temporal', 'postgresql/v12/visibility']) expect(script).toContain(schemaName);
    expect(Number(server.NUM_HISTORY_SHARDS)).toBeGreaterThan(1);
    // The dynamic config the server is told to read is the file mounted there, and it parses.
    const mount = (service('temporal').volumes ?? []).map((volume) => volume.split(':')).find(([, target]) => target === server.DYNAMIC_CONFIG_FILE_PATH);
    expect(mount).toBeDefined();
    expect(YAML.parse(read(mount![0]!))).toEqual(expect.any(Object));
  });

  it('creates the namespace the Settle services use, keeping closed workflows longer than an idempotency key lives', () => {
    const setup = environment('temporal-setup');
    expect(setup.TEMPORAL_NAMESPACE).toBe(environment('settle-worker-1').TEMPORAL_NAMESPACE);
    expect(environment('temporal-ui').TEMPORAL_DEFAULT_NAMESPACE).toBe(setup.TEMPORAL_NAMESPACE);
    for (const api of SETTLE_APIS) expect(retentionHours()).toBeGreaterThan(loadConfig(environment(api)).idempotencyKeyTtlHours);
  });

  it("keeps each PostgreSQL's data in a named volume, where its image keeps it", () => {
    for (const name of ['settle-postgres', 'temporal-postgres']) {
      const major = Number(/^postgres:(\d+)/.exec(service(name).image!)![1]);
      // The image keeps its data under /var/lib/postgresql from PostgreSQL 18, under .../data before.
      const dataPath = major >= 18 ? '/var/lib/postgresql' : '/var/lib/postgresql/data';
      const [volume] = (service(name).volumes ?? []).map((v) => v.split(':')).filter(([, target]) => target === dataPath);
      expect([name, volume]).toEqual([name, expect.any(Array)]);
      expect(Object.keys(compose.volumes ?? {})).toContain(volume![0]);
    }
  });
});

// ---- the Dockerfile ----

interface Stage {
  image: string;
  name?: string;
  instructions: { keyword: string; args: string }[];
}

function dockerfileStages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword!.toUpperCase() === 'FROM') {
      const words = rest.filter((word) => !word.startsWith('--'));
      const image = words[0]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => globalArgs.get((a ?? b)!) ?? '');
      stages.push({ image, name: words[1]?.toUpperCase() === 'AS' ? words[2] : undefined, instructions: [] });
    } else if (stages.length === 0) {
      const arg = /^ARG\s+(\w+)=(\S+)$/i.exec(line);
      if (arg) globalArgs.set(arg[1]!, arg[2]!);
    } else {
      stages[stages.length - 1]!.instructions.push({ keyword: keyword!.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = dockerfileStages(read('Dockerfile'));
const finalStage = stages[stages.length - 1]!;
const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
/** COPY --from=<stage> <source> <target> of a stage, as [from, source, target]. */
const copiesFrom = (stage: Stage) =>
  stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
      const [source, target] = words.filter((word) => !word.startsWith('--'));
      return { from, source: source!, target: target! };
    });
const stageNamed = (name: string) => stages.find((stage) => stage.name === name);

describe('Dockerfile', () => {
  it('builds in stages on a glibc Node image, never Alpine', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) {
      expect(stage.image).toMatch(/^node:\d+/);
      expect(stage.image).not.toMatch(/alpine/i);
    }
  });

  it('installs with the lock file and builds with npm run build, which bundles the workflows at image build time', () => {
    const build = stages.find((stage) => runs(stage).some((command) => command.includes('npm run build')));
    expect(build).toBeDefined();
    expect(runs(build!).some((command) => /\bnpm (ci|install)\b/.test(command))).toBe(true);
    expect((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build).toContain('node dist/workers/bundle.js');
    // The final image takes its dist/ from that build.
    expect(copiesFrom(finalStage)).toContainEqual({ from: build!.name, source: '/app/dist', target: './dist' });
  });

  it('ships production packages only, installed without running install scripts', () => {
    for (const command of stages.flatMap(runs).filter((c) => /\bnpm (ci|install)\b/.test(c))) expect(command).toContain('--ignore-scripts');
    expect(runs(finalStage).filter((command) => /\bnpm\b/.test(command))).toEqual([]);
    const modules = copiesFrom(finalStage).find((copy) => copy.target === './node_modules');
    expect(modules?.from).toBeDefined();
    const installs = runs(stageNamed(modules!.from!)!).filter((command) => /\bnpm (ci|install)\b/.test(command));
    expect(installs).toEqual([expect.stringContaining('--omit=dev')]);
  });

  it('runs as a user other than root, in the folder the compose commands are relative to', () => {
    const users = finalStage.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    const workdirs = finalStage.instructions.filter((i) => i.keyword === 'WORKDIR').map((i) => i.args);
    expect(workdirs[workdirs.length - 1]).toBe('/app');
    expect(finalStage.instructions.filter((i) => ['CMD', 'ENTRYPOINT'].includes(i.keyword)).map((i) => i.args).join(' ')).not.toMatch(/npm (start|test)/);
  });

  it('holds every file the Settle services run or check their health with', () => {
    const shipped = copiesFrom(finalStage);
    for (const name of SETTLE_SERVICES) {
      const s = service(name);
      const files = [...(s.command ?? []), ...(s.healthcheck?.test ?? [])].filter((arg) => /^[\w-]+\/[\w./-]+\.js$/.test(arg));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        if (file.startsWith('dist/')) continue; // the build's output, checked above
        expect(existsSync(path.join(ROOT, file))).toBe(true);
        expect(shipped).toContainEqual({ from: undefined, source: file, target: `./${file}` });
      }
    }
  });
});

describe('.dockerignore', () => {
  it('keeps local packages, builds, data, tools and secrets out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.data', '.tools', '.env']));
  });
});

// ---- the compose jobs and the worker health check, run here against the test run's Temporal server ----

const temporalAddress = () => {
  const address = process.env.SETTLE_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('SETTLE_TEST_TEMPORAL_ADDRESS is not set: run the tests with `npm test`');
  return address;
};

async function exitCode(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, env, timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the namespace and search-attribute job', () => {
  let binDir: string;
  let connection: Connection;

  beforeAll(async () => {
    const cli = process.env.SETTLE_TEST_TEMPORAL_CLI;
    if (!cli) throw new Error('the test setup found no temporal CLI binary');
    // The job calls `temporal`, as in the admin-tools image.
    binDir = await mkdtemp(path.join(os.tmpdir(), 'settle-deploy-'));
    await symlink(cli, path.join(binDir, 'temporal'));
    connection = await Connection.connect({ address: temporalAddress() });
  });

  afterAll(async () => {
    await connection?.close();
    if (binDir) await rm(binDir, { recursive: true, force: true });
  });

  it("creates the namespace with Settle's search attributes on a server that has neither, and a second run changes nothing", async () => {
    const namespace = `settle-compose-${randomUUID().slice(0, 8)}`;
    const env = {
      ...environment('temporal-setup'),
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_NAMESPACE: namespace,
      PATH: `${binDir}${path.delimiter}${process.env.PATH}`,
      HOME: binDir,
    };
    for (const attempt of ['first', 'second']) {
      const result = await exitCode('sh', [jobScript('temporal-setup')], env);
      expect([attempt, result.code, result.output]).toEqual([attempt, 0, expect.any(String)]);
    }
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    expect(customAttributes).toEqual(
      Object.fromEntries(SEARCH_ATTRIBUTES.map((attribute) => [attribute.name, encodeSearchAttributeIndexedValueType(attribute.type)])),
    );
    const { config } = await connection.workflowService.describeNamespace({ namespace });
    expect(Number(config?.workflowExecutionRetentionTtl?.seconds)).toBe(retentionHours() * 3600);
  });
});

describe('the worker health check', () => {
  let settle: TestSettle | undefined;

  afterAll(async () => {
    await settle?.stop();
  });

  const check = (taskQueue: string) =>
    exitCode(process.execPath, ['deploy/compose/worker-healthcheck.js'], {
      PATH: process.env.PATH,
      HOME: os.tmpdir(),
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: taskQueue,
    });

  it('fails while no worker on this host polls the task queue, and passes once a Settle worker does', async () => {
    const idle = await check(`nobody-${randomUUID()}`);
    expect(idle).toEqual({ code: 1, output: expect.stringContaining('polls task queue') });

    settle = await startSettle();
    const deadline = Date.now() + 30_000;
    let result = await check(settle.taskQueue);
    while (result.code !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      result = await check(settle.taskQueue);
    }
    expect(result).toEqual({ code: 0, output: '' });
  });
});
