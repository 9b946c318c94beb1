import type { Server } from 'node:http';
import type { Express } from 'express';
import { ConfigError } from '../config';

/**
 * Starts the HTTP server and answers it once it listens. A port that cannot be had stops start-up with a
 * message naming it and the variable that changes it: Express hands the listen error to the callback, so a
 * server that never listened would otherwise look started.
 */
export function listen(app: Express, port: number, host?: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const started: Server = host
      ? app.listen(port, host, (error?: Error) => (error ? reject(refusal(error, port)) : resolve(started)))
      : app.listen(port, (error?: Error) => (error ? reject(refusal(error, port)) : resolve(started)));
  });
}

function refusal(error: Error & { code?: string }, port: number): Error {
  if (error.code === 'EADDRINUSE') return new ConfigError(`Settle cannot start: port ${port} is taken by another program; set PORT to another port`);
  if (error.code === 'EACCES') return new ConfigError(`Settle cannot start: port ${port} needs privileges this process lacks; set PORT to a port above 1023`);
  return error;
}
