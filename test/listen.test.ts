import { createServer, type Server } from 'node:net';
import express from 'express';
import { ConfigError } from '../config';
import { listen } from '../api/listen';

/** Holds a port, as another program would. */
function holdPort(): Promise<{ port: number; server: Server }> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, () => resolve({ port: (server.address() as { port: number }).port, server }));
  });
}

describe('starting the HTTP API', () => {
  it('stops with a message naming the port and PORT when the port is taken, instead of looking started', async () => {
    const taken = await holdPort();
    try {
      const failure = await listen(express(), taken.port).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConfigError);
      expect((failure as Error).message).toBe(`Settle cannot start: port ${taken.port} is taken by another program; set PORT to another port`);
    } finally {
      taken.server.close();
    }
  });

  it('answers the listening server when the port is free', async () => {
    const server = await listen(express(), 0, '127.0.0.1');
    expect(server.listening).toBe(true);
    await new Promise((resolve) => server.close(resolve));
  });
});
