import type { ErrorCode } from './errors.js';
import type { AckFrame, ClosingFrame, DirectMessageFrame, ErrorFrame, HistoryFrame, JoinedFrame, LeftFrame, Member, MembersFrame, PongFrame, PresenceFrame, Sender, ServerFrame } from './types.js';
import { utf8Length } from './utf8.js';

export { utf8Length };

/**
 * One encoder per server frame type: every frame a server sends is built here, so its fields and their
 * order are defined once. Each builds a value of the frame's type, so a field that does not match the
 * protocol's types fails to compile.
 */

/**
 * Sequenced message frames are built in two halves so that a store can assign `seq` and `ts` without
 * re-serializing the payload: the body (event, data, from, id) is serialized once by the publisher, and
 * `composeMessageFrame` prefixes the fields the room log assigns. Stores (including Redis scripts) keep
 * the composed frame, so replays and live deliveries send identical bytes.
 */
export function encodeMessageBody(event: string, data: unknown, from: Sender, id?: string): string {
  const tail = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  return `"event":${JSON.stringify(event)},"data":${JSON.stringify(data ?? null)},"from":${JSON.stringify(from)}${tail}}`;
}

export function composeMessageFrame(room: string, seq: number, ts: number, body: string): string {
  return `{"type":"message","room":${JSON.stringify(room)},"seq":${seq},"ts":${ts},${body}`;
}

export function composeEphemeralFrame(room: string, ts: number, body: string): string {
  return `{"type":"message","room":${JSON.stringify(room)},"ephemeral":true,"ts":${ts},${body}`;
}

/** A message delivered live to some members only, neither sequenced nor stored (a classroom's private messages). */
export function composePrivateMessageFrame(room: string, ts: number, body: string): string {
  return `{"type":"message","room":${JSON.stringify(room)},"ts":${ts},${body}`;
}

/** Bytes `composeBatchFrames` adds around the frames of one batch: `{"type":"batch","frames":[`, `]}`. */
export const BATCH_OVERHEAD_BYTES = utf8Length('{"type":"batch","frames":[]}');

/**
 * Packs encoded server frames, in order, into as few frames as fit in `maxFrameBytes` each: a run of two
 * or more becomes one `batch` frame (the frames' own text inside, so stored frames are sent byte for byte);
 * a frame alone, or one too large to share a frame, is returned as it is. Batch frames are never nested.
 */
export function composeBatchFrames(frames: readonly string[], maxFrameBytes: number): string[] {
  const out: string[] = [];
  let run: string[] = [];
  let runBytes = BATCH_OVERHEAD_BYTES;
  const close = () => {
    if (run.length === 1) out.push(run[0]!);
    else if (run.length > 1) out.push(`{"type":"batch","frames":[${run.join(',')}]}`);
    run = [];
    runBytes = BATCH_OVERHEAD_BYTES;
  };
  for (const frame of frames) {
    const bytes = utf8Length(frame);
    // Every frame after the first in a batch adds a separating comma.
    if (run.length > 0 && runBytes + 1 + bytes > maxFrameBytes) close();
    runBytes += bytes + (run.length > 0 ? 1 : 0);
    run.push(frame);
  }
  close();
  return out;
}

export function encodeJoinedFrame(joined: Omit<JoinedFrame, 'type'>): string {
  const frame: JoinedFrame = {
    type: 'joined',
    room: joined.room,
    connectionId: joined.connectionId,
    seq: joined.seq,
    epoch: joined.epoch,
    recovered: joined.recovered,
    presence: joined.presence,
  };
  if (joined.presenceParts !== undefined) frame.presenceParts = joined.presenceParts;
  if (joined.id !== undefined) frame.id = joined.id;
  if (joined.keepAliveMs !== undefined) frame.keepAliveMs = joined.keepAliveMs;
  return JSON.stringify(frame);
}

/** Room and framing overhead of a `members` frame around its member list. */
const MEMBERS_FRAME_OVERHEAD = 128;

/**
 * The `joined` frame, preceded by `members` frames when the member list does not fit in one frame of
 * `maxFrameBytes`: then `joined` carries `presenceParts` and an empty `presence`, and every frame fits.
 */
export function encodeJoinFrames(joined: Omit<JoinedFrame, 'type' | 'presenceParts'>, maxFrameBytes: number): string[] {
  const whole = encodeJoinedFrame(joined);
  if (utf8Length(whole) <= maxFrameBytes) return [whole];
  const parts = encodeMembersFrames(joined.room, joined.presence, maxFrameBytes);
  return [...parts, encodeJoinedFrame({ ...joined, presence: [], presenceParts: parts.length })];
}

