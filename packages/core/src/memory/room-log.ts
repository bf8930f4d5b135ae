import { composeMessageFrame } from '@classwire/protocol';
import type { AppendResult, ReadResult, RoomLog, StoredMessage } from '../ports.js';

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
}

interface DedupEntry {
  seq: number;
  ts: number;
  frame: string;
  body: string;
  expiresAt: number;
}

export function newEpoch(): string {
  return globalThis.crypto.randomUUID().slice(0, 8);
}

/** In-process room log: one node, lost on restart (a restart changes every epoch). */
export class MemoryRoomLog implements RoomLog {
  private readonly rooms = new Map<string, RoomStream>();
  /** Insertion-ordered, and every entry has the same TTL, so expired entries are always at the front. */
  private readonly dedup = new Map<string, DedupEntry>();
  private readonly maxMessages: number;
  private readonly maxAgeMs: number;
  private readonly metaTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly now: () => number;

  constructor(options: MemoryRoomLogOptions = {}) {
    this.maxMessages = options.maxMessages ?? 500;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.metaTtlMs = options.metaTtlMs ?? 86_400_000;
    this.dedupTtlMs = options.dedupTtlMs ?? this.maxAgeMs;
    this.now = options.now ?? Date.now;
    if (this.maxMessages < 1) throw new Error('maxMessages must be at least 1');
  }

  append(room: string, body: string, dedupKey?: string): Promise<AppendResult> {
    const now = this.now();
    if (dedupKey !== undefined) {
      this.expireDedup(now);
      const key = `${room}\n${dedupKey}`;
      const seen = this.dedup.get(key);
      if (seen !== undefined) {
        return Promise.resolve({
          seq: seen.seq,
          ts: seen.ts,
          frame: seen.frame,
          duplicate: true,
          conflict: seen.body !== body,
        });
      }
      const result = this.appendNew(room, body, now);
      this.dedup.set(key, { seq: result.seq, ts: result.ts, frame: result.frame, body, expiresAt: now + this.dedupTtlMs });
      return Promise.resolve(result);
    }
    return Promise.resolve(this.appendNew(room, body, now));
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
      const ttl = stream.seq === 0 ? this.maxAgeMs : this.metaTtlMs;
      if (stream.head === stream.messages.length && idle > ttl) this.rooms.delete(room);
    }
  }

  /** Number of rooms with a live stream (for metrics). */
  get roomCount(): number {
    return this.rooms.size;
  }

  private appendNew(room: string, body: string, now: number): AppendResult {
    const stream = this.stream(room, now);
    stream.seq += 1;
    stream.lastActivity = now;
    const frame = composeMessageFrame(room, stream.seq, now, body);
    stream.messages.push({ seq: stream.seq, ts: now, frame });
    if (stream.messages.length - stream.head > this.maxMessages) stream.head += 1;
    this.compact(stream);
    return { seq: stream.seq, ts: now, frame, duplicate: false, conflict: false };
  }

  private stream(room: string, now: number): RoomStream {
    let stream = this.rooms.get(room);
    if (stream === undefined) {
      stream = { epoch: newEpoch(), seq: 0, messages: [], head: 0, lastActivity: now };
      this.rooms.set(room, stream);
    }
    return stream;
  }

  private trim(stream: RoomStream, now: number): void {
    const cutoff = now - this.maxAgeMs;
    while (stream.head < stream.messages.length && stream.messages[stream.head]!.ts < cutoff) stream.head += 1;
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
