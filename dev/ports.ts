import { createServer } from 'node:net';

/** Ports a developer's own Settle (`npm start`) may be using: never taken by `npm run cluster` or the fault suite. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([3000, 7233, 8233, 54329]);

/** A TCP port free on this machine right now, other than those given. */
export function freePort(avoid: ReadonlySet<number> = new Set()): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => (avoid.has(port) ? freePort(avoid).then(resolve, reject) : resolve(port)));
    });
    server.on('error', reject);
  });
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
