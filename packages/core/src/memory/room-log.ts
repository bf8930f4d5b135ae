import { hash } from 'node:crypto';
import { composeMessageFrame } from '@classwire/protocol';
import {
  emptyFields,
  STATE_FRAME,
  STATE_SEQ,
  stateSeqField,
  type PublishResult,
  type ReadResult,
  type StateEffects,
  type StateQuery,
  type StateRead,
  type StoredMessage,
} from '../ports.js';
import { DEFAULTS } from '../config/defaults.js';

export interface MemoryRoomLogOptions {
  /** Messages kept per room. @default 500 */
  maxMessages?: number;
  /** Age after which a message is dropped, ms. @default 600_000 */
  maxAgeMs?: number;
  /**
   * How long a room's seq and epoch outlive its last message, ms, so a client resuming into a quiet room
   * is told `recovered:false` rather than offered a new stream under old numbers. @default 86_400_000
   */
  metaTtlMs?: number;
  /** How long a publish id is remembered for dedup, ms. @default maxAgeMs */
  dedupTtlMs?: number;
  now?: () => number;
}

interface TimedMessage extends StoredMessage {
  ts: number;
}

interface RoomStream {
  epoch: string;
  seq: number;
  messages: TimedMessage[];
  /** Index of the oldest kept message in `messages` (trimmed lazily to avoid O(n) shifts). */
  head: number;
  lastActivity: number;
  state: Map<string, Map<string, string>>;
}

/** What a publish id remembers: never the body (a 32 KiB body kept for the history TTL), only its hash. */
interface DedupEntry {
  seq: number;
  ts: number;
  epoch: string;
  bodyHash: string;
  expiresAt: number;
}

/** The body's digest as append.lua computes it (`redis.sha1hex`), so both logs detect conflicts alike. */
export function dedupBodyHash(body: string): string {
  return hash('sha1', body, 'hex');
}

/** An append's result and, when a message was stored, its frame (for the broker to deliver). */
export interface MemoryAppend {
  result: PublishResult;
  /** Undefined for a duplicate, a conflict or a failed guard: nothing to deliver. */
  frame?: string;
}

export function newEpoch(): string {
  return globalThis.crypto.randomUUID().slice(0, 8);
}

/**
 * In-process room log, the storage half of `MemoryBroker`: one node, lost on restart (a restart changes
 * every epoch).
 */
export class MemoryRoomLog {
  private readonly rooms = new Map<string, RoomStream>();
  /** Insertion-ordered, and every entry has the same TTL, so expired entries are always at the front. */
  private readonly dedup = new Map<string, DedupEntry>();
  private readonly maxMessages: number;
  private readonly maxAgeMs: number;
  private readonly metaTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly now: () => number;

  constructor(options: MemoryRoomLogOptions = {}) {
    this.maxMessages = options.maxMessages ?? DEFAULTS.historySize;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULTS.historyTtlMs;
    this.metaTtlMs = options.metaTtlMs ?? DEFAULTS.historyMetaTtlMs;
    this.dedupTtlMs = options.dedupTtlMs ?? this.maxAgeMs;
    this.now = options.now ?? Date.now;
    if (this.maxMessages < 1) throw new Error('maxMessages must be at least 1');
  }

  /** Appends synchronously, so the broker delivers in the same turn and deliveries keep seq order. */
  append(room: string, body: string, dedupKey?: string, effects?: StateEffects): MemoryAppend {
    const now = this.now();
    if (dedupKey === undefined) return this.appendNew(room, body, now, effects);
    this.expireDedup(now);
    const key = `${room}\n${dedupKey}`;
    const seen = this.dedup.get(key);
    const bodyHash = dedupBodyHash(body);
    if (seen !== undefined) {
      return { result: { seq: seen.seq, ts: seen.ts, epoch: seen.epoch, duplicate: true, conflict: seen.bodyHash !== bodyHash } };
    }
    const appended = this.appendNew(room, body, now, effects);
    const { result } = appended;
    if (result.staleGuard === undefined) {
      this.dedup.set(key, { seq: result.seq, ts: result.ts, epoch: result.epoch, bodyHash, expiresAt: now + this.dedupTtlMs });
    }
    return appended;
  }

  updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    const now = this.now();
    const stream = this.stream(room, now);
    stream.lastActivity = now;
    const stale = failedGuard(stream.state, effects);
    if (stale === undefined) applyOps(stream.state, effects, '', '');
    return Promise.resolve(stale);
  }

  readState(room: string, query: StateQuery): Promise<StateRead> {
    const now = this.now();
    const stream = this.stream(room, now);
    stream.lastActivity = now;
    const result: StateRead = { epoch: stream.epoch, seq: stream.seq, collections: {}, counts: {} };
    for (const [name, what] of Object.entries(query)) {
      const collection = stream.state.get(name);
      if (what === 'count') {
        result.counts[name] = collection?.size ?? 0;
        continue;
      }
      const fields = emptyFields();
      if (collection !== undefined) {
        if (what === 'all') for (const [field, value] of collection) fields[field] = value;
        else
          for (const field of what) {
            const value = collection.get(field);
            if (value !== undefined) fields[field] = value;
          }
      }
      result.collections[name] = fields;
    }
    return Promise.resolve(result);
  }

  read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    const now = this.now();
    const stream = this.stream(room, now);
    stream.lastActivity = now;
    this.trim(stream, now);
    const result: ReadResult = { epoch: stream.epoch, seq: stream.seq, recovered: false, messages: [] };
    if (since === undefined || since > stream.seq || (epoch !== undefined && epoch !== stream.epoch)) {
      return Promise.resolve(result);
    }
    const oldest = stream.head < stream.messages.length ? stream.messages[stream.head]!.seq : stream.seq + 1;
    if (oldest > since + 1) return Promise.resolve(result);
    result.recovered = true;
    // Kept messages are gapless, so the first one after `since` is at a computable index.
    for (let i = stream.head + Math.max(0, since + 1 - oldest); i < stream.messages.length; i++) {
      const message = stream.messages[i]!;
      result.messages.push({ seq: message.seq, frame: message.frame });
    }
    return Promise.resolve(result);
  }

  /** Drops expired messages, dedup entries and forgotten rooms. Call periodically. */
  sweep(): void {
    const now = this.now();
    this.expireDedup(now);
    for (const [room, stream] of this.rooms) {
      this.trim(stream, now);
      const idle = now - stream.lastActivity;
      // A room that never had a message costs memory for nothing (a client may join many); forget it sooner.
      const ttl = stream.seq === 0 && stream.state.size === 0 ? this.maxAgeMs : this.metaTtlMs;
      if (stream.head === stream.messages.length && idle > ttl) this.rooms.delete(room);
    }
  }

  /** Number of rooms with a live stream (for metrics). */
  get roomCount(): number {
    return this.rooms.size;
  }

  private appendNew(room: string, body: string, now: number, effects?: StateEffects): MemoryAppend {
    const stream = this.stream(room, now);
    if (effects !== undefined) {
      const stale = failedGuard(stream.state, effects);
      if (stale !== undefined) return { result: { seq: 0, ts: now, epoch: stream.epoch, duplicate: false, conflict: false, staleGuard: stale } };
    }
    stream.seq += 1;
    stream.lastActivity = now;
    const frame = composeMessageFrame(room, stream.seq, now, body);
    stream.messages.push({ seq: stream.seq, ts: now, frame });
    if (stream.messages.length - stream.head > this.maxMessages) dropOldest(stream);
    this.compact(stream);
    if (effects !== undefined) applyOps(stream.state, effects, stateSeqField(stream.seq), frame);
    return { result: { seq: stream.seq, ts: now, epoch: stream.epoch, duplicate: false, conflict: false }, frame };
  }

  private stream(room: string, now: number): RoomStream {
    let stream = this.rooms.get(room);
    if (stream === undefined) {
      stream = { epoch: newEpoch(), seq: 0, messages: [], head: 0, lastActivity: now, state: new Map() };
      this.rooms.set(room, stream);
    }
    return stream;
  }

  private trim(stream: RoomStream, now: number): void {
    const cutoff = now - this.maxAgeMs;
    while (stream.head < stream.messages.length && stream.messages[stream.head]!.ts < cutoff) dropOldest(stream);
    this.compact(stream);
  }

  private compact(stream: RoomStream): void {
    if (stream.head > 64 && stream.head * 2 > stream.messages.length) {
      stream.messages = stream.messages.slice(stream.head);
      stream.head = 0;
    }
  }

  private expireDedup(now: number): void {
    for (const [key, entry] of this.dedup) {
      if (entry.expiresAt > now) break;
      this.dedup.delete(key);
    }
  }
}

/** What a dropped slot holds until the array is compacted: the dropped frame is released at once. */
const DROPPED: TimedMessage = { seq: 0, ts: 0, frame: '' };

/** Drops the oldest kept message, so the log retains at most its bound of frames, not up to twice that. */
function dropOldest(stream: RoomStream): void {
  stream.messages[stream.head] = DROPPED;
  stream.head += 1;
}

/** Index of the first guard that does not hold, or undefined. */
function failedGuard(state: Map<string, Map<string, string>>, effects: StateEffects): number | undefined {
  const guards = effects.guards ?? [];
  for (let i = 0; i < guards.length; i++) {
    const guard = guards[i]!;
    if ((state.get(guard.collection)?.get(guard.field) ?? null) !== guard.value) return i;
  }
  return undefined;
}

/** Applies ops as state-common.lua does; `seqField` and `frame` replace the placeholders. */
function applyOps(state: Map<string, Map<string, string>>, effects: StateEffects, seqField: string, frame: string): void {
  for (const op of effects.ops) {
    if (op.op === 'clear') {
      state.delete(op.collection);
      continue;
    }
    const field = op.field === STATE_SEQ ? seqField : op.field;
    let collection = state.get(op.collection);
    if (op.op === 'add') {
      if (collection === undefined) {
        collection = new Map();
        state.set(op.collection, collection);
      }
      collection.set(field, String(Number(collection.get(field) ?? '0') + op.by));
      continue;
    }
    if (op.op === 'delete') {
      collection?.delete(field);
      if (collection?.size === 0) state.delete(op.collection);
      continue;
    }
    if (op.onlyIfPresent === true && collection?.has(field) !== true) continue;
    if (collection === undefined) {
      collection = new Map();
      state.set(op.collection, collection);
    }
    collection.set(field, op.value === STATE_SEQ ? seqField : op.value === STATE_FRAME ? frame : op.value);
    if (op.keep !== undefined && collection.size > op.keep) {
      const fields = [...collection.keys()].sort();
      for (const old of fields.slice(0, fields.length - op.keep)) collection.delete(old);
    }
  }
}
