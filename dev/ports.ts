import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports a developer's own Settle (`npm start`) may be using: never taken by `npm run cluster` or the fault suite. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([3000, 7233, 8233, 54329]);

/** The lowest port handed out; below it sit the well-known and registered services a machine may run. */
const LOWEST_PORT = 10_000;

/**
 * The first port of the kernel's ephemeral range: the ports it gives to `listen(0)` and to the local end of
 * every outgoing connection. Read once; Linux's default if the range cannot be read.
 */
let ephemeralLowRead: number | undefined;
function ephemeralLow(): number {
  if (ephemeralLowRead === undefined) {
    let low = NaN;
    try {
      low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    } catch {
      // not Linux, or /proc not mounted
    }
    ephemeralLowRead = Number.isInteger(low) && low > 0 ? low : 32_768;
  }
  return ephemeralLowRead;
}

/** Whether a server could listen on the port right now. */
export function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the kernel chose (listen(0)), other than those given. */
function kernelPort(avoid: ReadonlySet<number>): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => (avoid.has(port) ? kernelPort(avoid).then(resolve, reject) : resolve(port)));
    });
    server.on('error', reject);
  });
}

/** A port between `low` and `high` (inclusive) free right now, none of those given; undefined if none is found. */
export async function freePortBetween(low: number, high: number, avoid: ReadonlySet<number> = new Set()): Promise<number | undefined> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!avoid.has(port) && (await listenable(port))) return port;
  }
  return undefined;
}

/**
 * A TCP port free on this machine right now, other than those given, for a process started next to listen on.
 * It is drawn at random from below the kernel's ephemeral range: a port from that range may be given to
 * someone else's outgoing connection or `listen(0)` between this answer and the listen, which then fails
 * with "address already in use". Only where the range leaves no room below it is the kernel asked.
 */
export async function freePort(avoid: ReadonlySet<number> = new Set()): Promise<number> {
  const high = ephemeralLow() - 1;
  const drawn = high - LOWEST_PORT >= 1_000 ? await freePortBetween(LOWEST_PORT, high, avoid) : undefined;
  return drawn ?? kernelPort(avoid);
}

/** `count` distinct free ports, none of those given. */
export async function freePorts(count: number, avoid: ReadonlySet<number> = new Set()): Promise<number[]> {
  const taken = new Set(avoid);
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort(taken);
    taken.add(port);
    ports.push(port);
  }
  return ports;
}
