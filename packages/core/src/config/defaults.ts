import { DEFAULT_LIMITS } from '@classwire/protocol';

/**
 * The default of every setting that more than one runtime (gateway, Lambda, emulator) or a library
 * constructor (engine, room logs, rate limiter) uses. The env schemas (`SHARED_ENV`) and the
 * constructors' `??` fallbacks all read this table, so a default changes in one place.
 */
export const DEFAULTS = {
  logLevel: 'info',
  /** Rooms are classrooms (docs/classroom.md); false: generic rooms only. */
  classroom: true,
  wsPath: '/ws',
  maxFrameBytes: DEFAULT_LIMITS.maxFrameBytes,
  /** Sustained inbound frames per second per connection (token bucket). */
  ratePerSecond: 50,
  /** Token bucket size: frames accepted in a burst. */
  rateBurst: 100,
  /** Sustained inbound bytes per second per connection (token bucket beside the frame rate). */
  rateBytesPerSecond: 128 * 1024,
  /** Byte bucket size: inbound bytes accepted in a burst (16 frames of the largest size). */
  rateBytesBurst: 512 * 1024,
  maxConnectionsPerUser: 10,
  maxRoomsPerConnection: 50,
  /** Sustained joins per second per user on one node (token bucket): slows down a rejoin loop. */
  joinsPerSecond: 1,
  /** Joins per user accepted in a burst: a reconnect re-joins every room (at most 50) at once. */
  joinBurst: 100,
  /** Serialized size of a classroom's whiteboard items (their data as JSON), bytes: bounds every snapshot. */
  maxBoardBytes: 1024 * 1024,
  /** Messages kept per room. */
  historySize: 500,
  /** Age after which a room's message is dropped. */
  historyTtlMs: 600_000,
  /** How long a room's epoch and sequence outlive its last message. */
  historyMetaTtlMs: 86_400_000,
  redisPrefix: 'cw',
  redisCommandTimeoutMs: 2000,
  redisWaitReplicas: 0,
  redisWaitTimeoutMs: 1000,
} as const;
