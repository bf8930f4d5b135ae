import { randomBytes } from 'node:crypto';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { type CoalescingState, directSocketOf, flushHeld, framePayload, textFrame, writeCoalesced } from './ws-frame.js';

/** API Gateway's connection id format: 16 characters of base64url ending in `=`. */
export function newConnectionId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

interface RoomCursor {
  /** While true (a join is replaying history), sequenced frames wait in `held`. */
  holding: boolean;
  /** Highest seq delivered live; lower or equal ones are duplicates of a replay. */
  lastSeq: number;
  /** Frames (built by `textFrame`) held while `holding`, with their seq; made when the first is held. */
  held: { frame: Buffer; seq: number }[] | undefined;
}

/** What `Connection.deliver` did with a frame. */
export const DELIVERY = { dropped: 0, held: 1, written: 2 } as const;
export type Delivery = (typeof DELIVERY)[keyof typeof DELIVERY];

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
export class Connection implements CoalescingState {
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
  /** The TCP socket frames are written to directly; undefined when ws must frame them (deflate). */
  private readonly direct: Socket | undefined;
  /** The event-loop turn this connection last wrote in, and the frame it holds (see writeCoalesced). */
  coalescingTurn = -1;
  heldFrame: Buffer | undefined = undefined;
  /** The node's ExpiryQueue keeps its place here (no entry object per connection). */
  expiryKey = 0;
  expiryIndex = -1;

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
  ) {
    this.direct = directSocketOf(socket);
  }

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
    const frame = textFrame(data);
    if (!this.writeFrame(frame)) return false;
    this.events.framesOut(1, framePayload(frame).length);
    return true;
  }

  /**
   * Writes a frame built by `textFrame`, shared with other members (never modified), unless the
   * connection is closed or a slow consumer (then closed with 4001). Counts nothing: callers count per
   * broadcast.
   */
  private writeFrame(frame: Buffer): boolean {
    if (!this.isOpen) return false;
    if (this.unsentBytes() + frame.length > this.maxBufferedBytes) {
      this.events.slowConsumer(this);
      this.close(CLOSE_CODES.slowConsumer, 'slow consumer');
      return false;
    }
    if (this.direct === undefined) this.socket.send(framePayload(frame), { binary: false });
    else writeCoalesced(this.direct, this, frame);
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
      if (this.unsentBytes() + data.length > this.maxBufferedBytes / 2) await written;
      if (!this.isOpen) return false;
      this.flushHeld();
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
    return this.unsentBytes() + length <= this.maxBufferedBytes;
  }

  /** Bytes written but not yet taken by the socket, the frame held for the end of the turn included. */
  private unsentBytes(): number {
    return this.socket.bufferedAmount + (this.heldFrame?.length ?? 0);
  }

  /** Writes the held frame now, so that a frame ws writes itself comes after it. */
  private flushHeld(): void {
    if (this.direct !== undefined) flushHeld(this.direct, this);
  }

  subscribe(room: string, holding: boolean): void {
    const cursor = this.rooms.get(room);
    if (cursor === undefined) this.rooms.set(room, { holding, lastSeq: 0, held: undefined });
    else if (holding) cursor.holding = true;
  }

  release(room: string, seq: number): void {
    const cursor = this.rooms.get(room);
    if (cursor === undefined) return;
    cursor.holding = false;
    cursor.lastSeq = Math.max(cursor.lastSeq, seq);
    const held = cursor.held ?? [];
    cursor.held = undefined;
    let written = 0;
    let bytes = 0;
    for (const { frame, seq: heldSeq } of held) {
      if (this.deliver(room, frame, heldSeq) === DELIVERY.written) {
        written += 1;
        bytes += framePayload(frame).length;
      }
    }
    if (written > 0) this.events.framesOut(written, bytes);
  }

  unsubscribe(room: string): void {
    this.rooms.delete(room);
  }

  /** The rooms this connection was subscribed to here (and not unsubscribed from while it was open). */
  subscribedRooms(): string[] {
    return [...this.rooms.keys()];
  }


  /**
   * A room broadcast's frame (built once by `textFrame` for every member): sequenced frames go through
   * the room's cursor (hold, dedup), others straight out. Counts nothing: the caller counts the broadcast.
   */
  deliver(room: string, frame: Buffer, seq: number | undefined): Delivery {
    if (seq === undefined) return this.writeFrame(frame) ? DELIVERY.written : DELIVERY.dropped;
    const cursor = this.rooms.get(room);
    if (cursor === undefined) return DELIVERY.dropped;
    if (cursor.holding) {
      (cursor.held ??= []).push({ frame, seq });
      return DELIVERY.held;
    }
    if (seq <= cursor.lastSeq) return DELIVERY.dropped;
    cursor.lastSeq = seq;
    return this.writeFrame(frame) ? DELIVERY.written : DELIVERY.dropped;
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.closeCode = code;
    this.flushHeld();
    this.socket.close(code, reason);
    // A peer that stopped reading never completes the close handshake.
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }
}
