import { createServer } from 'node:net';

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
