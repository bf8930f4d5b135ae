import type { JoinedFrame, Member, MessageFrame, PresenceFrame, Sender, SnapshotFrame } from '@classwire/protocol/wire';
import { Emitter } from './emitter.js';
import type { ClasswireError } from './errors.js';

/** A room message as the app receives it. */
export interface RoomMessage<T = unknown> {
  room: string;
  /** Absent for ephemeral events. */
  seq?: number;
  event: string;
  data: T;
  from: Sender;
  ts: number;
  id?: string;
  ephemeral: boolean;
}

export interface JoinInfo {
  room: string;
  /** This connection's id (API Gateway format), as the server's management API knows it. */
  connectionId: string;
  seq: number;
  epoch: string;
  /** True when every message missed since the last delivered one was replayed. */
  recovered: boolean;
  presence: Member[];
}

/** The room's history could not be resumed: messages were missed. Reload state from your application. */
export interface ResetInfo {
  room: string;
  /** The room's seq now; messages after it will arrive in order. */
  seq: number;
  epoch: string;
}

/** Room state the server sent with a join (the classroom's snapshot: see docs/classroom.md). */
export interface RoomSnapshot<T = unknown> {
  room: string;
  /** The seq the state corresponds to: every message after it is delivered next. */
  seq: number;
  state: T;
}

export interface PresenceChange {
  action: 'join' | 'leave';
  member: Member;
  members: Member[];
}

export type RoomState = 'joining' | 'joined' | 'left' | 'failed';

export interface PublishOptions {
  /** Deliver without storing, sequencing or acknowledging (cursors, typing). */
  ephemeral?: boolean;
}

interface RoomEvents {
  [key: string]: unknown;
  joined: JoinInfo;
  reset: ResetInfo;
  snapshot: RoomSnapshot;
  presence: PresenceChange;
  error: ClasswireError;
}

/** What a Room needs from its client. */
export interface RoomHost {
  publish(room: Room, event: string, data: unknown, options: PublishOptions): Promise<number | undefined>;
  leave(room: Room): Promise<void>;
  resume(room: Room): void;
  reportError(error: unknown): void;
  readonly gapTimeoutMs: number;
}

/** Frames held beyond a gap before the room gives up waiting and resumes. */
const MAX_BUFFERED = 10_000;
/** Publish ids of the latest delivered messages remembered per room (the server's default history size is 500). */
const RECENT_IDS = 1000;

/**
 * One joined room: delivers messages to the app in seq order, exactly once, and detects gaps.
 * Create rooms with `client.join(roomId)`.
 */
export class Room {
  state: RoomState = 'joining';
  /** The last seq delivered to the app; undefined before the first join. */
  lastSeq: number | undefined;
  epoch: string | undefined;
  /** Resolves on the first `joined`; rejects when the server refuses the join. */
  readonly ready: Promise<JoinInfo>;
  private members = new Map<string, Member>();
  private readonly handlers = new Map<string, Set<(message: RoomMessage) => void>>();
  private readonly lifecycle: Emitter<RoomEvents>;
  private readonly buffered = new Map<number, MessageFrame>();
  /** Parts of the snapshot being received, and the complete one waiting for its `joined`. */
  private snapshotParts: string[] = [];
  private pendingSnapshot: RoomSnapshot | undefined;
  /** The highest seq the server is known to have reached. */
  private knownSeq = 0;
  /**
   * Sender and publish id of the latest delivered messages. Seq order alone cannot catch a message stored
   * twice: when a Redis primary dies after delivering a publish but before a replica had it, the
   * publisher's retry (same id) is stored again by the promoted replica, under the new epoch, after a reset.
   */
  private readonly recentIds = new Set<string>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  /** True from sending a join until its `joined` arrives. */
  resuming = false;
  private settleReady!: { resolve: (info: JoinInfo) => void; reject: (error: ClasswireError) => void };

