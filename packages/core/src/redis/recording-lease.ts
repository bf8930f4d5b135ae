import type { Redis } from 'ioredis';
import type { RecordingLease } from '../ports.js';
import { redisKeys, type RedisKeys } from './keys.js';

export interface RedisRecordingLeaseOptions {
  prefix?: string;
  /** This node's id: the lease's value. */
  node: string;
  /** How long a lease outlives its last renewal. */
  ttlMs: number;
}

/**
 * Which node records a room: the first to `SET NX PX` the room's lease key, renewed on each of its
 * recordings. Only an economy: correctness never depends on it (the recorder's cursor row lock makes
 * two writers record each message once), so a lease lost to expiry or a race costs a duplicate read.
 */
export class RedisRecordingLease implements RecordingLease {
  private readonly keys: RedisKeys;
  readonly ttlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisRecordingLeaseOptions,
  ) {
    this.keys = redisKeys(options.prefix);
    this.ttlMs = options.ttlMs;
  }

  async acquire(room: string): Promise<boolean> {
    const key = this.keys.recordingLease(room);
    const holder = await this.redis.set(key, this.options.node, 'PX', this.ttlMs, 'NX', 'GET');
    if (holder === null) return true;
    if (holder !== this.options.node) return false;
    await this.redis.pexpire(key, this.ttlMs);
    return true;
  }
}
