import { randomUUID } from 'node:crypto';
import {
  StoreUnavailableError,
  parseRoomPublicationBytes,
  roomChannel,
  type BroadcastOptions,
  type ConnectionRegistry,
  type FanOut,
  type Logger,
  type RoomLog,
} from '@classwire/core';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Redis } from 'ioredis';
import type { ConnectionInfo } from './connection.js';
import type { LocalFanOut } from './local-fanout.js';

/** What this node has delivered of one room, to find pub/sub losses. */
interface RoomTracker {
  epoch: string;
  lastSeq: number;
  /** While a backfill runs, live publications wait here, in arrival order. */
  pending: { epoch: string; seq: number; frame: Buffer }[] | undefined;
}

export interface ClusterFanOutEvents {
  backfilled(messages: number): void;
  historyLost(room: string): void;
}

const EPHEMERAL_MARK = '~';
const EPHEMERAL_MARK_BYTE = 0x7e;
const NEWLINE = 0x0a;
const REMOTE_REPLY_TIMEOUT_MS = 2000;
const BACKFILL_RETRY_MS = 500;

/**
 * FanOut across gateway nodes through Redis pub/sub. Each node subscribes to the channels of the rooms
 * its own connections are in and delivers to them through its LocalFanOut, one serialized frame per
 * message.
 *
 * Sequenced messages are published by the room log's append script, atomically with the append, so every
 * node sees a room's messages in seq order and `broadcast` has nothing to send for them. Pub/sub is
 * at-most-once: a node that sees a seq gap, or whose subscriber reconnected, backfills from the room log
 * before delivering more. Ephemeral and presence frames are published here and are best effort.
 */
export class ClusterFanOut implements FanOut {
  private readonly trackers = new Map<string, RoomTracker>();
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly replies = new Map<string, (payload: string) => void>();
  private readonly nodeChannel: string;
  private readonly roomChannelPrefixLength: number;

