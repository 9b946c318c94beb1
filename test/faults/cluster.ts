import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import readline from 'node:readline';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../dev/postgres';

/**
 * The pieces of a Settle deployment that the fault suite starts, kills and restarts: separate API and worker
 * processes, PostgreSQL and a Temporal server, each on its own port, all under one run folder.
 */

export interface ProcessExit {
  name: string;
  at: Date;
  code: number | null;
  signal: string | null;
  /** The last lines it wrote, to say why it went. */
  lastLines: string[];
}

/**
 * A Node.js process (Settle's API or a worker, the Temporal server's host), kept running as a process
 * supervisor would: one that exits on its own is recorded and started again a second later. Its output goes
 * to a log file; each line is also handed to `onLine`.
 */
export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private killing = false;
  private stopped = false;
  private readonly recent: string[] = [];
  private readonly waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  private readonly log: WriteStream;
  readonly unexpectedExits: ProcessExit[] = [];
  /** Every process id it has had, the first start's first. */
  readonly pids: number[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; args?: string[]; onLine?: (line: string) => void },
  ) {
    this.log = createWriteStream(options.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopped = false;
    this.starts += 1;
    const child = spawn(process.execPath, [this.script, ...(this.options.args ?? [])], { cwd: this.options.cwd, env: this.options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (child.pid !== undefined) this.pids.push(child.pid);
    this.log.write(`--- ${new Date().toISOString()} ${this.name}: started, pid ${child.pid}\n`);
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    }
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.log.write(`--- ${new Date().toISOString()} ${this.name}: exited, code ${code}, signal ${signal}\n`);
        if (!this.killing && !this.stopped && this.child === child) {
          this.unexpectedExits.push({ name: this.name, at: new Date(), code, signal, lastLines: this.recent.slice(-8) });
          setTimeout(() => {
            if (!this.stopped && this.child === child) this.start();
          }, 1_000).unref();
        }
        resolve();
      });
    });
  }

  /** Resolves when the process writes a line matching the pattern (from now on), or fails after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not write ${pattern} within ${timeoutMs} ms (see ${this.options.logFile})`)), timeoutMs);
      this.waiters.push({
        pattern,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** kill -9: no shutdown hook runs, nothing in flight finishes. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.killing = true;
    this.log.write(`--- ${new Date().toISOString()} ${this.name}: kill -9 ${child.pid}\n`);
    child.kill('SIGKILL');
    await this.exited;
    this.killing = false;
  }

  /** SIGTERM, as a deployment stops a process; SIGKILL if it has not gone within the grace period. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise((resolve) => this.log.end(resolve));
  }

  private onLine(line: string): void {
    this.log.write(`${line}\n`);
    this.recent.push(line);
    if (this.recent.length > 50) this.recent.shift();
    this.options.onLine?.(line);
    for (const waiter of [...this.waiters]) {
      if (!waiter.pattern.test(line)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}

/** The embedded PostgreSQL, restartable on the same data folder and port. */
export class RestartablePostgres {
  private database: EmbeddedDatabase | undefined;
  private readonly log: WriteStream;

  constructor(
    private readonly dataDir: string,
    readonly port: number,
    logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  get url(): string {
    if (!this.database) throw new Error('PostgreSQL is not running');
    return this.database.url;
  }

  async start(): Promise<void> {
    this.database = await startEmbeddedPostgres({
      dataDir: this.dataDir,
      port: this.port,
      database: 'settle',
      onLog: (line) => this.log.write(line.endsWith('\n') ? line : `${line}\n`),
    });
  }

  /**
   * An immediate shutdown (pg_ctl stop -m immediate: every session cut, no checkpoint, so the start that
   * follows at once recovers from the write-ahead log, as after a crash). Answers the downtime in ms.
   */
  async restart(): Promise<number> {
    const started = Date.now();
    this.log.write(`--- ${new Date().toISOString()} immediate shutdown and restart\n`);
    const postmaster = Number(readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGQUIT');
    await this.stop();
    await this.start();
    return Date.now() - started;
  }

  async stop(): Promise<void> {
    const database = this.database;
    this.database = undefined;
    await database?.stop();
  }
}

/**
 * A Temporal server run by a host script in a process of its own (test/faults/temporalHost.ts: the Temporal
 * CLI's dev server on a SQLite file; test/faults/temporalClusterHost.ts: the real server on PostgreSQL),
 * killed with kill -9 and started again on the same state and port. `state` is the SQLite file or the real
 * server's folder: a path unique to this server, named on its command line.
 */
export class TemporalServer {
  readonly host: SupervisedProcess;

  constructor(
    hostScript: string,
    private readonly state: string,
    readonly port: number,
    options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; args?: string[] },
    /** What a restart finds again, for the report. */
    readonly keeps = 'database file and port',
  ) {
    this.host = new SupervisedProcess('temporal', hostScript, { ...options, args: options.args ?? [state, String(port)] });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const ready = this.host.waitForLine(/temporal ready/, 180_000);
    this.host.start();
    await ready;
  }

  /** kill -9 of the server itself (and of its host), then a start on the same state and port. Answers the downtime in ms. */
  async killAndRestart(): Promise<number> {
    const started = Date.now();
    const servers = processesNaming(this.state).filter((pid) => pid !== this.host.pid);
    for (const pid of servers) process.kill(pid, 'SIGKILL');
    await this.host.kill9();
    await this.start();
    return Date.now() - started;
  }

  stop(): Promise<void> {
    return this.host.stop(30_000);
  }
}

/** Every process but this one whose command line names the given text (a path unique to this run). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(text))) pids.push(pid);
    } catch {
      // gone already
    }
  }
  return pids;
}

/**
 * Kills, synchronously, every process whose command line names the run folder: the API and workers (run
 * from it), PostgreSQL (its data is there) and the Temporal server (its database file is there). Nothing
 * outside this run can name that folder, so nothing else is touched. For exits that cannot wait.
 */
export function killEverythingUnder(root: string): number[] {
  const pids = processesNaming(root);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return pids;
}
