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
  /** While a hold is armed, connections forward client-to-server bytes through a listener, not a pipe. */
  private readonly intercepted = new Map<Pair, { listener: (chunk: Buffer) => void; held: Buffer[] | undefined }>();
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
    this.intercepted.clear();
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
    if (this.options.raw !== true) throw new Error('holdUpstream needs raw mode');
    this.upstreamHold = match;
    for (const pair of this.pairs) this.interceptUpstream(pair);
  }

  /** Chunks held back by `holdUpstream`, over every connection. */
  get heldUpstreamChunks(): number {
    let count = 0;
    for (const { held } of this.intercepted.values()) count += held?.length ?? 0;
    return count;
  }

  /** Stops holding: sends what was held, and pipes again. */
  releaseUpstream(): void {
    this.upstreamHold = undefined;
    for (const [pair, { listener, held }] of this.intercepted) {
      pair.client.off('data', listener);
      for (const chunk of held ?? []) pair.upstream.write(chunk);
      pair.client.pipe(pair.upstream);
    }
    this.intercepted.clear();
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
      this.intercepted.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    if (this.options.raw === true) {
      upstream.pipe(client);
      if (this.upstreamHold !== undefined) this.interceptUpstream(pair);
      return;
    }
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

  private interceptUpstream(pair: Pair): void {
    if (this.intercepted.has(pair)) return;
    const state: { listener: (chunk: Buffer) => void; held: Buffer[] | undefined } = { listener: () => {}, held: undefined };
    state.listener = (chunk: Buffer) => {
      if (state.held !== undefined) state.held.push(chunk);
      else if (this.upstreamHold?.(chunk) === true) state.held = [chunk];
      else pair.upstream.write(chunk);
    };
    pair.client.unpipe(pair.upstream);
    pair.client.on('data', state.listener);
    pair.client.resume();
    this.intercepted.set(pair, state);
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
