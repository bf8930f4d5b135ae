import type { ErrorCode, Member, Role } from '@classwire/protocol';

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
  /** Moves the connection's token expiry (an in-band refresh); false when it is not registered. */
  setExpiry(connectionId: string, expiresAt: number): Promise<boolean>;
  joinRoom(connectionId: string, room: string): Promise<void>;
  leaveRoom(connectionId: string, room: string): Promise<void>;
  /** Connection ids that joined `room`. */
  members(room: string): Promise<string[]>;
  connectionsOfUser(userId: string): Promise<ConnectionState[]>;
  countForUser(userId: string): Promise<number>;
  /**
   * Takes one of a user's `max` connection slots for `connectionId` in one atomic step (count and take),
   * so concurrent connects of one user never overshoot the limit; true when taken (or already held). A
   * slot not registered by `add` lapses after `SLOT_RESERVATION_MS`; a registered one lasts as long as
   * the record. `remove` frees it.
   */
  reserveSlot(userId: string, connectionId: string, max: number): Promise<boolean>;
  /** Frees a slot whose connection will not be registered (its upgrade or `$connect` failed). */
  releaseSlot(userId: string, connectionId: string): Promise<void>;
}

/** How long a connection slot is held for a connect that has not registered yet. */
export const SLOT_RESERVATION_MS = 60_000;

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
  | { op: 'clear'; collection: string }
  /** Adds `by` (an integer, may be negative) to the field read as an integer (absent: 0). */
  | { op: 'add'; collection: string; field: string; by: number };

/**
 * Placeholders an op may use in an append: as a `field` or `value`, SEQ is replaced by the appended
 * message's seq zero-padded to 16 digits (so fields sort as text in seq order); as a `value`, FRAME by
 * the stored message frame.
 */
export const STATE_SEQ = '$seq';
export const STATE_FRAME = '$frame';

/**
 * A collection as read: field → value, with no prototype, so user-chosen fields (`__proto__`,
 * `constructor`) are plain own entries. Look fields up with `stateField`.
 */
