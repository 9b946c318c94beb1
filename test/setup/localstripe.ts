import { spawn } from 'node:child_process';
import { installFromPyPI, type PinnedTool } from '../../dev/pythonTools';

/** The stand-in's behaviour differs between releases: the tests run against this one, installed as such. */
export const LOCALSTRIPE: PinnedTool = { package: 'localstripe', version: '1.15.10', command: 'localstripe' };

export interface StripeStandIn {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The Stripe API stand-in (PyPI localstripe), installed into the project's tools folder and started from scratch. */
export async function startLocalstripe(toolsDir: string, port: number, log?: (message: string) => void): Promise<StripeStandIn> {
  const command = await installFromPyPI(toolsDir, LOCALSTRIPE, log);
  const child = spawn(command, ['--port', String(port), '--from-scratch'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`localstripe exited at start: ${stderr}`);
    const up = await fetch(`${url}/v1/customers`, { headers: { Authorization: 'Bearer sk_test_settle' } }).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`localstripe did not answer on ${url}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
