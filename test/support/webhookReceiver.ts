import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a test receiver took, and how it answered. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  event: { id: string; type: string; checkoutId: string | null; [key: string]: unknown };
  /** How the receiver answered. */
  answer: 'ok' | 'fail' | 'hang';
}

export type Behaviour = (request: Received, seenBefore: number) => Received['answer'];

/** A webhook receiver on 127.0.0.1: records every request, answers as each path's behaviour says (2xx by default). */
export class Receiver {
  readonly received: Received[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        const request: Received = { path: req.url ?? '', headers: req.headers, raw, event: JSON.parse(raw), answer: 'ok' };
        const seenBefore = this.received.filter((earlier) => earlier.path === request.path && earlier.event.id === request.event.id).length;
        request.answer = this.behaviours.get(request.path)?.(request, seenBefore) ?? 'ok';
        this.received.push(request);
        if (request.answer === 'ok') res.writeHead(204).end();
        else if (request.answer === 'fail') res.writeHead(500).end('not now');
        // 'hang': no answer until the server closes
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  behave(path: string, behaviour: Behaviour): void {
    this.behaviours.set(path, behaviour);
  }

  /** The events a path answered 2xx to, first answer first, for one checkout. */
  delivered(path: string, checkoutId: string): Received[] {
    const seen = new Set<string>();
    return this.received.filter((request) => {
      if (request.path !== path || request.event.checkoutId !== checkoutId || request.answer !== 'ok' || seen.has(request.event.id)) return false;
      seen.add(request.event.id);
      return true;
    });
  }

  requests(path: string, checkoutId?: string): Received[] {
    return this.received.filter((request) => request.path === path && (checkoutId === undefined || request.event.checkoutId === checkoutId));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
