import { hash } from 'node:crypto';
import { setImmediate } from 'node:timers';
import type { Redis } from 'ioredis';
import { composeMessageFrame } from '@classwire/protocol';
import { newEpoch } from '../memory/room-log.js';
import {
  emptyFields,
  StoreUnavailableError,
  type PublishOptions,
  type PublishResult,
  type ReadResult,
  type StateEffects,
  type StateQuery,
  type StateRead,
  type StoredMessage,
} from '../ports.js';
import { redisKeys, type RedisKeys } from './keys.js';
import { asString, asStrings, guarded, storeError, withScripts, type ScriptCommands } from './scripts.js';
import { DEFAULTS } from '../config/defaults.js';
import { encodeEffects } from './wire.js';

export interface RedisRoomLogOptions {
  /** Messages kept per room. @default 500 */
  maxMessages?: number;
  /** Age after which a message is dropped, ms (by `now`, the appending node's clock). @default 600_000 */
  maxAgeMs?: number;
  /**
   * How long a room's seq and epoch outlive its last activity, ms, so a client resuming into a quiet room
   * is told `recovered:false` rather than offered a new stream under old numbers. @default 86_400_000
   */
  metaTtlMs?: number;
  /** How long a publish id is remembered for dedup, ms. @default maxAgeMs */
  dedupTtlMs?: number;
  /** Key and channel prefix (`redisKeys`). @default 'cw' */
  prefix?: string;
  /**
   * Whether an append publishes the new message on the room's channel, inside the script. False on AWS,
   * where no node subscribes and the broker posts to the members itself. @default true
   */
  pubsub?: boolean;
  now?: () => number;
  /**
   * Replicas that must acknowledge an append (Redis `WAIT`) before it is reported stored; fewer within
   * `waitTimeoutMs` throws StoreUnavailableError. WAIT blocks the connection it runs on, so give the log
   * a connection of its own when this is set. @default 0
   */
  waitReplicas?: number;
  /** @default 1000 */
  waitTimeoutMs?: number;
  /**
   * Most appends sent to Redis in one script call. The appends made in one event-loop turn (any rooms) go
   * in one call of append-batch.lua, which pays the call's fixed cost once; 1 sends each append on its
   * own, at once. @default 64
   */
  maxBatch?: number;
  /** Most bytes (bodies, effects and keys, in UTF-16 units) in one batched call. @default 262_144 */
  maxBatchBytes?: number;
}

/** An append waiting for its turn's script call. */
interface QueuedAppend {
  keys: string[];
  /** append.lua's ARGV after the log's four limits: room_json, body, ts, epoch candidate, channel, effects, deduplicate, body hash, except. */
  values: string[];
  bytes: number;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
}

const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;

/**
 * One append's reply, from append.lua or an element of append-batch.lua's: its result, or its error
 * (`['!', message]`, a reply error as Redis reports it, so storeError maps it as it maps a script's).
 */
function appendResult(reply: unknown): PublishResult {
  const values = asStrings(reply);
  if (values[0] === '!') {
    const error = new Error(values[1] ?? 'append failed');
    error.name = 'ReplyError';
    throw error;
  }
  const [seq, ts, epoch, duplicate, conflict, stale] = values;
  const result: PublishResult = {
    seq: Number(seq),
    ts: Number(ts),
    epoch: epoch!,
    duplicate: duplicate === '1',
    conflict: conflict === '1',
  };
  if (stale !== '0') result.staleGuard = Number(stale) - 1;
  return result;
}

/** Most entries a single resume replays; a longer gap is reported `recovered:false`. */
export const MAX_REPLAY = 10_000;

/**
 * Room log in Redis, the storage half of the Redis brokers: per room a stream (entry ID `${seq}-0`,
 * fields `t` and `b`) and a meta hash (`seq`, `epoch`), both under the room's hash tag so they share a
 * cluster slot; appends and reads are Lua scripts. With `pubsub`, the append script also publishes each
 * new message on the room's channel, so every subscribed node sees a room's messages in seq order.
 */
