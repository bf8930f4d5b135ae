import { createHash, createHmac } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { NewWebhookOutbox, RecordsDatabase } from './schema.js';
import type { ClassTransition, RecordedEntry, RecordHook } from './store.js';
import { matchesPattern, type WebhookEndpoint } from './webhooks-config.js';

/** One attendee of a class as `class.ended` reports it. */
export interface AttendeeSummary {
  userId: string;
  name: string;
  role: string;
  /** Epoch ms. */
  firstJoin: number;
  /** Epoch ms; null when still present when the class ended. */
  lastLeave: number | null;
  /** Minutes present, one decimal (the records' attendance: drops within the resume grace bridged). */
  minutesPresent: number;
  /** Drops shorter than the resume grace, bridged into one presence. */
  interruptions: number;
  /** Connections lost (`disconnected`, `reaped`) rather than left. */
  disconnects: number;
}

export interface AttendanceSummary {
  attendees: AttendeeSummary[];
}

/**
 * Computes the attendance summary `class.ended` carries, inside the recorder's transaction (so the
 * class's last presence events, written in the same batch, count).
 */
export type AttendanceSummaryFn = (db: Kysely<RecordsDatabase>, classId: number) => Promise<AttendanceSummary>;

/** A webhook about to be enqueued: the Standard Webhooks payload `{type, timestamp, data}`. */
export interface WebhookEvent {
  /** Stable across re-records and retries: derived from the room log position and the type. */
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  /** For `message.published`: the room event it carries, which the endpoint's patterns filter. */
  roomEvent?: string;
}

interface PresenceData {
  userId?: unknown;
  name?: unknown;
  role?: unknown;
  reason?: unknown;
}

/** The webhook id of the event of `type` made from the log message at (room, epoch, seq), or of a class (room, 'class', id). */
export function webhookId(room: string, epoch: string, seq: number, type: string): string {
  const digest = createHash('sha256').update(`${room}\u0000${epoch}\u0000${seq}\u0000${type}`).digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}

/**
 * The webhooks one recorded event makes: its class transition, a presence change, a moderation action,
 * and (for endpoints that opted in) the message itself.
 */
export async function webhookEventsFor(trx: Kysely<RecordsDatabase>, recorded: RecordedEntry, attendance: AttendanceSummaryFn, withMessages: boolean): Promise<WebhookEvent[]> {
  const { room, epoch, entry, classId } = recorded;
  const timestamp = new Date(entry.ts).toISOString();
  const make = (type: string, data: Record<string, unknown>, roomEvent?: string): WebhookEvent => ({ id: webhookId(room, epoch, entry.seq, type), type, timestamp, data, roomEvent });
  const events: WebhookEvent[] = [];
  const classKey = classId === null ? null : String(classId);
  for (const transition of recorded.transitions) events.push(await classWebhook(trx, room, transition, attendance));
  if (entry.event === 'presence.join' || entry.event === 'presence.leave') {
    const data = (entry.data ?? {}) as PresenceData;
    const member = { room, classId: classKey, userId: asText(data.userId), name: asText(data.name), role: asText(data.role), at: entry.ts };
    if (entry.event === 'presence.join') events.push(make('member.joined', member));
    else events.push(make('member.left', { ...member, reason: typeof data.reason === 'string' ? data.reason : null }));
  } else if (entry.event.startsWith('moderation.')) {
    events.push(make(entry.event, { room, classId: classKey, at: entry.ts, by: entry.from ?? null, action: entry.data }));
  }
  if (withMessages) events.push(make('message.published', { room, classId: classKey, epoch, seq: entry.seq, ts: entry.ts, event: entry.event, data: entry.data, from: entry.from ?? null }, entry.event));
  return events;
}

/**
 * `class.started` or `class.ended` (with the attendance summary). Its id is derived from the class, not
 * from a log position: a class a first join started ends for idleness, with no event to point at.
 */
async function classWebhook(trx: Kysely<RecordsDatabase>, room: string, transition: ClassTransition, attendance: AttendanceSummaryFn): Promise<WebhookEvent> {
  const type = transition.kind === 'started' ? 'class.started' : 'class.ended';
  const id = webhookId(room, 'class', transition.classId, type);
  const classKey = String(transition.classId);
  const timestamp = new Date(transition.at).toISOString();
  if (transition.kind === 'started') return { id, type, timestamp, data: { classId: classKey, room, startedAt: transition.at, startedBy: transition.by } };
  const row = await trx.selectFrom('classes').select(['started_at', 'started_by']).where('id', '=', transition.classId).executeTakeFirst();
  const summary = await attendance(trx, transition.classId);
  return {
    id,
    type,
    timestamp,
    data: { classId: classKey, room, startedAt: row?.started_at ?? null, startedBy: row?.started_by ?? null, endedAt: transition.at, endedBy: transition.by, attendance: summary },
  };
}

