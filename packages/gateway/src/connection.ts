import { randomBytes } from 'node:crypto';
import { CLOSE_CODES } from '@classwire/protocol';
import type { WebSocket } from 'ws';

/** API Gateway's connection id format: 16 characters of base64url ending in `=`. */
export function newConnectionId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

interface RoomCursor {
  /** While true (a join is replaying history), sequenced frames wait in `held`. */
  holding: boolean;
  /** Highest seq delivered live; lower or equal ones are duplicates of a replay. */
  lastSeq: number;
  held: { data: Buffer; seq: number }[];
}

/** A connection as the management API describes it. */
export interface ConnectionInfo {
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
}

export interface ConnectionEvents {
  slowConsumer(connection: Connection): void;
  framesOut(count: number, bytes: number): void;
}

/** Grace period for a close handshake before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** One WebSocket held by this gateway node: write side, per-room delivery cursors and liveness. */
export class Connection {
  readonly connectedAt = Date.now();
  lastActiveAt = this.connectedAt;
  alive = true;
  /** When the unanswered heartbeat ping was sent (performance.now()), for the round-trip time. */
  pingSentAt: number | undefined;
  /** Set once the engine registered the connection; management calls before that answer 410. */
  registered = false;
  private closing = false;
  private closeCode: number | undefined;
  private readonly rooms = new Map<string, RoomCursor>();

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly userId: string,
    /** Token expiry, epoch ms; moved by an in-band refresh. */
    public expiresAt: number,
    readonly sourceIp: string,
    readonly userAgent: string,
    private readonly maxBufferedBytes: number,
    private readonly events: ConnectionEvents,
  ) {}

  /** The code this server closed the socket with, once it did. */
  get closedWith(): number | undefined {
    return this.closeCode;
  }

  get isOpen(): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN;
  }

  /**
   * Writes one text frame. A consumer whose unsent bytes would exceed the buffer limit is closed with
   * 4001 rather than silently skipped: it resumes from history when it reconnects.
   */
  send(data: Buffer | string): boolean {
    if (!this.isOpen) return false;
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (this.socket.bufferedAmount + length > this.maxBufferedBytes) {
      this.events.slowConsumer(this);
      this.close(CLOSE_CODES.slowConsumer, 'slow consumer');
      return false;
    }
    this.socket.send(data, { binary: false });
    this.events.framesOut(1, length);
    return true;
  }

  /**
   * Writes frames in order without ever counting as a slow consumer: whenever its unsent bytes pass half
   * the buffer limit it waits until the socket has taken what was written (the other half stays free for
   * live traffic). For large replies such as snapshots. False when the connection closed meanwhile.
   */
  async sendStream(frames: readonly string[]): Promise<boolean> {
    let written: Promise<void> = Promise.resolve();
    for (const frame of frames) {
      const data = Buffer.from(frame);
      if (this.socket.bufferedAmount + data.length > this.maxBufferedBytes / 2) await written;
      if (!this.isOpen) return false;
      // ws calls back once the frame left its buffers (or the socket failed): either way, stop waiting.
      written = new Promise((resolve) => this.socket.send(data, { binary: false }, () => resolve()));
      this.events.framesOut(1, data.length);
    }
    return this.isOpen;
  }

  /** What the management API's GET reports; undefined unless registered and open (API Gateway's 410). */
  info(): ConnectionInfo | undefined {
    if (!this.registered || !this.isOpen) return undefined;
    const { connectedAt, lastActiveAt, sourceIp, userAgent } = this;
    return { connectedAt, lastActiveAt, sourceIp, userAgent };
  }

  /** Whether a management-API post of `length` bytes fits the send buffer. */
  canBuffer(length: number): boolean {
    return this.socket.bufferedAmount + length <= this.maxBufferedBytes;
  }

  subscribe(room: string, holding: boolean): void {
    const cursor = this.rooms.get(room);
    if (cursor === undefined) this.rooms.set(room, { holding, lastSeq: 0, held: [] });
    else if (holding) cursor.holding = true;
  }

  release(room: string, seq: number): void {
    const cursor = this.rooms.get(room);
    if (cursor === undefined) return;
    cursor.holding = false;
    cursor.lastSeq = Math.max(cursor.lastSeq, seq);
    const held = cursor.held;
    cursor.held = [];
    for (const frame of held) this.deliver(room, frame.data, frame.seq);
  }

  unsubscribe(room: string): void {
    this.rooms.delete(room);
  }


  /** A room broadcast: sequenced frames go through the room's cursor (hold, dedup), others straight out. */
  deliver(room: string, data: Buffer, seq: number | undefined): boolean {
    if (seq === undefined) return this.send(data);
    const cursor = this.rooms.get(room);
    if (cursor === undefined) return false;
    if (cursor.holding) {
      cursor.held.push({ data, seq });
      return true;
    }
    if (seq <= cursor.lastSeq) return false;
    cursor.lastSeq = seq;
    return this.send(data);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.closeCode = code;
    this.socket.close(code, reason);
    // A peer that stopped reading never completes the close handshake.
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }
}
