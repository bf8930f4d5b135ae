import { z } from 'zod';
import { DEFAULT_LIMITS, EVENT_PATTERN, MAX_HISTORY_PAGE, ROOM_PATTERN } from './limits.js';
import type { ErrorCode } from './errors.js';
import type { ClientAction, ClientFrame, DirectFrame, HistoryRequestFrame, JoinFrame, LeaveFrame, MembersRequestFrame, PingFrame, PublishFrame, RefreshFrame } from './types.js';


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
    echo: z.boolean().optional(),
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
// The id is required: the ack (or the error) names the refresh it answers.
const refreshFrame = z.object({ action: z.literal('refresh'), token: z.string().min(1).max(DEFAULT_LIMITS.maxTokenLength), id: clientId });

const historyFrame = z.object({
  action: z.literal('history'),
  room,
  before: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.number().int().min(1).max(MAX_HISTORY_PAGE).optional(),
  id: clientId,
});
const membersFrame = z.object({ action: z.literal('members'), room, id: clientId });

const schemas = {
  join: joinFrame,
  leave: leaveFrame,
  publish: publishFrame,
  direct: directFrame,
  ping: pingFrame,
  refresh: refreshFrame,
  history: historyFrame,
  members: membersFrame,
} as const;

export const CLIENT_ACTIONS = Object.keys(schemas) as ClientAction[];

// The hand-written frame types in types.ts are what the schemas produce; these lines fail to compile if not.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const frameTypesMatchSchemas: [
  Same<z.infer<typeof joinFrame>, JoinFrame>,
  Same<z.infer<typeof leaveFrame>, LeaveFrame>,
  Same<z.infer<typeof publishFrame>, PublishFrame>,
  Same<z.infer<typeof directFrame>, DirectFrame>,
  Same<z.infer<typeof pingFrame>, PingFrame>,
  Same<z.infer<typeof refreshFrame>, RefreshFrame>,
  Same<z.infer<typeof historyFrame>, HistoryRequestFrame>,
  Same<z.infer<typeof membersFrame>, MembersRequestFrame>,
] = [true, true, true, true, true, true, true, true];
void frameTypesMatchSchemas;

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: string; action?: string };

/**
 * Parses and validates one client text frame. Never throws: every input yields a frame or an error.
 * Unknown fields are ignored, so newer clients can talk to older servers.
 */
export function parseClientFrame(raw: string): ParseResult {
  // Before JSON.parse: building a deeply nested value costs far more than scanning its text (milliseconds
  // for 24 KB of brackets), and a refused frame should cost no more than reading it.
  const nesting = scanNesting(raw, DEFAULT_LIMITS.maxDepth);
  if (nesting.tooDeep) {
    return {
      ok: false,
      code: 'bad_request',
      message: `frame nests arrays and objects deeper than ${DEFAULT_LIMITS.maxDepth} levels`,
      ...(nesting.id === undefined ? {} : { id: nesting.id }),
    };
  }
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Reads JSON text without building it: whether arrays and objects nest deeper than `maxDepth` (the
 * outermost value is level 1), and the top-level `"id"` when it is a string, so that a refusal can still
 * name the frame it refuses. Exact for valid JSON; for invalid text the answer is only a hint (the parse
 * that follows refuses it anyway).
 */
export function scanNesting(raw: string, maxDepth: number): { tooDeep: boolean; id?: string } {
  let depth = 0;
  let tooDeep = false;
  // At depth 1 of an object: whether the next string is a key, and whether the last key was "id".
  let expectingKey = false;
  let afterIdKey = false;
  let idText: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      for (i++; i < raw.length; i++) {
        const d = raw.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      if (depth === 1) {
        if (expectingKey) afterIdKey = i - start === 3 && raw.startsWith('id', start + 1);
        else if (afterIdKey && idText === undefined) idText = raw.slice(start, i + 1);
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth > maxDepth) tooDeep = true;
      if (depth === 1) expectingKey = c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    } else if (depth === 1 && c === COMMA) {
      expectingKey = true;
      afterIdKey = false;
    } else if (depth === 1 && c === COLON) {
      expectingKey = false;
    }
  }
  if (!tooDeep || idText === undefined || idText.length > DEFAULT_LIMITS.maxIdLength * 6 + 2) return { tooDeep };
  try {
    const id: unknown = JSON.parse(idText);
    return typeof id === 'string' && id.length > 0 && id.length <= DEFAULT_LIMITS.maxIdLength ? { tooDeep, id } : { tooDeep };
  } catch {
    return { tooDeep };
  }
}
