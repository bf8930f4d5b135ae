import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, mayJoinRoom, type Authorizer, type Broker, type PresenceStore } from '@classwire/core';
import { DEFAULT_LIMITS, ERROR_CODES, ROOM_PATTERN, type ErrorCode } from '@classwire/protocol';
import { isStaff } from '@classwire/protocol/classroom';
import { z } from 'zod';
import { attendanceCsv, computeAttendance } from './attendance.js';
import type { ClassRow, RecordEventRow } from './schema.js';
import type { RecordsStore } from './store.js';
import type { WebhookDeadLetters } from './webhooks.js';

/** Who may read: a backend (every room), or a staff member's token (the rooms in its claims). */
export type RecordsPrincipal = { kind: 'backend' } | { kind: 'staff'; mayRead(room: string): boolean };

export interface RecordsApiOptions {
  store: RecordsStore;
  broker: Pick<Broker, 'read'>;
  presence: Pick<PresenceStore, 'list'>;
  /** The gateway's API-key/SigV4 check: true when the request is a backend's. */
  authenticateBackend(req: IncomingMessage): Promise<boolean>;
  /** Verifies staff JWTs sent as `Authorization: Bearer <jwt>`. */
  authorizer: Authorizer;
  /** Keep an erased user's messages as "removed user" (true) or drop their content (false). */
  keepErasedMessages: boolean;
  /** The webhook dead letters (listed and redelivered by backends). */
  deadLetters?: WebhookDeadLetters;
  /** Called after a redelivery so the dispatcher looks at once. */
  onRedeliver?: () => void;
  now?: () => number;
  /** In attendance, a drop up to this long is an interruption of one presence. */
  resumeGraceMs?: number | undefined;
}

/** Largest page of a list or transcript. */
export const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

const classesQuery = z.object({
  room: z.string().max(DEFAULT_LIMITS.maxRoomLength).regex(ROOM_PATTERN).optional(),
  from: z.coerce.number().int().nonnegative().optional(),
  to: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
});
const transcriptQuery = z.object({
  after: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
});
const historyQuery = z.object({
  since: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
});
const deadLettersQuery = z.object({
  endpoint: z.string().regex(/^[1-9][0-9]?$/, 'an endpoint is named by its number').optional(),
  after: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
});
const classId = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const userId = z.string().min(1).max(DEFAULT_LIMITS.maxIdLength);

class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (principal: RecordsPrincipal, params: string[], query: URLSearchParams, req: IncomingMessage) => Promise<Answer>;
/** A JSON body, a CSV text, or nothing. */
type Answer = { status: number; body?: unknown; csv?: string };

/**
 * The records API (docs/records.md, records-openapi.json). Returns a request handler that answers the
 * routes it owns and returns false for any other path, so the gateway can mount it in one line.
 */
