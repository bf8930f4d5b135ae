/** Largest text frame accepted or sent by default, in bytes (API Gateway's frame limit). Its own constant so the SDK bundles it without the other limits. */
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024;

/** Default protocol limits. Servers may be configured with other values; docs/protocol.md explains each. */
export const DEFAULT_LIMITS = {
  /** Largest text frame accepted or sent, in bytes (API Gateway's frame limit). */
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Longest room name. */
  maxRoomLength: 128,
  /** Longest event name. */
  maxEventLength: 64,
  /** Longest client message id. */
  maxIdLength: 128,
  /** Longest user id. */
  maxUserIdLength: 128,
  /** Deepest nesting of arrays and objects in a frame (the frame itself is depth 1). */
  maxDepth: 32,
  /** Longest token a `refresh` frame may carry (the upgrade's limit too). */
  maxTokenLength: 8192,
} as const;

/** Most messages one `history` request may ask for (outside DEFAULT_LIMITS, which the SDK bundles). */
export const MAX_HISTORY_PAGE = 100;

/** A room name; `~g<n>` may end it only as a breakout group's room (classroom/breakout.ts). */
export const ROOM_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(~g[1-9][0-9]?)?$/;
/** Dotted lower-case event names, e.g. `chat.message`, `whiteboard.stroke`, `class.start`. */
export const EVENT_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
