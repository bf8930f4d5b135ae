/** Users tracked before full buckets (users who have not joined for a while) are forgotten. */
const PRUNE_ABOVE = 10_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Joins per user on this node (token bucket): a join costs a history read or a snapshot, so a client
 * stuck in a join loop (reconnecting, several tabs) is slowed down with `rate_limited`, which the SDK
 * retries with backoff.
 */
export class JoinThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {}

  admit(userId: string): boolean {
    const now = this.now();
    let bucket = this.buckets.get(userId);
    if (bucket === undefined) {
      if (this.buckets.size >= PRUNE_ABOVE) this.prune(now);
      bucket = { tokens: this.burst, updatedAt: now };
      this.buckets.set(userId, bucket);
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

  /** A full bucket is the same as none. */
  private prune(now: number): void {
    for (const [userId, bucket] of this.buckets) if (this.refilled(bucket, now) >= this.burst) this.buckets.delete(userId);
  }
}
