/** Keys tracked before full buckets (keys not used for a while) are forgotten. */
const PRUNE_ABOVE = 10_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key (a user, a user in a room) on this node: the engine's join rates (a join costs a
 * history read or a snapshot and announces presence to the room, so a client stuck in a join loop is
 * slowed down with `rate_limited`, which the SDK retries with backoff) and the classroom's event rate.
 */
export class KeyedRate {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {}

  admit(key: string): boolean {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= PRUNE_ABOVE) this.prune(now);
      bucket = { tokens: this.burst, updatedAt: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = this.refilled(bucket, now);
      bucket.updatedAt = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.perSecond);
  }

  /**
   * Forgets every full bucket (a full bucket is the same as none). Called periodically, so an idle
   * connection keeps no bucket: each was ~0.1 KB per key (docs/performance.md, idle memory).
   */
  sweep(): void {
    this.prune(this.now());
  }

  /** Keys tracked now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** A full bucket is the same as none. */
  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) if (this.refilled(bucket, now) >= this.burst) this.buckets.delete(key);
  }
}
