import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

interface DropRule {
  match: (text: string) => boolean;
  remaining: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP proxy for fault tests, between a client and a gateway on loopback. It can cut every connection
 * without a close frame (as a dropped Wi-Fi does), refuse new connections (the network is down), and
 * drop chosen server-to-client WebSocket text frames (a message lost in transit on a live connection).
 * In raw mode it can also hold client-to-server bytes back (a request the server has not received yet).
 */
export class FaultProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private readonly dropRules: DropRule[] = [];
  private refusing = false;
  private downstreamPaused = false;
  private upstreamHold: ((chunk: Buffer) => boolean) | undefined;
  /** Client-to-server chunks held back, per connection, in order. */
  private readonly heldUpstream = new Map<Pair, Buffer[]>();
  /** Frames dropped so far. */
  dropped: string[] = [];

  private nextTarget = 0;

  /** With several target ports, new connections go round-robin to the first one that accepts (a load balancer). */
  constructor(
    private readonly targetPort: number | number[],
    /** Raw mode forwards bytes untouched (for non-WebSocket traffic such as Redis). */
    private readonly options: { raw?: boolean } = {},
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.port;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get connectionCount(): number {
    return this.pairs.size;
  }

  /** Destroys every proxied connection at the TCP level: neither side gets a close frame. */
  cutAll(): void {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    this.heldUpstream.clear();
  }

  /** While on, new connections are reset at once. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** While on, nothing is read from the servers (a client that stopped reading: a slow consumer). */
  pauseDownstream(on: boolean): void {
    this.downstreamPaused = on;
    for (const pair of this.pairs) {
      if (on) pair.upstream.pause();
      else pair.upstream.resume();
    }
  }

  /** Drops the next `count` server-to-client text frames whose payload matches. */
  dropDownstream(match: (text: string) => boolean, count = 1): void {
    this.dropRules.push({ match, remaining: count });
  }

  /**
   * Raw mode: from the first client-to-server chunk that `match`es on a connection, that chunk and every
   * later one of the connection wait (in order) until `releaseUpstream`.
   */
  holdUpstream(match: (chunk: Buffer) => boolean): void {
    this.upstreamHold = match;
  }

  /** Chunks held back by `holdUpstream`, over every connection. */
  get heldUpstreamChunks(): number {
    let count = 0;
    for (const chunks of this.heldUpstream.values()) count += chunks.length;
    return count;
  }

  /** Stops holding, and sends what was held. */
  releaseUpstream(): void {
    this.upstreamHold = undefined;
    for (const [pair, chunks] of this.heldUpstream) for (const chunk of chunks) pair.upstream.write(chunk);
    this.heldUpstream.clear();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const targets = Array.isArray(this.targetPort) ? this.targetPort : [this.targetPort];
    const start = this.nextTarget++;
    const tryTarget = (attempt: number): void => {
      const port = targets[(start + attempt) % targets.length]!;
      const upstream = tcpConnect(port, '127.0.0.1');
      const refused = () => {
        if (attempt + 1 < targets.length && !client.destroyed) tryTarget(attempt + 1);
        else client.destroy();
      };
      upstream.once('error', refused);
      upstream.once('connect', () => {
        upstream.off('error', refused);
        this.bridge(client, upstream);
      });
    };
    client.pause();
    client.on('error', () => client.destroy());
    tryTarget(0);
  }

  private bridge(client: Socket, upstream: Socket): void {
    client.resume();
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      this.heldUpstream.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (this.options.raw === true) {
      client.on('data', (chunk: Buffer) => this.forwardUpstream(pair, chunk));
      upstream.pipe(client);
      return;
    }
    client.pipe(upstream);
    let handshakeDone = false;
    let pending: Buffer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!handshakeDone) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        client.write(pending.subarray(0, end + 4));
        pending = pending.subarray(end + 4);
        handshakeDone = true;
      }
      pending = this.forwardFrames(pending, client);
    });
    if (this.downstreamPaused) upstream.pause();
  }

  private forwardUpstream(pair: Pair, chunk: Buffer): void {
    const held = this.heldUpstream.get(pair);
    if (held !== undefined) {
      held.push(chunk);
      return;
    }
    if (this.upstreamHold?.(chunk) === true) {
      this.heldUpstream.set(pair, [chunk]);
      return;
    }
    if (!pair.upstream.write(chunk)) {
      pair.client.pause();
      pair.upstream.once('drain', () => pair.client.resume());
    }
  }

  /** Writes every complete server frame in `buffer` (unless a rule drops it); returns the incomplete rest. */
  private forwardFrames(buffer: Buffer, client: Socket): Buffer {
    let offset = 0;
    for (;;) {
      if (buffer.length - offset < 2) break;
      const opcode = buffer[offset]! & 0x0f;
      let length = buffer[offset + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buffer.length - offset < 4) break;
        length = buffer.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (buffer.length - offset < 10) break;
        length = Number(buffer.readBigUInt64BE(offset + 2));
        header = 10;
      }
      if (buffer.length - offset < header + length) break;
      const frame = buffer.subarray(offset, offset + header + length);
      offset += header + length;
      if (opcode === 1 && this.shouldDrop(frame.subarray(header).toString('utf8'))) continue;
      client.write(frame);
    }
    return buffer.subarray(offset);
  }

  private shouldDrop(text: string): boolean {
    const rule = this.dropRules.find((r) => r.remaining > 0 && r.match(text));
    if (rule === undefined) return false;
    rule.remaining -= 1;
    this.dropped.push(text);
    return true;
  }
}
