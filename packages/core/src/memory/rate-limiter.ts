import type { RateDecision, RateLimiter } from '../ports.js';
import { DEFAULTS } from '../config/defaults.js';

export interface TokenBucketOptions {
  /** Sustained frames per second. @default 50 */
  ratePerSecond?: number;
  /** Bucket size: frames accepted in a burst. @default 100 */
  burst?: number;
  /** Sustained inbound bytes per second. @default 128 KiB */
  bytesPerSecond?: number;
  /** Byte bucket size: bytes accepted in a burst. @default 512 KiB */
  bytesBurst?: number;
  /** Consecutive refused frames after which the sender is judged abusive. @default burst */
  abusiveAfter?: number;
  now?: () => number;
}

interface Bucket {
  frames: number;
  bytes: number;
  updatedAt: number;
  refusedInRow: number;
}

/**
 * Two token buckets per connection, held in process: frames and bytes. A frame is admitted only when
 * both have room, and then takes from both; a refused frame takes from neither.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly byteRate: number;
  private readonly byteBurst: number;
  private readonly abusiveAfter: number;
  private readonly now: () => number;

  constructor(options: TokenBucketOptions = {}) {
    this.rate = options.ratePerSecond ?? DEFAULTS.ratePerSecond;
    this.burst = options.burst ?? DEFAULTS.rateBurst;
    this.byteRate = options.bytesPerSecond ?? DEFAULTS.rateBytesPerSecond;
    this.byteBurst = options.bytesBurst ?? DEFAULTS.rateBytesBurst;
    this.abusiveAfter = options.abusiveAfter ?? this.burst;
    this.now = options.now ?? Date.now;
  }

  take(connectionId: string, bytes: number): RateDecision {
    const bucket = this.refilled(connectionId);
    const cost = this.costOf(bytes);
    if (bucket.frames >= 1 && bucket.bytes >= cost) {
      bucket.frames -= 1;
      bucket.bytes -= cost;
      bucket.refusedInRow = 0;
      return 'ok';
    }
    bucket.refusedInRow += 1;
    return bucket.refusedInRow > this.abusiveAfter ? 'abusive' : 'limited';
  }

  delayMs(connectionId: string, bytes: number): number {
    const bucket = this.refilled(connectionId);
    const framesShort = Math.max(0, 1 - bucket.frames);
    const bytesShort = Math.max(0, this.costOf(bytes) - bucket.bytes);
    return Math.ceil(Math.max(framesShort / this.rate, bytesShort / this.byteRate) * 1000);
  }

  /** A frame larger than the whole byte bucket would never fit: it costs a full bucket instead. */
  private costOf(bytes: number): number {
    return Math.min(bytes, this.byteBurst);
  }

  /** The connection's bucket, topped up for the time since it was last used. */
  private refilled(connectionId: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(connectionId);
    if (bucket === undefined) {
      bucket = { frames: this.burst, bytes: this.byteBurst, updatedAt: now, refusedInRow: 0 };
      this.buckets.set(connectionId, bucket);
    } else if (now > bucket.updatedAt) {
      const elapsedSeconds = (now - bucket.updatedAt) / 1000;
      bucket.frames = Math.min(this.burst, bucket.frames + elapsedSeconds * this.rate);
      bucket.bytes = Math.min(this.byteBurst, bucket.bytes + elapsedSeconds * this.byteRate);
      bucket.updatedAt = now;
    }
    return bucket;
  }

  forget(connectionId: string): void {
    this.buckets.delete(connectionId);
  }

  /**
   * Forgets every bucket that has refilled: a full bucket admits exactly what a new one would, so an idle
   * connection keeps none.
   */
  sweep(): void {
    const now = this.now();
    for (const [connectionId, bucket] of this.buckets) {
      const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
      const full = bucket.frames + elapsedSeconds * this.rate >= this.burst && bucket.bytes + elapsedSeconds * this.byteRate >= this.byteBurst;
      if (full) this.buckets.delete(connectionId);
    }
  }

  /** Connections with a bucket now (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}