export class RedisRoomLog {
  readonly keys: RedisKeys;
  private readonly redis: Redis & ScriptCommands;
  private readonly maxMessages: number;
  private readonly maxAgeMs: number;
  private readonly metaTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly pubsub: boolean;
  private readonly now: () => number;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  /** append.lua's first four values, the same for every append of this log. */
  private readonly limits: string[];
  private queue: QueuedAppend[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;

  constructor(redis: Redis, options: RedisRoomLogOptions = {}) {
    this.redis = withScripts(redis);
    this.maxMessages = options.maxMessages ?? DEFAULTS.historySize;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULTS.historyTtlMs;
    this.metaTtlMs = options.metaTtlMs ?? DEFAULTS.historyMetaTtlMs;
    this.dedupTtlMs = options.dedupTtlMs ?? this.maxAgeMs;
    this.keys = redisKeys(options.prefix ?? DEFAULTS.redisPrefix);
    this.pubsub = options.pubsub ?? true;
    this.now = options.now ?? Date.now;
    this.waitReplicas = options.waitReplicas ?? DEFAULTS.redisWaitReplicas;
    this.waitTimeoutMs = options.waitTimeoutMs ?? DEFAULTS.redisWaitTimeoutMs;
    this.maxBatch = options.maxBatch ?? DEFAULTS.redisAppendBatch;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!Number.isSafeInteger(this.maxMessages) || this.maxMessages < 1) throw new Error('maxMessages must be at least 1');
    for (const [name, value] of [
      ['maxAgeMs', this.maxAgeMs],
      ['metaTtlMs', this.metaTtlMs],
      ['dedupTtlMs', this.dedupTtlMs],
      ['maxBatch', this.maxBatch],
      ['maxBatchBytes', this.maxBatchBytes],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
    }
    this.limits = [
      String(this.maxMessages),
      String(this.maxAgeMs),
      // The stream must outlive its youngest message, and the meta at least as long as the stream.
      String(Math.max(this.metaTtlMs, this.maxAgeMs)),
      String(this.dedupTtlMs),
    ];
  }

  /**
   * Sequences and stores a message (and publishes it, with `pubsub`); see `Broker.publish`. Appends made in
   * the same event-loop turn reach Redis in one script call (`maxBatch`), each with its own answer.
   */
  // async: anything thrown while preparing (e.g. by encodeEffects) rejects, as before batching.
  async append(room: string, body: string, options: PublishOptions = {}): Promise<PublishResult> {
    const { dedupKey, effects } = options;
    const keys = [this.keys.roomMeta(room), this.keys.roomStream(room), this.keys.roomDedup(room, dedupKey ?? '')];
    const encodedEffects = effects === undefined ? '' : encodeEffects(effects, keys, (name) => this.keys.roomState(room, name));
    const roomJson = JSON.stringify(room);
    const values = [
      roomJson,
      body,
      String(this.now()),
      newEpoch(),
      this.pubsub ? this.keys.roomChannel(room) : '',
      encodedEffects,
      dedupKey === undefined ? '0' : '1',
      // Hashed here rather than in the script: Redis's one thread serves every node.
      dedupKey === undefined ? '' : hash('sha1', body, 'hex'),
      // Only a publication names it: the other nodes' members receive the message either way.
      this.pubsub ? (options.except ?? '') : '',
    ];
    let bytes = body.length + encodedEffects.length + roomJson.length * 2;
    for (const key of keys) bytes += key.length;
    return new Promise<PublishResult>((resolve, reject) => {
      const queued: QueuedAppend = { keys, values, bytes, resolve, reject };
      if (this.maxBatch === 1) {
        void this.send([queued]);
        return;
      }
      // A batch never grows past its bounds: what is queued leaves first, in order.
      if (this.queue.length > 0 && this.queuedBytes + bytes > this.maxBatchBytes) this.flush();
      this.queue.push(queued);
      this.queuedBytes += bytes;
      if (this.queue.length >= this.maxBatch) {
        this.flush();
      } else if (!this.flushScheduled) {
        // setImmediate, not a microtask: it runs after every socket read of this turn has been handled.
        this.flushScheduled = true;
        setImmediate(this.flushTurn);
      }
    });
  }

  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    void this.send(batch);
  }

  /**
   * One script call for `batch` (append.lua for one append, append-batch.lua for more; commands on one
   * connection run in the order sent, so rooms keep their append order across calls), then each append's
   * answer: a failed call fails every append of it, a failed append only itself. The appends that must be
   * acknowledged by replicas share one WAIT.
   */
  private async send(batch: QueuedAppend[]): Promise<void> {
    let replies: unknown[];
    try {
      if (batch.length === 1) {
        const { keys, values } = batch[0]!;
        replies = [await this.redis.classwireRoomAppend(keys.length, ...keys, ...this.limits, ...values)];
      } else {
        const keys: string[] = [];
        const args: string[] = [...this.limits, String(batch.length)];
        for (const queued of batch) {
          keys.push(...queued.keys);
          args.push(String(queued.keys.length), ...queued.values);
        }
        const reply = await this.redis.classwireRoomAppendBatch(keys.length, ...keys, ...args);
        if (!Array.isArray(reply) || reply.length !== batch.length) throw new TypeError('unexpected append-batch reply');
        replies = reply;
      }
    } catch (error) {
      const mapped = storeError(error, 'append');
      for (const queued of batch) queued.reject(mapped);
      return;
    }
    let replicated: Promise<void> | undefined;
    batch.forEach((queued, i) => {
      let result: PublishResult;
      try {
        result = appendResult(replies[i]);
      } catch (error) {
        queued.reject(storeError(error, 'append'));
        return;
      }
      if (this.waitReplicas > 0 && result.staleGuard === undefined && !result.conflict) {
        replicated ??= this.waitForReplicas();
        replicated.then(() => queued.resolve(result), queued.reject);
      } else {
        queued.resolve(result);
      }
    });
  }