export function emptyFields(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

/** The value of one field of a read collection, only when the collection holds it as its own. */
export function stateField(fields: Record<string, string> | undefined, field: string): string | undefined {
  return fields !== undefined && Object.hasOwn(fields, field) ? fields[field] : undefined;
}

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
  /** All must hold, or nothing is published or changed (`PublishResult.staleGuard`). */
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

/** What a publish needs besides the body. */
export interface PublishOptions {
  /** A retry with the same key stores and delivers nothing, and gets the original's seq. */
  dedupKey?: string | undefined;
  /** State changes applied atomically with the append (`StateEffects`). */
  effects?: StateEffects | undefined;
  /**
   * A connection the broker need not deliver the message to: its sender, which asked for no echo and
   * learns the message from its ack. Best effort: a copy that reaches it anyway (a Redis node's backfill
   * after a pub/sub loss delivers what it missed to every member) is dropped by the client by seq.
   */
  except?: string | undefined;
}

/** What the engine needs of a publish: the message's position, not its frame (the broker delivered it). */
export interface PublishResult {
  seq: number;
  ts: number;
  /** The room's stream generation the seq belongs to. */
  epoch: string;
  /** True when `dedupKey` was seen before: nothing was stored or delivered, `seq` and `ts` are the original's. */
  duplicate: boolean;
  /** True when `dedupKey` was seen before with a different body. */
  conflict: boolean;
  /**
   * Index of the first guard that did not hold: nothing was stored or delivered, and `seq` and `ts` are
   * meaningless. Undefined when every guard held (or there were none). A duplicate is reported as such
   * without checking guards.
   */
  staleGuard?: number;
}

export interface StoredMessage {
  seq: number;
  frame: string;
}

/**
 * A room's sequenced messages beyond what the live log keeps: the class records, when the runtime has
 * them (`@classwire/records`). Private messages are never in it.
 */
export interface HistoryArchive {
  /** Up to `limit` recorded messages of `room`'s `epoch` with seq below `before`: the newest of them, oldest first, as message frames. */
  before(room: string, epoch: string, before: number, limit: number): Promise<StoredMessage[]>;
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

export interface BroadcastOptions {
  /** A connection that must not receive the frame. */
  except?: string | undefined;
}

/**
 * A room's messages: sequencing, history and delivery in one port, like a pub/sub broker with history.
 *
 * The contract: `publish` assigns the next gapless seq and the ts, stores the frame composed by
 * `composeMessageFrame`, applies the effects, and delivers the frame to every subscriber of the room,
 * atomically. Every subscriber sees a room's messages in seq order, exactly the stored ones: a duplicate,
 * a conflict or a failed guard stores and delivers nothing. History is bounded by count and age, and each
 * room has an epoch that changes when its history is lost.
 *
 * Subscribers are this node's members, reached through its `RoomDelivery` (LocalFanOut on the gateway);
 * on AWS, where no process holds sockets, the broker posts to the room's members itself.
 */
export interface Broker {
  /** Sequences, stores and delivers one message body (see the contract above). */
  publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult>;
  /** An unsequenced frame (ephemeral, presence) to the room's subscribers: best effort, never stored. */
  broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void>;
  /**
   * Makes this node receive the room's deliveries. Resolves once every message published from now on will
   * be delivered, so a read that follows misses nothing.
   */
  subscribe(room: string): Promise<void>;
  /** Stops the room's deliveries to this node once it has no member there any more. */
  unsubscribe(room: string): Promise<void>;
  /**
   * Messages with seq > `since`. `recovered` is false (and `messages` empty) when `since` is absent,
   * when `epoch` differs from the room's, or when part of the gap is no longer kept.
   */
  read(room: string, since?: number, epoch?: string): Promise<ReadResult>;
  /** Reads the state, atomically with the room's current seq. */
  readState(room: string, query: StateQuery): Promise<StateRead>;
  /** Changes the state without publishing (guards checked); resolves with the failed guard's index, if any. */
  updateState(room: string, effects: StateEffects): Promise<number | undefined>;
}

export interface DeliveryOptions extends BroadcastOptions {
  /** Set for sequenced messages: lets the node drop duplicates and hold frames during a resume. */
  seq?: number | undefined;
}

/** The node's side of a broker: where it hands the frames meant for this node's members of a room. */
export interface RoomDelivery {
  /** Writes the frame (text, or its UTF-8 bytes) to the room's members on this node, in call order. */
  deliver(room: string, frame: string | Buffer, options?: DeliveryOptions): void;
  /** Whether this node still has a member in the room. */
  hasMembers(room: string): boolean;
  /** Closes this node's members of the room (their history was lost: they resume). */
  closeMembers(room: string, code: number, reason: string): void;
}

/** Per-user presence per room: a user with two connections is one member. */
export interface PresenceStore {
  /** Returns true when the user was not present before (a presence "join" to announce). */
  add(room: string, member: Member, connectionId: string): Promise<boolean>;
  /** Returns true when the user's last connection left (a presence "leave" to announce). */
  remove(room: string, userId: string, connectionId: string): Promise<boolean>;
  list(room: string): Promise<Member[]>;
}

/**
 * Delivery to single connections and the node's per-connection room state. Room-wide delivery is the
 * broker's. On the gateway it writes to sockets (forwarding to the node that holds a remote one); on AWS
 * it calls PostToConnection.
 */
export interface FanOut {
  /** One frame to one connection; false when the connection is gone. */
  send(connectionId: string, frame: string): Promise<boolean>;
  /** Several frames to one connection, in order. */
  sendMany(connectionId: string, frames: readonly string[]): Promise<boolean>;
  /**
   * Makes the connection receive the room's deliveries. With `held`, sequenced frames are held until
   * `release`, so a resume replay and live traffic cannot interleave.
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
  /** Admits (or not) one inbound frame of `bytes` UTF-8 bytes. */
  take(connectionId: string, bytes: number): RateDecision;
  /** Milliseconds until `take` would admit a frame of `bytes` (0: now); takes nothing. */
  delayMs(connectionId: string, bytes: number): number;
  forget(connectionId: string): void;
  /** Forgets what no longer limits anyone (buckets that have refilled): called periodically. */
  sweep(): void;
}

/** Thrown by a store that cannot reach its backend; surfaces to clients as `unavailable`. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * Seconds a caller should wait before retrying an `unavailable` answer (a store outage, a draining node,
 * class records not open yet): the one `Retry-After` every runtime's HTTP answers send.
 */
export const RETRY_AFTER_SECONDS = 5;

/** The headers every runtime's HTTP error answer carries for `code`: `Retry-After` for `unavailable` (503), none otherwise. */
export function retryAfterHeaders(code: ErrorCode): Record<string, string> {
  return code === 'unavailable' ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {};
}

/**
 * Which node records a room's class records when several share one database (Redis mode): `acquire`
 * answers, room by room, whether this node holds the room's lease (taken or renewed for `ttlMs`).
 */
export interface RecordingLease {
  readonly ttlMs: number;
  acquire(rooms: readonly string[]): Promise<boolean[]>;
}