  constructor(
    readonly id: string,
    private readonly host: RoomHost,
  ) {
    this.lifecycle = new Emitter((error) => host.reportError(error));
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = { resolve, reject };
    });
    // An app that never awaits `ready` must not see an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Members present now (one entry per user, however many connections it has). */
  get presence(): Member[] {
    return [...this.members.values()];
  }

  /**
   * Publishes an event to the room. Resolves with the message's seq once the server stored it. While
   * disconnected the publish waits in the offline queue and is sent (with the same id) after reconnecting.
   */
  publish<T>(event: string, data: T, options: PublishOptions = {}): Promise<number | undefined> {
    return this.host.publish(this, event, data, options);
  }

  /** Messages of one event, or of every event with `'*'`. Returns a function that removes the handler. */
  on<T = unknown>(event: string, handler: (message: RoomMessage<T>) => void): () => void {
    let set = this.handlers.get(event);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as (message: RoomMessage) => void);
    return () => set.delete(handler as (message: RoomMessage) => void);
  }

  /** Each successful (re)join. */
  onJoined(handler: (info: JoinInfo) => void): () => void {
    return this.lifecycle.on('joined', handler);
  }

  /** Missed messages could not be replayed: reload the room's state. */
  onReset(handler: (info: ResetInfo) => void): () => void {
    return this.lifecycle.on('reset', handler);
  }

  /**
   * The room's state, sent by the server with a join (first join, after a reset, and a lighter one on a
   * resume). Emitted before any message that follows it.
   */
  onSnapshot<T = unknown>(handler: (snapshot: RoomSnapshot<T>) => void): () => void {
    return this.lifecycle.on('snapshot', handler as (snapshot: RoomSnapshot) => void);
  }

  onPresence(handler: (change: PresenceChange) => void): () => void {
    return this.lifecycle.on('presence', handler);
  }

  /** The server refused this room (the join, or a publish whose promise nobody awaits). */
  onError(handler: (error: ClasswireError) => void): () => void {
    return this.lifecycle.on('error', handler);
  }

  leave(): Promise<void> {
    return this.host.leave(this);
  }

  /** @internal */
  handleMessage(frame: MessageFrame): void {
    const seq = frame.seq;
    if (seq === undefined) {
      this.deliver(frame);
      return;
    }
    if (this.lastSeq !== undefined && seq <= this.lastSeq) return;
    this.knownSeq = Math.max(this.knownSeq, seq);
    if (this.lastSeq === undefined || seq > this.lastSeq + 1) {
      // Before the first `joined` there is no baseline yet; afterwards this is a gap. Either way, hold it.
      this.buffered.set(seq, frame);
      if (this.lastSeq !== undefined) this.onGap();
      return;
    }
    this.lastSeq = seq;
    this.deliver(frame);
    this.drain();
  }

  /** @internal One part of a snapshot; parts arrive in order, before `joined`. */
  handleSnapshotPart(frame: SnapshotFrame): void {
    if (frame.part === 0) this.snapshotParts = [];
    if (frame.part !== this.snapshotParts.length) return;
    this.snapshotParts.push(frame.data);
    if (this.snapshotParts.length < frame.parts) return;
    const text = this.snapshotParts.join('');
    this.snapshotParts = [];
    this.pendingSnapshot = { room: this.id, seq: frame.seq, state: JSON.parse(text) as unknown };
  }

  /** @internal */
  handleJoined(frame: JoinedFrame): void {
    const first = this.lastSeq === undefined;
    this.resuming = false;
    this.clearGapTimer();
    const epochChanged = this.epoch !== undefined && this.epoch !== frame.epoch;
    this.epoch = frame.epoch;
    this.knownSeq = Math.max(this.knownSeq, frame.seq);
    if (!frame.recovered) {
      // Frames held from an older epoch belong to a stream that no longer exists.
      if (epochChanged) this.buffered.clear();
      this.lastSeq = frame.seq;
      this.knownSeq = frame.seq;
      for (const seq of this.buffered.keys()) if (seq <= frame.seq) this.buffered.delete(seq);
      for (const seq of this.buffered.keys()) this.knownSeq = Math.max(this.knownSeq, seq);
    }
    this.members = new Map(frame.presence.map((m) => [m.userId, m]));
    this.state = 'joined';
    // The app hears of the reset before any message that follows it, and sees the room's new position.
    if (!frame.recovered && !first) this.lifecycle.emit('reset', { room: this.id, seq: frame.seq, epoch: frame.epoch });
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = undefined;
    this.snapshotParts = [];
    if (snapshot !== undefined) this.lifecycle.emit('snapshot', snapshot);
    this.drain();
    const info: JoinInfo = {
      room: this.id,
      connectionId: frame.connectionId,
      seq: frame.seq,
      epoch: frame.epoch,
      recovered: frame.recovered,
      presence: this.presence,
    };
    this.lifecycle.emit('joined', info);
    this.settleReady.resolve(info);
    // A join whose seq is ahead of what arrived means something is still missing.
    if (this.hasGap()) this.onGap();
  }

  /** @internal */
  handlePresence(frame: PresenceFrame): void {
    if (frame.action === 'join') this.members.set(frame.member.userId, frame.member);
    else this.members.delete(frame.member.userId);
    this.lifecycle.emit('presence', { action: frame.action, member: frame.member, members: this.presence });
  }

  /** @internal The join was refused for good. */
  fail(error: ClasswireError): void {
    this.state = 'failed';
    this.clearGapTimer();
    this.settleReady.reject(error);
    this.lifecycle.emit('error', error);
  }

  /** @internal */
  reportError(error: ClasswireError): void {
    if (this.lifecycle.has('error')) this.lifecycle.emit('error', error);
    else this.host.reportError(error);
  }

  /** @internal The connection dropped: the next join resumes from `lastSeq`. */
  disconnected(): void {
    this.resuming = false;
    this.snapshotParts = [];
    this.pendingSnapshot = undefined;
    this.clearGapTimer();
  }

  /** @internal */
  closed(): void {
    this.state = this.state === 'failed' ? 'failed' : 'left';
    this.clearGapTimer();
    this.buffered.clear();
  }

  /** @internal */
  get bufferedCount(): number {
    return this.buffered.size;
  }

  private hasGap(): boolean {
    return this.lastSeq !== undefined && (this.buffered.size > 0 || this.knownSeq > this.lastSeq);
  }

  private drain(): void {
    if (this.lastSeq === undefined) return;
    for (let next = this.buffered.get(this.lastSeq + 1); next !== undefined; next = this.buffered.get(this.lastSeq + 1)) {
      this.buffered.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      this.deliver(next);
    }
    for (const seq of this.buffered.keys()) if (seq <= this.lastSeq) this.buffered.delete(seq);
    if (!this.hasGap()) this.clearGapTimer();
  }

  private onGap(): void {
    if (this.resuming || this.gapTimer !== undefined) return;
    if (this.buffered.size > MAX_BUFFERED) {
      this.host.resume(this);
      return;
    }
    // Messages may arrive slightly out of order (API Gateway posts concurrently): wait briefly first.
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      if (this.state === 'joined' && this.hasGap()) this.host.resume(this);
    }, this.host.gapTimeoutMs);
  }

  /** Remembers `key`; true when it was remembered already. */
  private alreadyDelivered(key: string): boolean {
    if (this.recentIds.has(key)) return true;
    this.recentIds.add(key);
    if (this.recentIds.size > RECENT_IDS) this.recentIds.delete(this.recentIds.values().next().value!);
    return false;
  }

  private clearGapTimer(): void {
    if (this.gapTimer !== undefined) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private deliver(frame: MessageFrame): void {
    if (frame.seq !== undefined && frame.id !== undefined && this.alreadyDelivered(`${frame.from.userId}\u0000${frame.id}`)) return;
    const message: RoomMessage = {
      room: frame.room,
      event: frame.event,
      data: frame.data,
      from: frame.from,
      ts: frame.ts,
      ephemeral: frame.ephemeral === true,
      ...(frame.seq === undefined ? {} : { seq: frame.seq }),
      ...(frame.id === undefined ? {} : { id: frame.id }),
    };
    for (const key of [frame.event, '*']) {
      const set = this.handlers.get(key);
      if (set === undefined) continue;
      for (const handler of [...set]) {
        try {
          handler(message);
        } catch (error) {
          this.host.reportError(error);
        }
      }
    }
  }
}