function asText(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Whether `endpoint` wants `event`: its type patterns, and for messages its room event patterns. */
export function endpointWants(endpoint: WebhookEndpoint, event: WebhookEvent): boolean {
  if (!endpoint.events.some((pattern) => matchesPattern(pattern, event.type))) return false;
  if (event.type !== 'message.published') return true;
  return endpoint.messages.some((pattern) => matchesPattern(pattern, event.roomEvent ?? ''));
}

/** The body sent (and signed): fixed at enqueue time so every attempt is byte-identical. */
export function webhookBody(event: WebhookEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's decoded bytes. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** Rows per outbox insert statement. */
const OUTBOX_CHUNK = 200;

/**
 * Writes the outbox in the recorder's transaction (so a webhook exists exactly when its record does)
 * and wakes the dispatcher after the commit.
 */
export class WebhookOutbox implements RecordHook {
  /** Whether any endpoint opted in to `message.published` (otherwise no event is built for it). */
  private readonly withMessages: boolean;

  constructor(
    private readonly endpoints: readonly WebhookEndpoint[],
    private readonly attendance: AttendanceSummaryFn,
    private readonly wake: () => void,
  ) {
    this.withMessages = endpoints.some((endpoint) => endpoint.messages.length > 0);
  }

  async inTransaction(trx: Transaction<RecordsDatabase>, recorded: readonly RecordedEntry[], now: number): Promise<boolean> {
    const events: WebhookEvent[] = [];
    for (const item of recorded) events.push(...(await webhookEventsFor(trx, item, this.attendance, this.withMessages)));
    return this.enqueue(trx, events, now);
  }

  async classEndedIdle(trx: Transaction<RecordsDatabase>, room: string, transition: ClassTransition, now: number): Promise<boolean> {
    return this.enqueue(trx, [await classWebhook(trx, room, transition, this.attendance)], now);
  }

  private async enqueue(trx: Transaction<RecordsDatabase>, events: readonly WebhookEvent[], now: number): Promise<boolean> {
    const rows: NewWebhookOutbox[] = [];
    for (const event of events) {
      for (const endpoint of this.endpoints) {
        if (!endpointWants(endpoint, event)) continue;
        rows.push({ endpoint: endpoint.name, message_id: event.id, type: event.type, body: webhookBody(event), created_at: now, retry_from: now, next_attempt_at: now });
      }
    }
    for (let i = 0; i < rows.length; i += OUTBOX_CHUNK) {
      await trx
        .insertInto('webhook_outbox')
        .values(rows.slice(i, i + OUTBOX_CHUNK))
        .onConflict((conflict) => conflict.constraint('webhook_outbox_message').doNothing())
        .execute();
    }
    return rows.length > 0;
  }

  afterCommit(): void {
    this.wake();
  }
}

/** A dead letter as the API lists it. */
export interface DeadLetter {
  id: number;
  endpoint: string;
  messageId: string;
  type: string;
  createdAt: number;
  deadAt: number;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  payload: unknown;
}

/** The dead-letter queries behind `GET /webhooks/dead-letters` and its redelivery. */
export class WebhookDeadLetters {
  constructor(private readonly db: Kysely<RecordsDatabase>) {}

  /** Dead letters in id order after `after`, optionally of one endpoint. */
  async list(filter: { after: number; limit: number; endpoint?: string | undefined }): Promise<DeadLetter[]> {
    let query = this.db.selectFrom('webhook_outbox').selectAll().where('dead_at', 'is not', null).where('id', '>', filter.after).orderBy('id').limit(filter.limit);
    if (filter.endpoint !== undefined) query = query.where('endpoint', '=', filter.endpoint);
    const rows = await query.execute();
    return rows.map((row) => ({
      id: row.id,
      endpoint: row.endpoint,
      messageId: row.message_id,
      type: row.type,
      createdAt: row.created_at,
      deadAt: row.dead_at ?? 0,
      attempts: row.attempts,
      lastStatus: row.last_status,
      lastError: row.last_error,
      payload: JSON.parse(row.body) as unknown,
    }));
  }

  /**
   * Puts a dead letter back in the outbox, due now, with a fresh retry window and the same webhook id
   * (a receiver that did process it after all de-duplicates). False when there is no such dead letter.
   */
  async redeliver(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_outbox')
      .set({ dead_at: null, attempts: 0, retry_from: now, next_attempt_at: now })
      .where('id', '=', id)
      .where('dead_at', 'is not', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