/** A member list as `members` frames that each fit in `maxFrameBytes` (one frame when it fits); `id` names the request answered. */
export function encodeMembersFrames(room: string, members: Member[], maxFrameBytes: number, id?: string): string[] {
  const budget = maxFrameBytes - MEMBERS_FRAME_OVERHEAD - utf8Length(JSON.stringify(room)) - (id === undefined ? 0 : utf8Length(JSON.stringify(id)));
  const pages: Member[][] = [[]];
  let used = 0;
  for (const member of members) {
    const size = utf8Length(JSON.stringify(member)) + 1;
    if (used + size > budget && pages.at(-1)!.length > 0) {
      pages.push([]);
      used = 0;
    }
    pages.at(-1)!.push(member);
    used += size;
  }
  return pages.map((page, part) => {
    const frame: MembersFrame = { type: 'members', room, part, parts: pages.length, members: page };
    if (id !== undefined) frame.id = id;
    return JSON.stringify(frame);
  });
}

/** Room, id, epoch and framing overhead of a `history` frame around its messages. */
export const HISTORY_FRAME_OVERHEAD = 160;

/**
 * A `history` frame around message frames as the room log stores them (composed JSON text, spliced in
 * without re-parsing). The caller keeps their total within the frame limit less `HISTORY_FRAME_OVERHEAD`
 * and the room's and id's lengths.
 */
export function encodeHistoryFrame(page: Omit<HistoryFrame, 'type' | 'messages'>, messageFrames: readonly string[]): string {
  const head: Omit<HistoryFrame, 'messages'> = { type: 'history', room: page.room, id: page.id, epoch: page.epoch, next: page.next, archive: page.archive };
  return `${JSON.stringify(head).slice(0, -1)},"messages":[${messageFrames.join(',')}]}`;
}

export function encodeLeftFrame(room: string, id?: string): string {
  const frame: LeftFrame = { type: 'left', room };
  if (id !== undefined) frame.id = id;
  return JSON.stringify(frame);
}

/** What the ack of a publish sent with `echo: false` adds: the message as the skipped echo would have shown it. */
export interface AckedMessage {
  ts: number;
  epoch: string;
  from: Sender;
}

export function encodeAckFrame(id: string, room?: string, seq?: number, message?: AckedMessage): string {
  const frame: AckFrame = { type: 'ack', id };
  if (room !== undefined) frame.room = room;
  if (seq !== undefined) frame.seq = seq;
  if (message !== undefined) {
    frame.ts = message.ts;
    frame.epoch = message.epoch;
    frame.from = message.from;
  }
  return JSON.stringify(frame);
}

export function encodePresenceFrame(room: string, action: PresenceFrame['action'], member: Member): string {
  const frame: PresenceFrame = { type: 'presence', room, action, member };
  return JSON.stringify(frame);
}

export function encodeDirectFrame(ts: number, event: string, data: unknown, from: Sender, id?: string): string {
  const frame: DirectMessageFrame = { type: 'direct', ts, event, data: data ?? null, from };
  if (id !== undefined) frame.id = id;
  return JSON.stringify(frame);
}

export function encodePongFrame(ts: number, id?: string, keepAliveMs?: number): string {
  const frame: PongFrame = { type: 'pong', ts };
  if (id !== undefined) frame.id = id;
  if (keepAliveMs !== undefined) frame.keepAliveMs = keepAliveMs;
  return JSON.stringify(frame);
}

export function encodeErrorFrame(
  code: ErrorCode,
  message: string,
  extra?: { id?: string | undefined; action?: string | undefined; room?: string | undefined },
): string {
  const frame: ErrorFrame = { type: 'error', code, message };
  if (extra?.id !== undefined) frame.id = extra.id;
  if (extra?.action !== undefined) frame.action = extra.action;
  if (extra?.room !== undefined) frame.room = extra.room;
  return JSON.stringify(frame);
}

/** One slice of a room state's JSON text; a snapshot is `parts` of these, in order. */
export function encodeSnapshotFrame(room: string, seq: number, part: number, parts: number, data: string): string {
  const frame: Extract<ServerFrame, { type: 'snapshot' }> = { type: 'snapshot', room, seq, part, parts, data };
  return JSON.stringify(frame);
}

export function encodeClosingFrame(code: number, reason: string, retryAfterMs?: number): string {
  const frame: ClosingFrame = retryAfterMs === undefined ? { type: 'closing', code, reason } : { type: 'closing', code, reason, retryAfterMs };
  return JSON.stringify(frame);
}
