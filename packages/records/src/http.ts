import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, mayJoinRoom, methodNotAllowed, retryAfterHeaders, type Authorizer, type Broker, type PresenceStore } from '@classwire/core';
import { DEFAULT_LIMITS, ERROR_CODES, ROOM_PATTERN, type ErrorCode } from '@classwire/protocol';
import { isStaff } from '@classwire/protocol/classroom';
import { z } from 'zod';
import { attendanceCsv, computeAttendance } from './attendance.js';
import type { ClassRow, RecordEventRow } from './schema.js';
import type { RecordsStore } from './store.js';
import { isStoreUnreachable } from './unavailable.js';
import type { WebhookDeadLetters } from './webhooks.js';

/** Who may read: a backend (every room), or a staff member's token (the rooms in its claims). */
export type RecordsPrincipal = { kind: 'backend' } | { kind: 'staff'; mayRead(room: string): boolean };

/**
 * A records API request as every transport sees it (the gateway's Node server, an API Gateway HTTP API
 * event): nothing in it is trusted; each part is checked where it is used.
 */
export interface RecordsRequest {
  method: string;
  /** The path as sent (still percent-encoded), without the query. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
}

/** An answer, ready for any transport to send as it is. */
export interface RecordsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Where the records API reports a request it could not answer: warn for an outage, error for a bug. */
export interface RecordsFailureLogger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** What the records API reads and writes, whatever carries its requests. */
export interface RecordsDataOptions {
  logger: RecordsFailureLogger;
  store: RecordsStore;
  broker: Pick<Broker, 'read'>;
  presence: Pick<PresenceStore, 'list'>;
  /** Keep an erased user's messages as "removed user" (true) or drop their content (false). */
  keepErasedMessages: boolean;
  /** The webhook dead letters (listed and redelivered by backends). */
  deadLetters?: WebhookDeadLetters | undefined;
  /** Called after a redelivery so the dispatcher looks at once. */
  onRedeliver?: () => void;
  now?: () => number;
  /** In attendance, a drop up to this long is an interruption of one presence. */
  resumeGraceMs?: number | undefined;
}

/** The transport-neutral records API: the data, and how a transport's request becomes a principal. */
export interface RecordsHandlerOptions<R extends RecordsRequest> extends RecordsDataOptions {
  /**
   * Who is asking. Called only for a request on one of the API's routes with a supported method;
   * throws a {@link RecordsApiError} (`unauthorized`, `forbidden`) to refuse it.
   */
  principal(request: R): Promise<RecordsPrincipal>;
}

/** The gateway's options: its backend check reads the Node request (API key, or SigV4 over the raw request). */
export interface RecordsApiOptions extends RecordsDataOptions {
  /** The gateway's API-key/SigV4 check: true when the request is a backend's. */
  authenticateBackend(req: IncomingMessage): Promise<boolean>;
  /** Verifies staff JWTs sent as `Authorization: Bearer <jwt>`. */
  authorizer: Authorizer;
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

/** A refusal from the error catalogue: answered as `{code, message}` with the code's HTTP status. */
export class RecordsApiError extends Error {
  override readonly name = 'RecordsApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (principal: RecordsPrincipal, params: string[], query: URLSearchParams, request: RecordsRequest) => Promise<Answer>;
/** A JSON body, a CSV text, or nothing. */
type Answer = { status: number; body?: unknown; csv?: string };

/**
 * The records API on the gateway's Node server (docs/records.md, records-openapi.json): a thin adapter
 * over {@link createRecordsHandler}. Answers the routes it owns and returns false for any other path,
 * so the gateway can mount it in one line.
 */
export function createRecordsApi(options: RecordsApiOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const handle = createRecordsHandler<NodeRecordsRequest>({
    ...options,
    principal: credentialsPrincipal(options.authorizer, (request) => options.authenticateBackend(request.raw)),
  });
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const answer = await handle({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: flatHeaders(req), raw: req });
    if (answer === undefined) return false;
    res.writeHead(answer.status, answer.headers).end(answer.body === '' ? undefined : answer.body);
    return true;
  };
}

type NodeRecordsRequest = RecordsRequest & { raw: IncomingMessage };

function flatHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return headers;
}

/**
 * The principal as the gateway resolves it: a missing `Authorization` is `unauthorized`; a backend's
 * credential (as `isBackend` judges it) reads every room; otherwise a teacher's or assistant's JWT
 * (`Bearer <jwt>`) reads the rooms in its claims. A route that admits no backend credential passes an
 * `isBackend` that answers false.
 */
export function credentialsPrincipal<R extends RecordsRequest>(authorizer: Authorizer, isBackend: (request: R) => Promise<boolean>): (request: R) => Promise<RecordsPrincipal> {
  return async (request) => {
    const header = request.headers.authorization;
    if (header === undefined || header.length === 0) throw new RecordsApiError('unauthorized', 'missing Authorization header');
    if (await isBackend(request)) return { kind: 'backend' };
    const token = header.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (token === undefined || token.split('.').length !== 3) throw new RecordsApiError('forbidden', 'invalid credentials');
    try {
      const claims = await authorizer.authorize(token);
      if (!isStaff(claims.role)) throw new RecordsApiError('forbidden', 'records are for staff');
      return { kind: 'staff', mayRead: (room) => mayJoinRoom(claims, room) };
    } catch (error) {
      if (error instanceof AuthError) throw new RecordsApiError('unauthorized', error.message);
      throw error;
    }
  };
}

/**
 * The records API without a transport: routing, authentication (through `options.principal`),
 * validation and answers. Resolves undefined for a path the API does not own; everything else is an
 * answer (`{code, message}` from the catalogue): a refusal, `503 unavailable` when a store cannot be
 * reached, `500 internal` for a bug (see {@link recordsFailureResponse}). It never rejects.
 */
export function createRecordsHandler<R extends RecordsRequest>(options: RecordsHandlerOptions<R>): (request: R) => Promise<RecordsResponse | undefined> {
  const { store } = options;
  const routes: { method: string; pattern: RegExp; handle: Handler }[] = [
    {
      method: 'GET',
      pattern: /^\/classes$/,
      handle: async (principal, _params, query) => {
        const filter = parse(classesQuery, query);
        if (principal.kind === 'staff') {
          if (filter.room === undefined) throw new RecordsApiError('forbidden', 'a staff token must name the room');
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
      handle: async (principal, [id], _query, request) => {
        const found = await findClass(store, principal, id!);
        const attendance = await computeAttendance(store.db, found.id, { graceMs: options.resumeGraceMs });
        if (attendance === undefined) throw new RecordsApiError('not_found', 'no such class');
        return wantsCsv(request) ? { status: 200, csv: attendanceCsv(attendance) } : { status: 200, body: attendance };
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
        if (principal.kind !== 'backend') throw new RecordsApiError('forbidden', 'erasure is for the school backend');
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
        if (!(await store.redeliver(letter, (options.now ?? Date.now)()))) throw new RecordsApiError('not_found', 'no such dead letter');
        options.onRedeliver?.();
        return { status: 202, body: { id: letter, redelivering: true } };
      },
    },
  ];
  function webhookStore(principal: RecordsPrincipal): WebhookDeadLetters {
    if (principal.kind !== 'backend') throw new RecordsApiError('forbidden', 'webhooks are for the school backend');
    if (options.deadLetters === undefined) throw new RecordsApiError('not_found', 'webhooks are not configured here');
    return options.deadLetters;
  }

  return async (request) => {
    const onPath = routes.filter((route) => route.pattern.test(request.path));
    if (onPath.length === 0) return undefined;
    try {
      const route = onPath.find((candidate) => candidate.method === request.method);
      // The route table is the one list of what a path serves: the 405's Allow comes from it.
      if (route === undefined) return recordsMethodNotAllowed(request.method, onPath.map((candidate) => candidate.method));
      const params = route.pattern.exec(request.path)!.slice(1).map(decodeSegment);
      const principal = await options.principal(request);
      const answer = await route.handle(principal, params, request.query, request);
      if (answer.csv !== undefined) {
        return { status: answer.status, headers: { 'content-type': 'text/csv; charset=utf-8', 'content-length': String(Buffer.byteLength(answer.csv)), 'cache-control': 'no-store' }, body: answer.csv };
      }
      if (answer.body === undefined) return { status: answer.status, headers: { 'cache-control': 'no-store' }, body: '' };
      return jsonResponse(answer.status, answer.body);
    } catch (error) {
      if (error instanceof RecordsApiError) return recordsErrorResponse(error.code, error.message);
      return recordsFailureResponse(error, options.logger, { method: request.method, path: request.path });
    }
  };
}

/**
 * The answer to a records request that failed with something other than a refusal, the same on every
 * runtime: a store that cannot be reached ({@link isStoreUnreachable}) is `503 unavailable` with
 * `Retry-After`, logged as a warning (an outage, not a fault here); anything else is a bug, `500
 * internal`, logged as an error. The message never carries the error's own text.
 */
export function recordsFailureResponse(error: unknown, logger: RecordsFailureLogger, details: object): RecordsResponse {
  if (isStoreUnreachable(error)) {
    logger.warn({ ...details, err: error }, 'records API request refused: a store is unreachable');
    return recordsErrorResponse('unavailable', 'class records are unavailable; retry later');
  }
  logger.error({ ...details, err: error }, 'records API request failed');
  return recordsErrorResponse('internal', 'internal error');
}

/**
 * An error answer in the catalogue's shape, `{code, message}`, with the code's HTTP status; an
 * `unavailable` one carries `Retry-After` (core's `retryAfterHeaders`, as the gateway's other routes).
 */
export function recordsErrorResponse(code: ErrorCode, message: string): RecordsResponse {
  const response = jsonResponse(ERROR_CODES[code].httpStatus, { code, message });
  Object.assign(response.headers, retryAfterHeaders(code));
  return response;
}

/** A path of the API called with a method it does not serve: 405 with `Allow` (core's `methodNotAllowed`, as the gateway's routes). */
function recordsMethodNotAllowed(method: string, allowed: readonly string[]): RecordsResponse {
  const answer = methodNotAllowed(method, allowed);
  const response = jsonResponse(answer.status, answer.body);
  Object.assign(response.headers, answer.headers);
  return response;
}

function mayReadPrivate(principal: RecordsPrincipal): boolean {
  return principal.kind === 'backend' || principal.kind === 'staff';
}

/** CSV when the client asks for it (`Accept: text/csv`), JSON otherwise. */
function wantsCsv(request: RecordsRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.split(',').some((part) => part.split(';')[0]!.trim().toLowerCase() === 'text/csv');
}

function requireRoom(principal: RecordsPrincipal, room: string): void {
  if (room.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(room)) throw new RecordsApiError('bad_request', 'invalid room name');
  if (principal.kind === 'staff' && !principal.mayRead(room)) throw new RecordsApiError('forbidden', 'the token does not allow this room');
}

async function findClass(store: RecordsStore, principal: RecordsPrincipal, rawId: string): Promise<ClassRow> {
  const found = await store.getClass(parse(classId, rawId));
  // A staff member learns nothing of classes in rooms they may not read.
  if (found === undefined || (principal.kind === 'staff' && !principal.mayRead(found.room))) throw new RecordsApiError('not_found', 'no such class');
  return found;
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input instanceof URLSearchParams ? Object.fromEntries(input) : input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new RecordsApiError('bad_request', `${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RecordsApiError('bad_request', 'invalid path');
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

function jsonResponse(status: number, body: unknown): RecordsResponse {
  const text = JSON.stringify(body);
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' }, body: text };
}
