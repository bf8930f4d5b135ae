import type { Member, Role } from '@classwire/protocol';

/**
 * The ports the engine runs on. Each has a memory implementation in `memory/` and a Redis one for
 * scale-out; contract tests in `test/contracts/` hold every implementation to the same behaviour.
 */

/** One authenticated connection, as registered at connect time. */
export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  name: string;
  role: Role;
  /** Room claims from the token (see `mayJoinRoom`). */
  rooms: readonly string[];
  /** Token expiry, epoch ms. */
  expiresAt: number;
  /** Connect time, epoch ms. */
  connectedAt: number;
  /** The gateway node (or runtime) holding the socket. */
  node: string;
}

/** A registered connection and the rooms it has joined. */
export interface ConnectionState extends ConnectionRecord {
  joined: ReadonlySet<string>;
}

/** connectionId -> who it is and which rooms it joined; room -> its member connections. */
export interface ConnectionRegistry {
  add(record: ConnectionRecord): Promise<void>;
  get(connectionId: string): Promise<ConnectionState | undefined>;
  /** Removes the connection and its memberships; returns what was removed. */
  remove(connectionId: string): Promise<ConnectionState | undefined>;
  joinRoom(connectionId: string, room: string): Promise<void>;
  leaveRoom(connectionId: string, room: string): Promise<void>;
  /** Connection ids that joined `room`. */
  members(room: string): Promise<string[]>;
  connectionsOfUser(userId: string): Promise<ConnectionState[]>;
  countForUser(userId: string): Promise<number>;
}

/**
 * Room state: named collections (field -> value, both strings) kept next to a room's log and changed
 * atomically with the append of the message that changes them, so the state always corresponds to one
 * seq. The classroom keeps its settings, hands, chat tail and whiteboard in them (docs/classroom.md).
 */
export type StateOp =
  | {
      op: 'set';
      collection: string;
      field: string;
      value: string;
      /** Only replace an existing field (an edit must not resurrect a deleted entry). */
      onlyIfPresent?: boolean;
      /** After setting, keep only this many fields: the greatest, compared as text. */
      keep?: number;
    }
  | { op: 'delete'; collection: string; field: string }
  | { op: 'clear'; collection: string };

/**
 * Placeholders an op may use in an append: as a `field` or `value`, SEQ is replaced by the appended
 * message's seq zero-padded to 16 digits (so fields sort as text in seq order); as a `value`, FRAME by
 * the stored message frame.
 */
export const STATE_SEQ = '$seq';
export const STATE_FRAME = '$frame';

/** Pads a seq as STATE_SEQ does. */
export function stateSeqField(seq: number): string {
  return String(seq).padStart(16, '0');
}

/** A condition on the state: `field` of `collection` equals `value` (null: is absent). */
export interface StateGuard {
  collection: string;
  field: string;
  value: string | null;
}

export interface StateEffects {
  /** All must hold, or nothing is appended or changed (`AppendResult.staleGuard`). */
  guards?: readonly StateGuard[];
  ops: readonly StateOp[];
}

/** What to read of each collection: every field, only the count, or the listed fields. */
export type StateQuery = Record<string, 'all' | 'count' | readonly string[]>;

export interface StateRead {
  epoch: string;
  /** The room's seq the state corresponds to. */
  seq: number;
  /** Fields read, per collection (absent fields are left out). */
  collections: Record<string, Record<string, string>>;
  /** Field counts, for collections queried with 'count'. */
  counts: Record<string, number>;
}

export interface AppendResult {
  seq: number;
  ts: number;
  /** The stored message frame (what members receive). */
  frame: string;
  /** True when `dedupKey` was seen before: nothing was appended and `seq`/`frame` are the original's. */
  duplicate: boolean;
  /** True when `dedupKey` was seen before with a different body. */
  conflict: boolean;
  /**
   * Index of the first guard that did not hold: nothing was appended and `seq`, `ts` and `frame` are
   * meaningless. Undefined when every guard held (or there were none). A duplicate is reported as such
   * without checking guards.
   */
  staleGuard?: number;
}

export interface StoredMessage {
  seq: number;
  frame: string;
}

export interface ReadResult {
  /** The room's stream generation; it changes when the stored history is lost. */
  epoch: string;
  /** The room's latest seq (0 when nothing was ever published). */
  seq: number;
  /** True iff every message after `since` is in `messages` (never a partial replay). */
  recovered: boolean;
  messages: StoredMessage[];
}

/**
 * Per-room append-only log with gapless sequence numbers, bounded by count and age, with idempotent
 * appends. `append` assigns seq and ts and composes the frame with `composeMessageFrame`.
 */
export interface RoomLog {
  append(room: string, body: string, dedupKey?: string, effects?: StateEffects): Promise<AppendResult>;
  /** Changes the state without appending (guards checked); resolves with the failed guard's index, if any. */
  updateState(room: string, effects: StateEffects): Promise<number | undefined>;
  /** Reads the state, atomically with the room's current seq. */
  readState(room: string, query: StateQuery): Promise<StateRead>;
  /**
   * Messages with seq > `since`. `recovered` is false (and `messages` empty) when `since` is absent,
   * when `epoch` differs from the room's, or when part of the gap is no longer kept.
   */
  read(room: string, since?: number, epoch?: string): Promise<ReadResult>;
}

/** Per-user presence per room: a user with two connections is one member. */
export interface PresenceStore {
  /** Returns true when the user was not present before (a presence "join" to announce). */
  add(room: string, member: Member, connectionId: string): Promise<boolean>;
  /** Returns true when the user's last connection left (a presence "leave" to announce). */
  remove(room: string, userId: string, connectionId: string): Promise<boolean>;
  list(room: string): Promise<Member[]>;
}

export interface BroadcastOptions {
  /** Set for sequenced messages: lets a transport drop duplicates and order resumes. */
  seq?: number;
  /** A connection that must not receive the frame. */
  except?: string;
}

/**
 * Delivery to connections. Implementations must preserve call order: frames broadcast to a room are
 * delivered to each member in the order `broadcast` was called.
 */
export interface FanOut {
  /** One frame to one connection; false when the connection is gone. */
  send(connectionId: string, frame: string): Promise<boolean>;
  /** Several frames to one connection, in order. */
  sendMany(connectionId: string, frames: readonly string[]): Promise<boolean>;
  broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void>;
  /**
   * Starts delivering the room's broadcasts to the connection. With `held`, sequenced frames are held
   * until `release`, so a resume replay and live traffic cannot interleave.
   */
  subscribe(connectionId: string, room: string, held: boolean): Promise<void>;
  /** Ends a hold: frames held with seq > `seq` are delivered, the rest dropped as already replayed. */
  release(connectionId: string, room: string, seq: number): Promise<void>;
  unsubscribe(connectionId: string, room: string): Promise<void>;
  /** Closes the connection with a close code from the protocol. */
  close(connectionId: string, code: number, reason: string): Promise<void>;
}

export type RateDecision = 'ok' | 'limited' | 'abusive';

/** Inbound frame rate per connection. */
export interface RateLimiter {
  take(connectionId: string): RateDecision;
  forget(connectionId: string): void;
}

/** Thrown by a store that cannot reach its backend; surfaces to clients as `unavailable`. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