export function createRecordsApi(options: RecordsApiOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const { store } = options;
  const routes: { method: string; pattern: RegExp; handle: Handler }[] = [
    {
      method: 'GET',
      pattern: /^\/classes$/,
      handle: async (principal, _params, query) => {
        const filter = parse(classesQuery, query);
        if (principal.kind === 'staff') {
          if (filter.room === undefined) throw new ApiError('forbidden', 'a staff token must name the room');
          requireRoom(principal, filter.room);
        }
        const classes = await store.listClasses(filter);
        return { status: 200, body: { classes: classes.map(classSummary) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/classes\/([^/]+)$/,
      handle: async (principal, [id]) => {
        const found = await findClass(store, principal, id!);
        return { status: 200, body: { ...classSummary(found), staff: await store.staffOf(found.id) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/classes\/([^/]+)\/attendance$/,
      handle: async (principal, [id], _query, req) => {
        const found = await findClass(store, principal, id!);
        const attendance = await computeAttendance(store.db, found.id, { graceMs: options.resumeGraceMs });
        if (attendance === undefined) throw new ApiError('not_found', 'no such class');
        return wantsCsv(req) ? { status: 200, csv: attendanceCsv(attendance) } : { status: 200, body: attendance };
      },
    },
    {
      method: 'GET',
      pattern: /^\/classes\/([^/]+)\/transcript$/,
      handle: async (principal, [id], query) => {
        const found = await findClass(store, principal, id!);
        const page = parse(transcriptQuery, query);
        // Private messages are for staff (docs/records.md): every reader this API admits is staff or the
        // school's backend; a reader who is neither must never get them.
        const events = await store.transcript(found.id, page.after, page.limit, mayReadPrivate(principal));
        const next = events.length === page.limit ? events.at(-1)!.id : null;
        return { status: 200, body: { classId: String(found.id), events: events.map(transcriptEvent), next } };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/classes\/([^/]+)$/,
      handle: async (principal, [id]) => {
        const found = await findClass(store, principal, id!);
        await store.deleteClass(found.id);
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/users\/([^/]+)\/records$/,
      handle: async (principal, [encoded]) => {
        if (principal.kind !== 'backend') throw new ApiError('forbidden', 'erasure is for the school backend');
        const user = parse(userId, encoded!);
        const erased = await store.eraseUser(user, options.keepErasedMessages);
        return { status: 200, body: { userId: user, erasedEvents: erased, messagesKept: options.keepErasedMessages } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/rooms\/([^/]+)\/presence$/,
      handle: async (principal, [room]) => {
        requireRoom(principal, room!);
        return { status: 200, body: { room, members: await options.presence.list(room!) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/rooms\/([^/]+)\/history$/,
      handle: async (principal, [room], query) => {
        requireRoom(principal, room!);
        const page = parse(historyQuery, query);
        const read = await options.broker.read(room!, page.since);
        const messages = read.messages.slice(0, page.limit).map((message) => JSON.parse(message.frame) as unknown);
        return { status: 200, body: { room, epoch: read.epoch, seq: read.seq, recovered: read.recovered, messages, more: read.messages.length > page.limit } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/webhooks\/dead-letters$/,
      handle: async (principal, _params, query) => {
        const store = webhookStore(principal);
        const page = parse(deadLettersQuery, query);
        const deadLetters = await store.list(page);
        return { status: 200, body: { deadLetters, next: deadLetters.length === page.limit ? deadLetters.at(-1)!.id : null } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/webhooks\/dead-letters\/([^/]+)\/redeliver$/,
      handle: async (principal, [id]) => {
        const store = webhookStore(principal);
        const letter = parse(classId, id!);
        if (!(await store.redeliver(letter, (options.now ?? Date.now)()))) throw new ApiError('not_found', 'no such dead letter');
        options.onRedeliver?.();
        return { status: 202, body: { id: letter, redelivering: true } };
      },
    },
  ];
  function webhookStore(principal: RecordsPrincipal): WebhookDeadLetters {
    if (principal.kind !== 'backend') throw new ApiError('forbidden', 'webhooks are for the school backend');
    if (options.deadLetters === undefined) throw new ApiError('not_found', 'webhooks are not configured here');
    return options.deadLetters;
  }
  const routePatterns = routes.map((route) => route.pattern);

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!routePatterns.some((pattern) => pattern.test(url.pathname))) return false;
    try {
      const route = routes.find((candidate) => candidate.method === req.method && candidate.pattern.test(url.pathname));
      if (route === undefined) throw new ApiError('bad_request', `method ${req.method ?? ''} is not supported here`);
      const params = route.pattern.exec(url.pathname)!.slice(1).map(decodeSegment);
      const principal = await authenticate(req, options);
      const answer = await route.handle(principal, params, url.searchParams, req);
      if (answer.csv !== undefined) {
        res.writeHead(answer.status, { 'content-type': 'text/csv; charset=utf-8', 'content-length': Buffer.byteLength(answer.csv), 'cache-control': 'no-store' }).end(answer.csv);
      } else if (answer.body === undefined) {
        res.writeHead(answer.status, { 'cache-control': 'no-store' }).end();
      } else {
        sendJson(res, answer.status, answer.body);
      }
    } catch (error) {
      if (error instanceof ApiError) sendJson(res, ERROR_CODES[error.code].httpStatus, { code: error.code, message: error.message });
      else throw error;
    }
    return true;
  };
}

async function authenticate(req: IncomingMessage, options: RecordsApiOptions): Promise<RecordsPrincipal> {
  const header = req.headers.authorization;
  if (header === undefined || header.length === 0) throw new ApiError('unauthorized', 'missing Authorization header');
  if (await options.authenticateBackend(req)) return { kind: 'backend' };
  const token = header.startsWith('Bearer ') ? header.slice(7) : undefined;
  if (token === undefined || token.split('.').length !== 3) throw new ApiError('forbidden', 'invalid credentials');
  try {
    const claims = await options.authorizer.authorize(token);
    if (!isStaff(claims.role)) throw new ApiError('forbidden', 'records are for staff');
    return { kind: 'staff', mayRead: (room) => mayJoinRoom(claims, room) };
  } catch (error) {
    if (error instanceof AuthError) throw new ApiError('unauthorized', error.message);
    throw error;
  }
}

function mayReadPrivate(principal: RecordsPrincipal): boolean {
  return principal.kind === 'backend' || principal.kind === 'staff';
}

/** CSV when the client asks for it (`Accept: text/csv`), JSON otherwise. */
function wantsCsv(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.split(',').some((part) => part.split(';')[0]!.trim().toLowerCase() === 'text/csv');
}

function requireRoom(principal: RecordsPrincipal, room: string): void {
  if (room.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(room)) throw new ApiError('bad_request', 'invalid room name');
  if (principal.kind === 'staff' && !principal.mayRead(room)) throw new ApiError('forbidden', 'the token does not allow this room');
}

async function findClass(store: RecordsStore, principal: RecordsPrincipal, rawId: string): Promise<ClassRow> {
  const found = await store.getClass(parse(classId, rawId));
  // A staff member learns nothing of classes in rooms they may not read.
  if (found === undefined || (principal.kind === 'staff' && !principal.mayRead(found.room))) throw new ApiError('not_found', 'no such class');
  return found;
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input instanceof URLSearchParams ? Object.fromEntries(input) : input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ApiError('bad_request', `${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError('bad_request', 'invalid path');
  }
}

function classSummary(row: ClassRow): object {
  return { id: String(row.id), room: row.room, startedAt: row.started_at, endedAt: row.ended_at, startedBy: row.started_by };
}

function transcriptEvent(row: RecordEventRow): object {
  return {
    id: row.id,
    seq: row.seq,
    epoch: row.epoch,
    ts: row.ts,
    event: row.event,
    data: row.data,
    author: row.erased ? null : { userId: row.author_id, name: row.author_name, role: row.author_role },
    erased: row.erased,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