  async updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    const keys = [this.keys.roomMeta(room), this.keys.roomStream(room)];
    const encoded = encodeEffects(effects, keys, (name) => this.keys.roomState(room, name));
    const reply = await guarded('state update', () =>
      this.redis.classwireStateUpdate(keys.length, ...keys, newEpoch(), encoded, Math.max(this.metaTtlMs, this.maxAgeMs)),
    );
    const stale = Number(asString(reply));
    if (stale > 0) return stale - 1;
    if (this.waitReplicas > 0) await this.waitForReplicas();
    return undefined;
  }

  async readState(room: string, query: StateQuery): Promise<StateRead> {
    const names = Object.keys(query);
    const keys = [this.keys.roomMeta(room), this.keys.roomStream(room), ...names.map((name) => this.keys.roomState(room, name))];
    const what = names.map((name) => {
      const q = query[name]!;
      return q === 'all' ? '*' : q === 'count' ? '#' : JSON.stringify(q);
    });
    const reply = await guarded('state read', () =>
      this.redis.classwireStateRead(keys.length, ...keys, newEpoch(), this.metaTtlMs, this.maxAgeMs, ...what),
    );
    if (!Array.isArray(reply)) throw new Error('unexpected state-read reply');
    const result: StateRead = { epoch: asString(reply[0]), seq: Number(asString(reply[1])), collections: {}, counts: {} };
    names.forEach((name, i) => {
      const q = query[name]!;
      const part: unknown = reply[i + 2];
      if (q === 'count') {
        result.counts[name] = Number(part);
        return;
      }
      const values = Array.isArray(part) ? (part as unknown[]) : [];
      const fields = emptyFields();
      if (q === 'all') {
        for (let j = 0; j + 1 < values.length; j += 2) fields[asString(values[j])] = asString(values[j + 1]);
      } else {
        q.forEach((field, j) => {
          const value = values[j];
          if (value !== null && value !== undefined) fields[field] = asString(value);
        });
      }
      result.collections[name] = fields;
    });
    return result;
  }

  async read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    // Only a non-negative integer `since` can be served; anything else is treated as absent.
    const validSince = since !== undefined && Number.isSafeInteger(since) && since >= 0 ? since : undefined;
    const reply = await guarded('read', () =>
      this.redis.classwireRoomRead(
        2,
        this.keys.roomMeta(room),
        this.keys.roomStream(room),
        newEpoch(),
        this.now(),
        this.maxAgeMs,
        this.metaTtlMs,
        // A room that never had a message is forgotten sooner, as in the memory log.
        this.maxAgeMs,
        validSince === undefined ? '' : String(validSince),
        epoch ?? '',
        MAX_REPLAY,
      ),
    );
    const values = asStrings(reply);
    const current = values[0]!;
    const seq = Number(values[1]);
    const messages: StoredMessage[] = [];
    for (let i = 2; i + 2 < values.length; i += 3) {
      const messageSeq = Number(values[i]);
      messages.push({ seq: messageSeq, frame: composeMessageFrame(room, messageSeq, Number(values[i + 1]), values[i + 2]!) });
    }
    const result: ReadResult = { epoch: current, seq, recovered: false, messages: [] };
    if (validSince === undefined || validSince > seq || (epoch !== undefined && epoch !== current)) return result;
    // All of the gap or nothing: exactly seq - since messages, gapless from since + 1.
    if (messages.length !== seq - validSince) return result;
    for (let i = 0; i < messages.length; i++) if (messages[i]!.seq !== validSince + 1 + i) return result;
    result.recovered = true;
    result.messages = messages;
    return result;
  }

  /**
   * WAIT on the connection that ran the append. A shortfall is reported as unavailable: the message is
   * stored on the primary (and, with `pubsub`, published), and a retry with the same dedup key gets it as a
   * duplicate and waits again.
   */
  private async waitForReplicas(): Promise<void> {
    const acknowledged = await guarded('wait', () => this.redis.wait(this.waitReplicas, this.waitTimeoutMs));
    if (Number(asString(acknowledged)) < this.waitReplicas) {
      throw new StoreUnavailableError(
        `redis append acknowledged by ${String(acknowledged)} of ${this.waitReplicas} replicas within ${this.waitTimeoutMs} ms`,
      );
    }
  }
}

/**
 * Gives every room a new epoch, so clients resume with `recovered: false`: after a failover the new
 * primary may lack messages members already received, and would hand out their seqs again. Returns the
 * number of rooms.
 */
export async function renewEpochs(redis: Redis, keys: RedisKeys): Promise<number> {
  let cursor = '0';
  let rooms = 0;
  do {
    const [next, metas] = await redis.scan(cursor, 'MATCH', keys.roomMetaPattern(), 'COUNT', 500);
    cursor = next;
    for (const meta of metas) {
      await redis.hset(meta, 'epoch', newEpoch());
      rooms += 1;
    }
  } while (cursor !== '0');
  return rooms;
}
