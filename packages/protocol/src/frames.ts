import { z } from 'zod';
import { DEFAULT_LIMITS, EVENT_PATTERN, ROOM_PATTERN } from './limits.js';
import type { ErrorCode } from './errors.js';

export type Role = 'teacher' | 'assistant' | 'student' | 'observer';
export const ROLES: readonly Role[] = ['teacher', 'assistant', 'student', 'observer'];

const room = z.string().min(1).max(DEFAULT_LIMITS.maxRoomLength).regex(ROOM_PATTERN, 'invalid room name');
const event = z.string().min(1).max(DEFAULT_LIMITS.maxEventLength).regex(EVENT_PATTERN, 'invalid event name');
const clientId = z.string().min(1).max(DEFAULT_LIMITS.maxIdLength);
const userId = z.string().min(1).max(DEFAULT_LIMITS.maxUserIdLength);
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const joinFrame = z.object({
  action: z.literal('join'),
  room,
  since: seq.optional(),
  epoch: z.string().min(1).max(64).optional(),
  id: clientId.optional(),
});
const leaveFrame = z.object({ action: z.literal('leave'), room, id: clientId.optional() });
const publishFrame = z
  .object({
    action: z.literal('publish'),
    room,
    event,
    data: z.unknown().optional(),
    id: clientId.optional(),
    ephemeral: z.boolean().optional(),
  })
  .refine((f) => f.ephemeral === true || f.id !== undefined, {
    message: 'a durable publish needs an id (it makes retries idempotent)',
    path: ['id'],
  });
const directFrame = z.object({
  action: z.literal('direct'),
  to: userId,
  event,
  data: z.unknown().optional(),
  id: clientId.optional(),
});
const pingFrame = z.object({ action: z.literal('ping'), id: clientId.optional() });

const schemas = {
  join: joinFrame,
  leave: leaveFrame,
  publish: publishFrame,
  direct: directFrame,
  ping: pingFrame,
} as const;

export type ClientAction = keyof typeof schemas;
export const CLIENT_ACTIONS = Object.keys(schemas) as ClientAction[];

export type JoinFrame = z.infer<typeof joinFrame>;
export type LeaveFrame = z.infer<typeof leaveFrame>;
export type PublishFrame = z.infer<typeof publishFrame>;
export type DirectFrame = z.infer<typeof directFrame>;
export type PingFrame = z.infer<typeof pingFrame>;
export type ClientFrame = JoinFrame | LeaveFrame | PublishFrame | DirectFrame | PingFrame;

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
  presence: Member[];
  id?: string;
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
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  id?: string;
  action?: string;
  room?: string;
}
export type ServerFrame =
  | JoinedFrame
  | MessageFrame
  | AckFrame
  | LeftFrame
  | PresenceFrame
  | DirectMessageFrame
  | PongFrame
  | ErrorFrame;

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: string; action?: string };

/**
 * Parses and validates one client text frame. Never throws: every input yields a frame or an error.
 * Unknown fields are ignored, so newer clients can talk to older servers.
 */
export function parseClientFrame(raw: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'bad_request', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_request', message: 'frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const id = typeof record.id === 'string' && record.id.length <= DEFAULT_LIMITS.maxIdLength ? record.id : undefined;
  const action = record.action;
  if (typeof action !== 'string' || !Object.hasOwn(schemas, action)) {
    return {
      ok: false,
      code: 'bad_request',
      message: typeof action === 'string' ? `unknown action "${action.slice(0, 32)}"` : 'frame needs a string "action"',
      ...(id === undefined ? {} : { id }),
    };
  }
  const parsed = schemas[action as ClientAction].safeParse(record);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return {
      ok: false,
      code: 'bad_request',
      message: `${where}${issue?.message ?? 'invalid frame'}`,
      action,
      ...(id === undefined ? {} : { id }),
    };
  }
  return { ok: true, frame: parsed.data as ClientFrame };
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
