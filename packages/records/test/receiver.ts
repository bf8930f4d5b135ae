import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface Delivery {
  id: string;
  type: string;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

export type Behaviour = 'ok' | 'fail' | 'fail-first' | 'hang' | 'busy';

/**
 * A real webhook receiver: verifies every request with the `standardwebhooks` package (a request
 * that does not verify fails the test) and answers as told.
 */
export class Receiver {
  readonly secret = newSecret();
  readonly received: Delivery[] = [];
  readonly rejected: string[] = [];
  behaviour: Behaviour = 'ok';
  private server: Server | undefined;
  private port = 0;
  private readonly hanging: ServerResponse[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<void> {
    const verifier = new Webhook(this.secret);
    this.server = createServer((req, res) => void this.handle(verifier, req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Refuses connections from now on (the port stays reserved for `start`). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const res of this.hanging.splice(0)) res.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }

  ids(): Set<string> {
    return new Set(this.received.map((delivery) => delivery.id));
  }

  get waiting(): number {
    return this.hanging.length;
  }

  private async handle(verifier: Webhook, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
    let payload: Delivery['payload'];
    try {
      payload = verifier.verify(body, headers) as Delivery['payload'];
    } catch (error) {
      this.rejected.push(String(error));
      res.writeHead(400).end();
      return;
    }
    const id = headers['webhook-id']!;
    const seenBefore = this.received.some((delivery) => delivery.id === id);
    this.received.push({ id, type: payload.type, body, payload });
    if (this.behaviour === 'hang') {
      this.hanging.push(res);
      return;
    }
    if (this.behaviour === 'busy') {
      res.writeHead(429, { 'retry-after': '600' }).end();
      return;
    }
    const fail = this.behaviour === 'fail' || (this.behaviour === 'fail-first' && !seenBefore);
    res.writeHead(fail ? 500 : 204).end();
  }
}
