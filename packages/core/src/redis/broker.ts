import type { Redis } from 'ioredis';
import { CLOSE_CODES } from '@classwire/protocol';
import { silentLogger, type Logger } from '../logger.js';
import {
  StoreUnavailableError,
  type BroadcastOptions,
  type Broker,
  type PublishOptions,
  type PublishResult,
  type ReadResult,
  type RoomDelivery,
  type StateEffects,
  type StateQuery,
  type StateRead,
} from '../ports.js';
import type { RedisRoomLog } from './room-log.js';
import { decodeRoomPublication, encodeUnsequencedPublication, messageTimestamp } from './wire.js';

/** What this node has delivered of one room, to find pub/sub losses. */
interface RoomTracker {
  epoch: string;
  lastSeq: number;
  /** While a backfill runs, live publications wait here, in arrival order. */
  pending: { epoch: string; seq: number; frame: Buffer; except: string | undefined }[] | undefined;
  /** A backfill is reading the log: another request only asks it to read once more (`readAgain`). */
  backfilling: boolean;
  readAgain: boolean;
}

export interface RedisBrokerEvents {
  backfilled(messages: number): void;
  historyLost(room: string): void;
  /** A room message arrived over pub/sub `lagMs` after its append (the appending node's clock). */
  received?(lagMs: number): void;
}

export interface RedisBrokerOptions {
  /** The room log; it must publish its appends (`pubsub`, the default). */
  log: RedisRoomLog;
  /** For the PUBLISH of unsequenced frames. */
  redis: Redis;
  /** A connection of its own in subscriber mode; room channels are subscribed on it. */
  subscriber: Redis;
  /** This node's members. */
  delivery: RoomDelivery;
  logger?: Logger;
  events?: RedisBrokerEvents;
}

const BACKFILL_RETRY_MS = 500;

/**
 * The broker of a gateway node in a Redis cluster. `publish` runs the room log's append script, which
 * stores the message and PUBLISHes it on the room's channel atomically, so every node sees a room's
 * messages in seq order. Each node subscribes to the channels of the rooms its connections are in and
 * hands what arrives to its `RoomDelivery`, one serialized frame per message.
 *
 * Pub/sub is at-most-once: a node that sees a seq gap, or whose subscriber reconnected (`resync`),
 * backfills from the room log before delivering more. Unsequenced frames are published here, best effort.
 */
export class RedisBroker implements Broker {
  private readonly log: RedisRoomLog;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly delivery: RoomDelivery;
  private readonly logger: Logger;
  private readonly events: RedisBrokerEvents | undefined;
  private readonly trackers = new Map<string, RoomTracker>();
  private readonly subscribing = new Map<string, Promise<void>>();
  /** What every room channel's name starts with (`roomChannel('')`), built once rather than per message. */
  private readonly roomChannelPrefix: string;

