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
 * Takes or renews each lease key (KEYS) for this node (ARGV[1]) for ARGV[2] ms: 1 where the node holds
 * it afterwards, 0 where another does. One call for a whole drain's rooms.
 */
const ACQUIRE_LEASES = `local held = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[i] = 1
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held`;

/**
 * Which node records a room: the first to take the room's lease key, renewed on each of its
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

  async acquire(rooms: readonly string[]): Promise<boolean[]> {
    if (rooms.length === 0) return [];
    const held = (await this.redis.eval(ACQUIRE_LEASES, rooms.length, ...rooms.map((room) => this.keys.recordingLease(room)), this.options.node, this.ttlMs)) as number[];
    return held.map((value) => value === 1);
  }
}
