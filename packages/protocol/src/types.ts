import type { ErrorCode } from './errors.js';
import type { SnapshotFrame } from './classroom/types.js';

export type Role = 'teacher' | 'assistant' | 'student' | 'observer';
export const ROLES: readonly Role[] = ['teacher', 'assistant', 'student', 'observer'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export interface JoinFrame {
  action: 'join';
  room: string;
  since?: number | undefined;
  epoch?: string | undefined;
  id?: string | undefined;
}
export interface LeaveFrame {
  action: 'leave';
  room: string;
  id?: string | undefined;
}
export interface PublishFrame {
  action: 'publish';
  room: string;
  event: string;
  data?: unknown;
  id?: string | undefined;
  ephemeral?: boolean | undefined;
  /**
   * `false`: do not send the stored message back to this connection. Its ack then carries `ts`, `epoch`
   * and `from`, all the sender needs to show the message itself (API Gateway bills every echo). Absent or
   * `true`: the sender receives its message like every member. Servers that predate it ignore it and echo.
   */
  echo?: boolean | undefined;
}
export interface DirectFrame {
  action: 'direct';
  to: string;
  event: string;
  data?: unknown;
  id?: string | undefined;
}
export interface PingFrame {
  action: 'ping';
  id?: string | undefined;
}
/** A new token for the open connection: the server moves the connection's expiry to its `exp`. */
export interface RefreshFrame {
  action: 'refresh';
  token: string;
  id: string;
}
/**
 * Asks for a page of the room's sequenced messages older than `before` (a seq of the room's current
 * epoch; absent: the newest), at most `limit`. Answered by a `history` frame with the same id.
 */
export interface HistoryRequestFrame {
  action: 'history';
  room: string;
  before?: number | undefined;
  limit?: number | undefined;
  id: string;
}
/** Asks for the room's authoritative member list. Answered by `members` frames with the same id. */
export interface MembersRequestFrame {
  action: 'members';
  room: string;
  id: string;
}
export type ClientFrame = JoinFrame | LeaveFrame | PublishFrame | DirectFrame | PingFrame | RefreshFrame | HistoryRequestFrame | MembersRequestFrame;
export type ClientAction = ClientFrame['action'];

export interface Member {
  userId: string;
  name: string;
  role: Role;
}

export interface Sender {
  userId: string;
  role: Role | 'server';
  name: string;
}

export interface JoinedFrame {
  type: 'joined';
  room: string;
  connectionId: string;
  seq: number;
  epoch: string;
  recovered: boolean;
  /** The room's members; empty when they did not fit and came in `presenceParts` `members` frames. */
  presence: Member[];
  /** Set when the members were sent before this frame in that many `members` frames. */
  presenceParts?: number;
  id?: string;
  /**
   * The ping interval the server wants from this client, ms (on API Gateway: inside its 10-minute idle
   * timeout, instead of the SDK's 25 s). Absent: the client keeps its own.
   */
  keepAliveMs?: number;
}
/**
 * One part of a member list: of a join's, sent before `joined` when the list does not fit in one frame;
 * or, with `id`, of the answer to a `members` request.
 */
export interface MembersFrame {
  type: 'members';
  room: string;
  part: number;
  parts: number;
  members: Member[];
  id?: string;
}
/** The answer to a `history` request: a page of messages in seq order. */
export interface HistoryFrame {
  type: 'history';
  room: string;
  id: string;
  /** The epoch the seqs belong to. */
  epoch: string;
  /** Oldest first; each as the room delivered it. */
  messages: MessageFrame[];
  /** The `before` of the next (older) page; null when nothing older is available from this server. */
  next: number | null;
  /** True when the server keeps class records: pages older than the live log come from them. */
  archive: boolean;
}
export interface MessageFrame {
  type: 'message';
  room: string;
  seq?: number;
  ts: number;
  event: string;
  data: unknown;
  from: Sender;
  id?: string;
  ephemeral?: true;
}
export interface AckFrame {
  type: 'ack';
  id: string;
  room?: string;
  seq?: number;
  /**
   * Set when the publish asked for no echo (`echo: false`) and its message is stored: the message's `ts`,
   * the `epoch` its seq belongs to, and its sender as members see it. With the publish's own event and
   * data, that is the message the echo would have carried.
   */
  ts?: number;
  epoch?: string;
  from?: Sender;
}
export interface LeftFrame {
  type: 'left';
  room: string;
  id?: string;
}
export interface PresenceFrame {
  type: 'presence';
  room: string;
  action: 'join' | 'leave';
  member: Member;
}
export interface DirectMessageFrame {
  type: 'direct';
  ts: number;
  event: string;
  data: unknown;
  from: Sender;
  id?: string;
}
export interface PongFrame {
  type: 'pong';
  ts: number;
  id?: string;
  /** As in `joined`: the ping interval the server wants, ms. */
  keepAliveMs?: number;
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  id?: string;
  action?: string;
  room?: string;
}
/**
 * The server is about to close this connection with `code`. Sent where the transport cannot choose the
 * close code itself (API Gateway's DeleteConnection); clients act on `code` as if the socket closed
 * with it.
 */
export interface ClosingFrame {
  type: 'closing';
  code: number;
  reason: string;
  /** How long to wait before reconnecting, ms (a draining node spreads its clients' reconnects). */
  retryAfterMs?: number;
}
/**
 * Several frames for one recipient in one transport message (API Gateway bills each post per 32 KB, so
 * frames that leave together cost one message). The receiver handles `frames` in order exactly as if each
 * had arrived on its own; every message keeps its room seq. A batch never holds another batch.
 */
export interface BatchFrame {
  type: 'batch';
  frames: Exclude<ServerFrame, BatchFrame>[];
}
export type ServerFrame =
  | BatchFrame
  | JoinedFrame
  | MembersFrame
  | MessageFrame
  | AckFrame
  | LeftFrame
  | PresenceFrame
  | DirectMessageFrame
  | PongFrame
  | ErrorFrame
  | SnapshotFrame
  | ClosingFrame
  | HistoryFrame;
