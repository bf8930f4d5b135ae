import { renewEpochs, type Logger, type RedisKeys } from '@classwire/core';
import type { Redis } from 'ioredis';

/**
 * Notices that the Redis primary changed (an ElastiCache failover) and gives every room a new epoch.
 *
 * Replication is asynchronous: a promoted replica may lack the last messages, which members may already
 * have received, and would hand out their seq numbers again. With new epochs, a client that resumes
 * across the failover is told `recovered: false` instead of trusting positions the new primary may not
 * have. The self-hosted nodes do the same from their heartbeat; here each warm execution environment
 * checks at most once per interval, before handling an event. The primary's replication id is kept in
 * Redis; a promoted replica still holds the old one, so the first environment to see the difference
 * (one, by a lock) renews the epochs.
 */
export class FailoverGuard {
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns true when this call renewed the epochs. Never throws: a failed check is retried later. */
  async check(): Promise<boolean> {
    const now = this.now();
    if (now - this.lastCheck < this.intervalMs) return false;
    this.lastCheck = now;
    try {
      const current = /master_replid:(\w+)/.exec(await this.redis.info('replication'))?.[1];
      if (current === undefined) return false;
      const stored = await this.redis.get(this.keys.replicationId());
      if (stored === current) return false;
      if (stored === null) {
        // First use, or a Redis that lost its data (whose rooms get new epochs anyway when read).
        await this.redis.set(this.keys.replicationId(), current, 'NX');
        return false;
      }
      if ((await this.redis.set(this.keys.failoverLock(current), '1', 'PX', 600_000, 'NX')) !== 'OK') return false;
      const rooms = await renewEpochs(this.redis, this.keys);
      await this.redis.set(this.keys.replicationId(), current);
      this.logger.warn({ rooms }, 'the Redis primary changed; every room starts a new epoch');
      return true;
    } catch (error) {
      this.logger.warn({ err: error }, 'failover check failed');
      return false;
    }
  }
}
