import type { RateDecision, RateLimiter } from '../ports.js';
import { DEFAULTS } from '../config/defaults.js';

export interface TokenBucketOptions {
  /** Sustained frames per second. @default 50 */
  ratePerSecond?: number;
  /** Bucket size: frames accepted in a burst. @default 100 */
  burst?: number;
  /** Consecutive refused frames after which the sender is judged abusive. @default burst */
  abusiveAfter?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  refusedInRow: number;
}

/** A token bucket per connection, held in process. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly abusiveAfter: number;
  private readonly now: () => number;

  constructor(options: TokenBucketOptions = {}) {
    this.rate = options.ratePerSecond ?? DEFAULTS.ratePerSecond;
    this.burst = options.burst ?? DEFAULTS.rateBurst;
    this.abusiveAfter = options.abusiveAfter ?? this.burst;
    this.now = options.now ?? Date.now;
  }

  take(connectionId: string): RateDecision {
    const now = this.now();
    let bucket = this.buckets.get(connectionId);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, updatedAt: now, refusedInRow: 0 };
      this.buckets.set(connectionId, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.rate);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refusedInRow = 0;
      return 'ok';
    }
    bucket.refusedInRow += 1;
    return bucket.refusedInRow > this.abusiveAfter ? 'abusive' : 'limited';
  }

  forget(connectionId: string): void {
    this.buckets.delete(connectionId);
  }
}
