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
  /**
   * Joins of one room per user on one node, sustained per second, and the burst: every join and leave is
   * announced to the whole room, so a rejoin loop costs each member a frame. The burst covers a user's
   * every connection (maxConnectionsPerUser) joining the same class at once.
   */
  roomJoinsPerSecond: 1,
  roomJoinBurst: 10,
  /**
   * History pages per user on one node, sustained per second, and the burst: a page older than the live log
   * is a query to the records database, so the frame rate (50/s per connection) alone would let one user's
   * connections keep the database busy. A reader scrolling back through a lesson asks a page at a time.
   */
  historyReadsPerSecond: 5,
  historyReadBurst: 20,
  /** Serialized size of a classroom's whiteboard items (their data as JSON), bytes: bounds every snapshot. */
  maxBoardBytes: 1024 * 1024,
  /**
   * Per user on one node: item data (strokes, shapes) added to whiteboards per second, and the burst. Each
   * stored item goes to the whole class; a teacher drawing fast sends ~2–4 KB/s (segments, then the whole
   * stroke), a 1,000-point spam stroke is ~7 KB.
   */
  boardBytesPerSecond: 16 * 1024,
  boardBytesBurst: 64 * 1024,
  /** Per user on one node: strokes and shapes added per second (the app sends a segment every 150 ms), and the burst. */
  boardItemsPerSecond: 10,
  boardItemsBurst: 40,
  /**
   * Per user on one node: stored classroom events other than drawings (chat, hands, class controls,
   * moderation), sustained per second and the burst. Each goes to the whole class, so a 100-message chat
   * burst would cost a class of 25 2,500 frames; a person types far slower than 5 messages a second.
   */
  classEventsPerSecond: 5,
  classEventBurst: 20,
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
  /** Most appends one Redis script call carries (a node's appends of one event-loop turn); 1: one call each. */
  redisAppendBatch: 64,
  /**
   * A draining gateway closes its sockets spread over this window, and tells each client to wait its
   * offset before reconnecting, so a node's population does not land on the others at once.
   */
  drainSpreadMs: 3000,
} as const;