  constructor(options: RedisBrokerOptions) {
    this.log = options.log;
    this.redis = options.redis;
    this.subscriber = options.subscriber;
    this.delivery = options.delivery;
    this.logger = options.logger ?? silentLogger;
    this.events = options.events;
    this.roomChannelPrefix = this.log.keys.roomChannel('');
    // Buffers: a room's frame goes from the pub/sub payload to the sockets without being decoded.
    this.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.onMessage(channel.toString(), payload));
  }

  /** Stored and published by one script (append.lua); delivered when the publication comes back. */
  publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    return this.log.append(room, body, options);
  }

  async broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void> {
    try {
      await this.redis.publish(this.log.keys.roomChannel(room), encodeUnsequencedPublication(frame, options?.except));
    } catch (error) {
      // Best effort; this node's own members still get the frame.
      this.logger.warn({ err: error, room }, 'unsequenced publish failed');
      this.delivery.deliver(room, frame, options);
    }
  }

  async subscribe(room: string): Promise<void> {
    if (this.trackers.has(room)) return;
    let pending = this.subscribing.get(room);
    if (pending === undefined) {
      pending = this.startTracking(room).finally(() => this.subscribing.delete(room));
      this.subscribing.set(room, pending);
    }
    await pending;
  }

  async unsubscribe(room: string): Promise<void> {
    if (this.delivery.hasMembers(room) || !this.trackers.delete(room)) return;
    await this.subscriber.unsubscribe(this.log.keys.roomChannel(room)).catch((error: unknown) => {
      this.logger.warn({ err: error, room }, 'unsubscribe failed');
    });
  }

  read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    return this.log.read(room, since, epoch);
  }

  readState(room: string, query: StateQuery): Promise<StateRead> {
    return this.log.readState(room, query);
  }

  updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    return this.log.updateState(room, effects);
  }

  /** Drops every room position (Redis lost its data; local members are being closed). */
  forgetRooms(): void {
    this.trackers.clear();
  }

  /** After the subscriber reconnected, anything published meanwhile was lost: backfill every room. */
  resync(): void {
    const rooms = [...this.trackers.keys()];
    if (rooms.length === 0) return;
    // Live publications wait from now on, so none is delivered ahead of what the backfill finds.
    for (const room of rooms) this.trackers.get(room)!.pending ??= [];
    // ioredis sends its own SUBSCRIBEs before 'ready', but Redis may not have run them yet when a read on
    // another connection runs: a message appended in between would reach neither. This SUBSCRIBE, queued
    // behind them on the same connection, is answered once they are in effect; read the log only then.
    const channels = rooms.map((room) => this.log.keys.roomChannel(room));
    void this.subscriber
      .subscribe(...channels)
      .catch((error: unknown) => this.logger.warn({ err: error, rooms: rooms.length }, 'resubscribe failed; backfilling anyway'))
      .finally(() => {
        for (const room of rooms) this.backfill(room);
      });
  }

  private async startTracking(room: string): Promise<void> {
    // Subscribe before reading the position, so nothing appended in between is missed.
    try {
      await this.subscriber.subscribe(this.log.keys.roomChannel(room));
    } catch (error) {
      throw new StoreUnavailableError('Redis subscribe failed', { cause: error });
    }
    const position = await this.log.read(room);
    if (!this.trackers.has(room)) {
      this.trackers.set(room, { epoch: position.epoch, lastSeq: position.seq, pending: undefined, backfilling: false, readAgain: false });
    }
  }

  private onMessage(channel: string, payload: Buffer): void {
    if (!channel.startsWith(this.roomChannelPrefix)) return;
    const room = channel.slice(this.roomChannelPrefix.length);
    try {
      const publication = decodeRoomPublication(payload);
      if (publication.kind === 'unsequenced') {
        this.delivery.deliver(room, publication.frame, { except: publication.except });
        return;
      }
      const appendedAt = this.events?.received === undefined ? undefined : messageTimestamp(publication.frame);
      if (appendedAt !== undefined) this.events?.received?.(Date.now() - appendedAt);
      this.onPublication(room, publication.epoch, publication.seq, publication.frame, publication.except);
    } catch (error) {
      this.logger.error({ err: error, channel }, 'bad pub/sub message');
    }
  }

  private onPublication(room: string, epoch: string, seq: number, frame: Buffer, except: string | undefined): void {
    const tracker = this.trackers.get(room);
    if (tracker === undefined) return;
    if (tracker.pending !== undefined) {
      tracker.pending.push({ epoch, seq, frame, except });
      return;
    }
    if (epoch !== tracker.epoch) {
      this.historyLost(room, tracker, epoch, seq - 1);
    }
    if (seq <= tracker.lastSeq) return;
    if (seq > tracker.lastSeq + 1) {
      tracker.pending = [{ epoch, seq, frame, except }];
      this.backfill(room);
      return;
    }
    tracker.lastSeq = seq;
    this.delivery.deliver(room, frame, { seq, except });
  }

  /**
   * Reads what this node missed from the room log and delivers it, then what arrived meanwhile. One read
   * at a time per room: two overlapping reads (a resync during a gap's backfill, a retry) would each
   * deliver what they found, the later one again and with an older position, and then replay a buffer
   * the first had already replayed.
   */
  private backfill(room: string): void {
    const tracker = this.trackers.get(room);
    if (tracker === undefined) return;
    tracker.pending ??= [];
    if (tracker.backfilling) {
      tracker.readAgain = true;
      return;
    }
    tracker.backfilling = true;
    void this.catchUp(room, tracker);
  }

  private async catchUp(room: string, tracker: RoomTracker): Promise<void> {
    try {
      do {
        tracker.readAgain = false;
        const missed = await this.log.read(room, tracker.lastSeq, tracker.epoch);
        // Forgotten (Redis lost its data; its members were closed) or tracked anew meanwhile: this read
        // says nothing about what the room's current members have.
        if (this.trackers.get(room) !== tracker) return;
        if (missed.recovered) {
          for (const message of missed.messages) {
            this.delivery.deliver(room, message.frame, { seq: message.seq });
            tracker.lastSeq = message.seq;
          }
          this.events?.backfilled(missed.messages.length);
        } else {
          this.historyLost(room, tracker, missed.epoch, missed.seq);
        }
      } while (tracker.readAgain);
    } catch (error) {
      tracker.backfilling = false;
      if (this.trackers.get(room) !== tracker) return;
      // Redis is unreachable: keep holding what arrives, and try again shortly.
      this.logger.warn({ err: error, room }, 'backfill failed; retrying');
      setTimeout(() => this.backfill(room), BACKFILL_RETRY_MS).unref();
      return;
    }
    tracker.backfilling = false;
    const waiting = tracker.pending ?? [];
    tracker.pending = undefined;
    // A gap found here starts a new backfill, which holds the rest of `waiting` as it is replayed.
    for (const p of waiting) this.onPublication(room, p.epoch, p.seq, p.frame, p.except);
  }

  /**
   * The room's stored history is gone (Redis lost its data, or the gap is older than the history). The
   * local members cannot be brought up to date on this socket: close them with a "reconnect" code, and
   * their resume reports `recovered: false`.
   */
  private historyLost(room: string, tracker: RoomTracker, epoch: string, seq: number): void {
    this.events?.historyLost(room);
    this.logger.warn({ room }, 'room history lost; members must resume');
    tracker.epoch = epoch;
    tracker.lastSeq = seq;
    this.delivery.closeMembers(room, CLOSE_CODES.serverError, 'room history lost; resume');
  }
}
