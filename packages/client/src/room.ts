import type { ClassroomEventMap, ClassroomServerEventMap, HistoryFrame, HistoryRequestFrame, JoinedFrame, Member, MembersFrame, MembersRequestFrame, MessageFrame, PresenceFrame, Sender, SnapshotFrame } from '@classwire/protocol/wire';
import { Emitter } from './emitter.js';
import { seenBefore } from './recent.js';
import type { OperationOptions } from './deadline.js';
import type { ClasswireError } from './errors.js';

/** A page of `room.history()`: `messages` oldest first, `next` the `before` of the older page (null: none), `archive` whether the server keeps class records. */
export type HistoryPage = HistoryFrame;

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

/**
 * The event map of rooms whose events are not the classroom's (a server with `CLASSWIRE_CLASSROOM=0`):
 * any event name, any payload. Use it as `client.join<OpenEventMap>(room)` or `connect<OpenEventMap>(…)`.
 */
export type OpenEventMap = Record<string, unknown>;

/** What a room of `Events` receives: a classroom also gets the events only the server sends. */
export type ReceivedEventMap<Events> = Events extends ClassroomEventMap ? Events & ClassroomServerEventMap : Events;

/** A message of event `K` of the map `Events`. */
export type EventMessage<Events, K extends keyof Events & string> = RoomMessage<Events[K]> & { event: K };

/** A message of any event of the map `Events` (what a `'*'` handler receives), discriminated by `event`. */
export type AnyEventMessage<Events> = { [K in keyof Events & string]: EventMessage<Events, K> }[keyof Events & string];

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

export interface PublishOptions extends OperationOptions {
  /** Deliver without storing, sequencing or acknowledging (cursors, typing). */
  ephemeral?: boolean;
  /**
   * The publish's id (1–128 characters, unique per user and room), chosen by the SDK when absent. Pass
   * the same id to retry a publish that timed out or was aborted: it is stored at most once.
   */
  id?: string;
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
  publish(room: AnyRoom, event: string, data: unknown, options: PublishOptions): Promise<number | undefined>;
  leave(room: AnyRoom): Promise<void>;
  resume(room: AnyRoom): void;
  /** The room's position moved (a delivery, a join): keep it for a resume after a reload. */
  moved(room: AnyRoom): void;
  reportError(error: unknown): void;
  readonly gapTimeoutMs: number;
  /** Sends a request with a fresh id; resolves with its answer frame. */
  ask<T>(frame: Omit<HistoryRequestFrame, 'id'> | Omit<MembersRequestFrame, 'id'>, room: AnyRoom): Promise<T>;
}

/** A room whatever its event map: how the client's internals hold rooms. */
export type AnyRoom = Room<OpenEventMap>;

/** Frames held beyond a gap before the room gives up waiting and resumes. */
const MAX_BUFFERED = 10_000;
/** Publish ids of the latest delivered messages remembered per room (the server's default history size is 500). */
const RECENT_IDS = 1000;

/**
 * One joined room: delivers messages to the app in seq order, exactly once, and detects gaps.
 * Create rooms with `client.join(roomId)`. `Events` maps each event name to its payload type, so `on` and
 * `publish` refuse unknown events and wrong payloads at compile time; it is the classroom's map unless
 * the client or the join says otherwise (`OpenEventMap` for generic rooms).
 */
export class Room<Events = ClassroomEventMap> {
  state: RoomState = 'joining';
  /** The last seq delivered to the app; undefined before the first join. */
  lastSeq: number | undefined;
  epoch: string | undefined;
  /** Resolves on the first `joined`; rejects when the server refuses the join. */
  readonly ready: Promise<JoinInfo>;
  private members = new Map<string, Member>();
  /** The app's message handlers, by event name (`*`: every event). */
  private readonly messages: Emitter<Record<string, RoomMessage>>;
  private readonly lifecycle: Emitter<RoomEvents>;
  private readonly buffered = new Map<number, MessageFrame>();
  /** Parts of the snapshot being received, and the complete one waiting for its `joined`. */
  private snapshotParts: string[] = [];
  /** Parts of the member list of a `joined` that did not fit in one frame. */
  private memberParts: Member[][] = [];
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
  /** This room as the host holds it, whatever its event map. */
  private readonly held = this as unknown as AnyRoom;
  private settleReady!: { resolve: (info: JoinInfo) => void; reject: (error: ClasswireError) => void };

  constructor(
    readonly id: string,
    private readonly host: RoomHost,
  ) {
    this.lifecycle = new Emitter((error) => host.reportError(error));
    this.messages = new Emitter((error) => host.reportError(error));
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
  publish<K extends keyof Events & string>(event: K, data: Events[K], options: PublishOptions = {}): Promise<number | undefined> {
    return this.host.publish(this.held, event, data, options);
  }

  /**
   * A page of the room's messages older than `before` (a seq; the newest without it), at most `limit`
   * (≤ 100, 50 by default), oldest first: from the live log, and from the class records when the server
   * keeps them (`archive`). `next` is the `before` of the following older page, null at the start.
   */
  history(options: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.host.ask({ action: 'history', room: this.id, ...options }, this.held);
  }

  /** The room's member list as the server holds it now (the `presence` getter is this client's view). */
  async fetchMembers(): Promise<Member[]> {
    return (await this.host.ask<MembersFrame>({ action: 'members', room: this.id }, this.held)).members;
  }

  /** Messages of every event. Returns a function that removes the handler. */
  on(event: '*', handler: (message: AnyEventMessage<ReceivedEventMap<Events>>) => void): () => void;
  /** Messages of one event. Returns a function that removes the handler. */
  on<K extends keyof ReceivedEventMap<Events> & string>(event: K, handler: (message: EventMessage<ReceivedEventMap<Events>, K>) => void): () => void;
  on(event: string, handler: (message: never) => void): () => void {
    return this.messages.on(event, handler as (message: RoomMessage) => void);
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
    return this.host.leave(this.held);
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
    this.host.moved(this.held);
  }

  /** @internal One part of the member list of a large room; parts arrive in order, before `joined`. */
  handleMembersPart(frame: MembersFrame): void {
    if (frame.part === 0) this.memberParts = [];
    if (frame.part === this.memberParts.length) this.memberParts.push(frame.members);
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
      // Frames up to the new seq are dropped by `drain` below, before anything is delivered.
      for (const seq of this.buffered.keys()) this.knownSeq = Math.max(this.knownSeq, seq);
    }
    const parts = this.memberParts;
    this.memberParts = [];
    const presence = frame.presenceParts !== undefined && parts.length === frame.presenceParts ? parts.flat() : frame.presence;
    this.members = new Map(presence.map((m) => [m.userId, m]));
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
    this.host.moved(this.held);
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
      this.host.resume(this.held);
      return;
    }
    // Messages may arrive slightly out of order (API Gateway posts concurrently): wait briefly first.
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      if (this.state === 'joined' && this.hasGap()) this.host.resume(this.held);
    }, this.host.gapTimeoutMs);
  }

  private clearGapTimer(): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private deliver(frame: MessageFrame): void {
    if (frame.seq !== undefined && frame.id !== undefined && seenBefore(this.recentIds, `${frame.from.userId}\u0000${frame.id}`, RECENT_IDS)) return;
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
    this.messages.emit(frame.event, message);
    this.messages.emit('*', message);
  }
}