  constructor(
    private readonly local: LocalFanOut,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly roomLog: RoomLog,
    private readonly registry: ConnectionRegistry,
    private readonly nodeId: string,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly events: ClusterFanOutEvents,
    private readonly describeLocal: (connectionId: string) => ConnectionInfo | undefined,
  ) {
    this.nodeChannel = `${prefix}:nodech:${nodeId}`;
    this.roomChannelPrefixLength = roomChannel(prefix, '').length;
    // Buffers: a room's frame goes from the pub/sub payload to the sockets without being decoded.
    subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.onMessage(channel.toString(), payload));
  }

  /** Subscribes to this node's own channel (directed frames, management calls). */
  async start(): Promise<void> {
    await this.subscriber.subscribe(this.nodeChannel);
  }

  /** Drops every room position (Redis lost its data; local members are being closed). */
  forgetRooms(): void {
    this.trackers.clear();
  }

  /** After the subscriber reconnected, anything published meanwhile was lost: backfill every room. */
  resync(): void {
    for (const room of this.trackers.keys()) void this.backfill(room);
  }

  async send(connectionId: string, frame: string): Promise<boolean> {
    if (this.local.connections.has(connectionId)) return this.local.send(connectionId, frame);
    const node = await this.nodeOf(connectionId);
    if (node === undefined) return false;
    await this.publish(`${this.prefix}:nodech:${node}`, `s\n${connectionId}\n${frame}`);
    return true;
  }

  async sendMany(connectionId: string, frames: readonly string[]): Promise<boolean> {
    if (this.local.connections.has(connectionId)) return this.local.sendMany(connectionId, frames);
    for (const frame of frames) if (!(await this.send(connectionId, frame))) return false;
    return true;
  }

  async broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void> {
    // Sequenced frames were published by the append itself, in order (see the class comment).
    if (options?.seq !== undefined) return;
    try {
      await this.publish(roomChannel(this.prefix, room), `${EPHEMERAL_MARK}${options?.except ?? ''}\n${frame}`);
    } catch (error) {
      // Ephemeral and presence frames are best effort; this node's own members still get them.
      this.logger.warn({ err: error, room }, 'ephemeral publish failed');
      await this.local.broadcast(room, frame, options);
    }
  }

  async subscribe(connectionId: string, room: string, held: boolean): Promise<void> {
    await this.local.subscribe(connectionId, room, held);
    if (this.trackers.has(room)) return;
    let pending = this.subscribing.get(room);
    if (pending === undefined) {
      pending = this.startTracking(room).finally(() => this.subscribing.delete(room));
      this.subscribing.set(room, pending);
    }
    await pending;
  }

  release(connectionId: string, room: string, seq: number): Promise<void> {
    return this.local.release(connectionId, room, seq);
  }

  async unsubscribe(connectionId: string, room: string): Promise<void> {
    await this.local.unsubscribe(connectionId, room);
    if (!this.local.hasMembers(room) && this.trackers.delete(room)) {
      await this.subscriber.unsubscribe(roomChannel(this.prefix, room)).catch((error: unknown) => {
        this.logger.warn({ err: error, room }, 'unsubscribe failed');
      });
    }
  }

  async close(connectionId: string, code: number, reason: string): Promise<void> {
    if (this.local.connections.has(connectionId)) return this.local.close(connectionId, code, reason);
    const node = await this.nodeOf(connectionId);
    if (node !== undefined) await this.publish(`${this.prefix}:nodech:${node}`, `c\n${connectionId}\n${code}\n${reason}`);
  }

  /** GET @connections for a connection on any node; undefined when no node holds it. */
  async describe(connectionId: string): Promise<ConnectionInfo | undefined> {
    const local = this.describeLocal(connectionId);
    if (local !== undefined) return local;
    const node = await this.nodeOf(connectionId);
    if (node === undefined) return undefined;
    const replyId = randomUUID();
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(replyId);
        reject(new StoreUnavailableError(`node ${node} did not answer`));
      }, REMOTE_REPLY_TIMEOUT_MS);
      this.replies.set(replyId, (payload) => {
        clearTimeout(timer);
        resolve(payload);
      });
    });
    await this.publish(`${this.prefix}:nodech:${node}`, `g\n${connectionId}\n${replyId}\n${this.nodeId}`);
    const payload = await answer;
    return payload === '' ? undefined : (JSON.parse(payload) as ConnectionInfo);
  }

  private async startTracking(room: string): Promise<void> {
    // Subscribe before reading the position, so nothing appended in between is missed.
    try {
      await this.subscriber.subscribe(roomChannel(this.prefix, room));
    } catch (error) {
      throw new StoreUnavailableError('Redis subscribe failed', { cause: error });
    }
    const position = await this.roomLog.read(room);
    if (!this.trackers.has(room)) this.trackers.set(room, { epoch: position.epoch, lastSeq: position.seq, pending: undefined });
  }

  private onMessage(channel: string, payload: Buffer): void {
    try {
      if (channel === this.nodeChannel) {
        this.onNodeMessage(payload.toString());
        return;
      }
      const room = channel.slice(this.roomChannelPrefixLength);
      if (payload[0] === EPHEMERAL_MARK_BYTE) {
        const newline = payload.indexOf(NEWLINE);
        const except = payload.toString('utf8', 1, newline);
        this.local.broadcastBytes(room, payload.subarray(newline + 1), except === '' ? undefined : { except });
        return;
      }
      const publication = parseRoomPublicationBytes(payload);
      this.onPublication(room, publication.epoch, publication.seq, publication.frame);
    } catch (error) {
      this.logger.error({ err: error, channel }, 'bad pub/sub message');
    }
  }

  private onPublication(room: string, epoch: string, seq: number, frame: Buffer): void {
    const tracker = this.trackers.get(room);
    if (tracker === undefined) return;
    if (tracker.pending !== undefined) {
      tracker.pending.push({ epoch, seq, frame });
      return;
    }
    if (epoch !== tracker.epoch) {
      this.historyLost(room, tracker, epoch, seq - 1);
    }
    if (seq <= tracker.lastSeq) return;
    if (seq > tracker.lastSeq + 1) {
      tracker.pending = [{ epoch, seq, frame }];
      void this.backfill(room);
      return;
    }
    tracker.lastSeq = seq;
    this.local.broadcastBytes(room, frame, { seq });
  }

  /** Reads what this node missed from the room log and delivers it, then what arrived meanwhile. */
  private async backfill(room: string): Promise<void> {
    const tracker = this.trackers.get(room);
    if (tracker === undefined) return;
    tracker.pending ??= [];
    try {
      const missed = await this.roomLog.read(room, tracker.lastSeq, tracker.epoch);
      if (missed.recovered) {
        for (const message of missed.messages) {
          this.local.broadcastBytes(room, Buffer.from(message.frame), { seq: message.seq });
          tracker.lastSeq = message.seq;
        }
        this.events.backfilled(missed.messages.length);
      } else {
        this.historyLost(room, tracker, missed.epoch, missed.seq);
      }
    } catch (error) {
      // Redis is unreachable: keep holding what arrives, and try again shortly.
      this.logger.warn({ err: error, room }, 'backfill failed; retrying');
      setTimeout(() => void this.backfill(room), BACKFILL_RETRY_MS).unref();
      return;
    }
    const waiting = tracker.pending;
    tracker.pending = undefined;
    for (const p of waiting) this.onPublication(room, p.epoch, p.seq, p.frame);
  }

  /**
   * The room's stored history is gone (Redis lost its data, or the gap is older than the history). The
   * local members cannot be brought up to date on this socket: close them with a "reconnect" code, and
   * their resume reports `recovered: false`.
   */
  private historyLost(room: string, tracker: RoomTracker, epoch: string, seq: number): void {
    this.events.historyLost(room);
    this.logger.warn({ room }, 'room history lost; members must resume');
    tracker.epoch = epoch;
    tracker.lastSeq = seq;
    for (const connection of this.local.membersOf(room)) connection.close(CLOSE_CODES.serverError, 'room history lost; resume');
  }

  private onNodeMessage(payload: string): void {
    const [kind, connectionId = '', third = '', ...rest] = payload.split('\n');
    switch (kind) {
      case 's':
        void this.local.send(connectionId, payload.slice(kind.length + connectionId.length + 2));
        return;
      case 'c':
        void this.local.close(connectionId, Number(third), rest.join('\n'));
        return;
      case 'g': {
        const info = this.describeLocal(connectionId);
        void this.publish(`${this.prefix}:nodech:${rest[0] ?? ''}`, `r\n${third}\n${info === undefined ? '' : JSON.stringify(info)}`);
        return;
      }
      case 'r':
        this.replies.get(connectionId)?.(payload.slice(kind.length + connectionId.length + 2));
        this.replies.delete(connectionId);
        return;
    }
  }

  private async nodeOf(connectionId: string): Promise<string | undefined> {
    return (await this.registry.get(connectionId))?.node;
  }

  private async publish(channel: string, payload: string): Promise<void> {
    try {
      await this.redis.publish(channel, payload);
    } catch (error) {
      throw new StoreUnavailableError('Redis publish failed', { cause: error });
    }
  }
}
