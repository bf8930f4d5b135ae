import { sql, type Kysely, type Transaction } from 'kysely';
import type { PrivateTail } from '@classwire/core';
import type { PollTally, PollView } from '@classwire/protocol';
import { drivesState, RecordingState, type OpenClass } from './class-tracker.js';
import type { ClassRow, GapRow, NewRecordGap, RecordEventRow, RecordsDatabase } from './schema.js';

export interface Cursor {
  epoch: string;
  seq: number;
}

/** One message of the live log, parsed from its stored frame. */
export interface LogEntry {
  seq: number;
  ts: number;
  event: string;
  readonly data: unknown;
  readonly from: { userId: string; name: string; role: string } | undefined;
  /**
   * The stored frame's JSON text, when the entry was read from the log: it is written to the database as
   * it is (the database takes `ts`, `event`, `data` and `from` out of it), so the recorder never builds
   * a message's JSON again, and parses `data` only for the events it acts on.
   */
  readonly frame?: string;
}

export interface Gap {
  epoch: string;
  fromSeq: number;
  toSeq: number | null;
}

/**
 * What a recording writes for one room: its new cursor and its events, each as the JSON text
 * `[seq,classId,frame]` (`frame`: the stored frame, or an object with the same `ts`, `event`, `data`,
 * `from`), joined into the statement's one parameter without parsing or re-encoding a message.
 */
interface RoomWrite {
  room: string;
  epoch: string;
  seq: number;
  events: string[];
}

/** A room's recorded cursor and open class, as the recording transaction reads them (null: none yet). */
interface RoomPosition {
  room: string;
  epoch: string | null;
  seq: number | null;
  class_id: number | null;
  auto: boolean | null;
  empty_since: number | null;
}

/** Reads what a room's live log holds after `cursor` (undefined: nothing to record). */
export type LogReader = (room: string, cursor: Cursor | undefined) => Promise<RoomLog | undefined>;

/** What one room adds to a recording: the gaps found and the entries read after its cursor, in `epoch`. */
export interface RoomLog {
  room: string;
  epoch: string;
  gaps: readonly Gap[];
  entries: readonly LogEntry[];
}

/** A class starting or ending as the recorder writes an event (a class can end and another start at one event). */
export interface ClassTransition {
  kind: 'started' | 'ended';
  classId: number;
  /** When it started or ended: the event's time, or for a class a first join started, when its room emptied. */
  at: number;
  /** Who started or ended it: the author of `class.start`/`class.end`; null for a first join or idleness. */
  by: string | null;
}

/** One event as the recorder wrote it: its class, and the class transitions it made. */
export interface RecordedEntry {
  room: string;
  epoch: string;
  entry: LogEntry;
  classId: number | null;
  transitions: readonly ClassTransition[];
}

/**
 * Work that must commit or roll back with the recorded events (the webhook outbox): `inTransaction`
 * runs in the recorder's transaction after the events are written and says whether it wrote anything;
 * `classEndedIdle` likewise when a class a first join started ends for idleness (no event marks that);
 * `afterCommit` is then called once the transaction committed.
 */
export interface RecordHook {
  inTransaction(trx: Transaction<RecordsDatabase>, recorded: readonly RecordedEntry[], now: number): Promise<boolean>;
  classEndedIdle(trx: Transaction<RecordsDatabase>, room: string, transition: ClassTransition, now: number): Promise<boolean>;
  afterCommit(): void;
}

/** What one recording transaction wrote (for the metrics): log messages, and gaps found. */
export interface RecordingWritten {
  events: number;
  gaps: number;
}

export interface RecordsStoreOptions {
  /** How long a room with a class started by a first join may stay empty before that class ends. */
  idleMs?: number | undefined;
  /** How long a room whose class a teacher started may stay empty before that class ends (no `class.end` came). */
  startedIdleMs?: number | undefined;
  /** Runs in each recording transaction (the webhook outbox). */
  hook?: RecordHook | undefined;
}

const NO_TRANSITIONS: readonly ClassTransition[] = [];

/** The records' event for a poll's final results (staff-only, not a room event: answers never enter the log). */
export const POLL_RESULTS_EVENT = 'poll.results';

/** The records' event for private messages that left the room's tail before they were recorded. */
export const PRIVATE_LOST_EVENT = 'chat.private.lost';

/** An entry's JSON for the database: the stored frame as it is, or one built from the entry's fields. */
function storableFrame(entry: LogEntry): string {
  return storableJson(entry.frame ?? JSON.stringify({ ts: entry.ts, event: entry.event, data: entry.data ?? null, from: entry.from }));
}

/**
 * JSON text that Postgres's jsonb accepts: it refuses the escapes `\u0000` and lone surrogates (which
 * `JSON.stringify` writes for a string holding them), so those become `\ufffd`. Without this, one such
 * message would make every recording of its room fail. Escaped backslashes are skipped, so text that
 * merely reads `\u0000` is kept.
 */
export function storableJson(json: string): string {
  if (!UNSTORABLE_HINT.test(json)) return json;
  let out = '';
  let copied = 0;
  for (let i = 0; i < json.length; i++) {
    if (json.charCodeAt(i) !== BACKSLASH) continue;
    if (json[i + 1] !== 'u') {
      i += 1;
      continue;
    }
    const code = Number.parseInt(json.slice(i + 2, i + 6), 16);
    if (code >= 0xd800 && code <= 0xdbff && json.startsWith('\\u', i + 6)) {
      const low = Number.parseInt(json.slice(i + 8, i + 12), 16);
      if (low >= 0xdc00 && low <= 0xdfff) {
        i += 11;
        continue;
      }
    }
    if (code === 0 || (code >= 0xd800 && code <= 0xdfff)) {
      out += `${json.slice(copied, i)}\\ufffd`;
      copied = i + 6;
    }
    i += 5;
  }
  return out + json.slice(copied);
}

const BACKSLASH = 0x5c;
/** Cheap test for text that may hold an escape jsonb refuses. */
const UNSTORABLE_HINT = /\\u(?:0000|[dD][89a-fA-F])/;

/** The id of the room's class in progress at `ts` (the latest started by then and not ended before), or null. */
async function classInProgress(trx: Transaction<RecordsDatabase>, room: string, ts: number): Promise<number | null> {
  const during = await trx
    .selectFrom('classes')
    .select('id')
    .where('room', '=', room)
    .where('started_at', '<=', ts)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', ts)]))
    .orderBy('started_at', 'desc')
    .executeTakeFirst();
  return during?.id ?? null;
}

/** Rows per insert statement: bounds one statement's parameters (Postgres allows 65,535). */
const INSERT_CHUNK = 500;

/** How long a room with a class started by a first join may stay empty before that class ends. */
export const DEFAULT_IDLE_MS = 5 * 60 * 1000;

/**
 * How long a room may stay empty before a class a teacher started ends without `class.end`: a teacher
 * who forgets to end a class would otherwise leave it open for ever (and every later lesson in the room
 * inside it).
 */
export const DEFAULT_STARTED_IDLE_MS = 24 * 60 * 60 * 1000;

/** The recorder's writes and the API's reads; the only SQL of the package (with `attendance.ts`). */
export class RecordsStore {
  private readonly idleMs: number;
  readonly startedIdleMs: number;
  private readonly hook: RecordHook | undefined;

  constructor(
    readonly db: Kysely<RecordsDatabase>,
    options: RecordsStoreOptions = {},
  ) {
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.startedIdleMs = options.startedIdleMs ?? DEFAULT_STARTED_IDLE_MS;
    this.hook = options.hook;
  }

  async cursor(room: string): Promise<Cursor | undefined> {
    return this.db.selectFrom('record_cursors').select(['epoch', 'seq']).where('room', '=', room).executeTakeFirst();
  }

  /** The recorded cursors of `rooms` (one query); a room never recorded has none. */
  async cursors(rooms: readonly string[]): Promise<Map<string, Cursor>> {
    if (rooms.length === 0) return new Map();
    const rows = await this.db.selectFrom('record_cursors').select(['room', 'epoch', 'seq']).where('room', 'in', rooms).execute();
    return new Map(rows.map((row) => [row.room, { epoch: row.epoch, seq: row.seq }]));
  }

  /** Records gaps and entries of one room and moves its cursor, in one transaction (see `recordRooms`). */
  async record(room: string, epoch: string, gaps: readonly Gap[], entries: readonly LogEntry[], now: number): Promise<void> {
    await this.recordRooms([{ room, epoch, gaps, entries }], now);
  }

  /**
   * Records the gaps and entries of several rooms and moves their cursors, in one transaction and a
   * fixed number of statements (a drain's cost no longer grows by a transaction per room). Entries at
   * or below a room's stored cursor are skipped under the room's lock, so two writers of the same batch
   * record it once (class transitions included); the unique (room, epoch, seq) is the last line of defence.
   */
  async recordRooms(logs: readonly RoomLog[], now: number): Promise<RecordingWritten> {
    return this.recordLocked(
      logs.map((log) => log.room),
      () => Promise.resolve(logs),
      now,
    );
  }

  /**
   * Records what `read` finds after each room's cursor, read under the rooms' locks in the same
   * transaction: the cursors are exact (no second query before it, and no read from a cursor another
   * writer has since moved), at the price of holding the locks while the logs are read.
   */
  async recordFrom(rooms: readonly string[], read: LogReader, now: number): Promise<RecordingWritten> {
    return this.recordLocked(
      rooms,
      async (cursors) => (await Promise.all(rooms.map((room) => read(room, cursors.get(room))))).filter((log): log is RoomLog => log !== undefined),
      now,
    );
  }

  private async recordLocked(rooms: readonly string[], logsAfter: (cursors: ReadonlyMap<string, Cursor>) => Promise<readonly RoomLog[]>, now: number): Promise<RecordingWritten> {
    if (rooms.length === 0) return { events: 0, gaps: 0 };
    if (new Set(rooms).size !== rooms.length) throw new Error('recordRooms: each room at most once per transaction');
    const { wroteHook, written } = await this.db.transaction().execute(async (trx) => {
      // One writer per room at a time, even before the room has a cursor row: a second writer then sees
      // the first one's cursor and skips its entries (no second class, no second webhook). Every writer
      // takes its locks in ascending key order, so two writers of overlapping rooms cannot deadlock.
      await sql`select pg_advisory_xact_lock(key) from (select distinct hashtext(name) as key from unnest(cast(${rooms} as text[])) as rooms(name)) as keys order by key`.execute(trx);
      // Where each room's recording stands and its open class, in one read after the locks.
      const current = await sql<RoomPosition>`select wanted.room, cursor.epoch, cursor.seq, open.id as class_id, open.auto, open.empty_since
        from unnest(cast(${rooms} as text[])) as wanted(room)
        left join record_cursors as cursor on cursor.room = wanted.room
        left join classes as open on open.room = wanted.room and open.ended_at is null`.execute(trx);
      const cursors = new Map<string, Cursor>();
      for (const row of current.rows) if (row.epoch !== null && row.seq !== null) cursors.set(row.room, { epoch: row.epoch, seq: row.seq });
      const logs = await logsAfter(cursors);
      if (logs.some((log) => !rooms.includes(log.room))) throw new Error('recordRooms: a log of a room not locked');
      const fresh = new Map<string, LogEntry[]>();
      const gapRows: NewRecordGap[] = [];
      const written = new Map<string, RoomWrite>();
      for (const { room, epoch, gaps, entries } of logs) {
        const cursor = cursors.get(room);
        const after = cursor?.epoch === epoch ? cursor.seq : 0;
        const unrecorded = entries.filter((entry) => entry.seq > after);
        if (unrecorded.length > 0) fresh.set(room, unrecorded);
        for (const gap of gaps) gapRows.push({ room, epoch: gap.epoch, from_seq: gap.fromSeq, to_seq: gap.toSeq, detected_at: now });
        const last = unrecorded.at(-1)?.seq ?? Math.max(after, ...gaps.filter((gap) => gap.epoch === epoch).map((gap) => gap.toSeq ?? 0));
        written.set(room, { room, epoch, seq: last, events: [] });
      }
      for (let i = 0; i < gapRows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('record_gaps')
          .values(gapRows.slice(i, i + INSERT_CHUNK))
          .onConflict((conflict) => conflict.constraint('record_gaps_position').doNothing())
          .execute();
      }
      const openClasses = new Map<string, OpenClass>();
      for (const row of current.rows) if (row.class_id !== null) openClasses.set(row.room, { id: row.class_id, auto: row.auto!, emptySince: row.empty_since });
      const state = await RecordingState.load(trx, { auto: this.idleMs, started: this.startedIdleMs }, fresh, openClasses);
      const recorded: RecordedEntry[] = [];
      for (const { room, epoch } of logs) {
        const tracker = fresh.has(room) ? state.tracker(room) : undefined;
        const events = written.get(room)!.events;
        for (const entry of fresh.get(room) ?? []) {
          const drives = drivesState(entry);
          if (drives) await tracker!.before(entry);
          const classId = tracker!.currentId;
          events.push(`[${entry.seq},${classId ?? 'null'},${storableFrame(entry)}]`);
          if (drives) tracker!.after(entry);
          recorded.push({ room, epoch, entry, classId, transitions: drives ? tracker!.takeTransitions() : NO_TRANSITIONS });
        }
      }
      await state.flush();
      await writeEventsAndCursors(trx, [...written.values()]);
      const wroteHook = this.hook !== undefined && recorded.length > 0 ? await this.hook.inTransaction(trx, recorded, now) : false;
      return { wroteHook, written: { events: recorded.length, gaps: gapRows.length } };
    });
    if (wroteHook) this.hook?.afterCommit();
    return written;
  }

  /**
   * Records polls' final results, once per poll and epoch (`private_id` `poll:<epoch>:<id>`, so staff-only
   * like private messages): event `poll.results` at `ts`, in the class in progress when the poll opened,
   * with the question, options, counts and, unless the poll is anonymous, each voter's choices. Under the
   * room's lock, so a class transition being recorded meanwhile is seen whole.
   */
  async recordPolls(room: string, epoch: string, results: readonly { poll: PollView; tally: PollTally; ts: number }[]): Promise<number> {
    if (results.length === 0) return 0;
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${room}))`.execute(trx);
      let inserted = 0;
      for (const { poll, tally, ts } of results) {
        const data = { ...poll, counts: tally.counts, respondents: tally.respondents, correct: tally.correct, voters: tally.voters };
        const result = await trx
          .insertInto('record_events')
          .values({
            room,
            epoch,
            seq: null,
            private_id: `poll:${epoch}:${poll.id}`,
            ts,
            event: POLL_RESULTS_EVENT,
            data: storableJson(JSON.stringify(data)),
            author_id: null,
            author_name: null,
            author_role: 'server',
            class_id: await classInProgress(trx, room, poll.openedAt ?? ts),
          })
          .onConflict((conflict) => conflict.columns(['room', 'private_id']).where('private_id', 'is not', null).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (result !== undefined) inserted += 1;
      }
      return inserted;
    });
  }

  /**
   * Records private messages (not in the log, so keyed by their entry id: each once, however often the
   * tail is read), each in the class that was in progress at its time. The tail is read under the room's
   * lock (`read`), with the count of private messages its epoch has stored: the messages counted since the
   * last private recording (`private_counts`) that the tail no longer holds left it unrecorded, and
   * become one staff-only `chat.private.lost` row, so the loss is recorded rather than hidden.
   */
  async recordPrivate(room: string, read: () => Promise<PrivateTail>, now: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${room}))`.execute(trx);
      const { epoch, entries, stored } = await read();
      const known =
        entries.length === 0
          ? []
          : await trx
              .selectFrom('record_events')
              .select('private_id')
              .where('room', '=', room)
              .where('private_id', 'in', entries.map((entry) => entry.id))
              .execute();
      const recorded = new Set(known.map((row) => row.private_id));
      let inserted = 0;
      for (const entry of entries) {
        if (recorded.has(entry.id)) continue;
        const result = await trx
          .insertInto('record_events')
          .values({
            room,
            epoch,
            seq: null,
            private_id: entry.id,
            ts: entry.ts,
            event: 'chat.private',
            data: storableJson(JSON.stringify({ to: entry.to, text: entry.text })),
            author_id: entry.from.userId,
            author_name: entry.from.name,
            author_role: entry.from.role,
            class_id: await classInProgress(trx, room, entry.ts),
          })
          .onConflict((conflict) => conflict.columns(['room', 'private_id']).where('private_id', 'is not', null).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (result !== undefined) inserted += 1;
      }
      if (stored !== undefined) {
        const previous = await trx.selectFrom('private_counts').select('stored').where('room', '=', room).where('epoch', '=', epoch).executeTakeFirst();
        // Every message stored after the last recording's count and not in the tail now left it unrecorded.
        const missing = stored - (previous?.stored ?? 0) - inserted;
        if (missing > 0) {
          // Just before the oldest message the tail still held: where the lost ones were.
          const ts = entries[0]?.ts ?? now;
          await trx
            .insertInto('record_events')
            .values({
              room,
              epoch,
              seq: null,
              private_id: `lost:${epoch}:${stored}`,
              ts,
              event: PRIVATE_LOST_EVENT,
              data: JSON.stringify({ lost: missing, before: ts }),
              author_id: null,
              author_name: null,
              author_role: 'server',
              class_id: await classInProgress(trx, room, ts),
            })
            .onConflict((conflict) => conflict.columns(['room', 'private_id']).where('private_id', 'is not', null).doNothing())
            .execute();
        }
        if (stored > (previous?.stored ?? 0)) {
          await trx
            .insertInto('private_counts')
            .values({ room, epoch, stored, recorded_at: now })
            .onConflict((conflict) => conflict.columns(['room', 'epoch']).doUpdateSet({ stored, recorded_at: now }))
            .execute();
        }
      }
      return inserted;
    });
  }

  async listClasses(filter: { room?: string | undefined; from?: number | undefined; to?: number | undefined; limit: number }): Promise<ClassRow[]> {
    let query = this.db.selectFrom('classes').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').limit(filter.limit);
    if (filter.room !== undefined) query = query.where('room', '=', filter.room);
    if (filter.from !== undefined) query = query.where('started_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('started_at', '<', filter.to);
    return query.execute();
  }

  /** Open classes whose room has been empty since before `emptyBefore` (a first join's) or `startedEmptyBefore` (a teacher's). */
  async idleClasses(emptyBefore: number, startedEmptyBefore: number): Promise<{ id: number; room: string; emptySince: number }[]> {
    const rows = await this.db
      .selectFrom('classes')
      .select(['id', 'room', 'empty_since'])
      .where('ended_at', 'is', null)
      .where((eb) =>
        eb.or([
          eb.and([eb('auto', '=', true), eb('empty_since', '<=', emptyBefore)]),
          eb.and([eb('auto', '=', false), eb('empty_since', '<=', startedEmptyBefore)]),
        ]),
      )
      // A fixed order: a sweep's rooms (and the failures it reports) come in the same order every run.
      .orderBy('room')
      .orderBy('id')
      .execute();
    return rows.map((row) => ({ id: row.id, room: row.room, emptySince: row.empty_since! }));
  }

  /**
   * Ends an idle class at the time its room emptied, unless the recorder saw a join meanwhile: under the
   * room's cursor lock, so it never interleaves with a recording of the same room.
   */
  async endIdleClass(room: string, id: number, emptySince: number, now: number): Promise<boolean> {
    let wroteHook = false;
    const ended = await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${room}))`.execute(trx);
      await trx.selectFrom('record_cursors').select('seq').where('room', '=', room).forUpdate().executeTakeFirst();
      const result = await trx
        .updateTable('classes')
        .set({ ended_at: emptySince })
        .where('id', '=', id)
        .where('ended_at', 'is', null)
        .where('empty_since', '=', emptySince)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      if (this.hook !== undefined) wroteHook = await this.hook.classEndedIdle(trx, room, { kind: 'ended', classId: id, at: emptySince, by: null }, now);
      return true;
    });
    if (wroteHook) this.hook?.afterCommit();
    return ended;
  }

  /** Who the recorded events say is in a room, for every room (`room_presence`). */
  async recordedPresence(): Promise<{ room: string; userId: string; name: string; role: string }[]> {
    const rows = await this.db.selectFrom('room_presence').select(['room', 'user_id', 'name', 'role']).orderBy('room').orderBy('user_id').execute();
    return rows.map((row) => ({ room: row.room, userId: row.user_id, name: row.name, role: row.role }));
  }

  /** Rooms with a class in progress: where a node that died may have left messages unrecorded. */
  async roomsWithOpenClasses(): Promise<string[]> {
    const rows = await this.db.selectFrom('classes').select('room').where('ended_at', 'is', null).execute();
    return rows.map((row) => row.room);
  }

  async getClass(id: number): Promise<ClassRow | undefined> {
    return this.db.selectFrom('classes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Staff who published in the class: its teachers and assistants. */
  async staffOf(classId: number): Promise<{ userId: string; name: string; role: string }[]> {
    const rows = await this.db
      .selectFrom('record_events')
      .select(['author_id', 'author_name', 'author_role'])
      .distinct()
      .where('class_id', '=', classId)
      .where('author_role', 'in', ['teacher', 'assistant'])
      .where('erased', '=', false)
      .orderBy('author_id')
      .execute();
    return rows.map((row) => ({ userId: row.author_id ?? '', name: row.author_name ?? '', role: row.author_role ?? '' }));
  }

  /**
   * A page of a class's transcript, in recorded order, after the event `after` (its id). Private
   * messages only when `includePrivate` (staff and the school's backend).
   */
  async transcript(classId: number, after: number, limit: number, includePrivate: boolean): Promise<RecordEventRow[]> {
    let query = this.db.selectFrom('record_events').selectAll().where('class_id', '=', classId).where('id', '>', after);
    if (!includePrivate) query = query.where('private_id', 'is', null);
    return query.orderBy('id').limit(limit).execute();
  }

  async gaps(room: string): Promise<GapRow[]> {
    return this.db.selectFrom('record_gaps').selectAll().where('room', '=', room).orderBy('id').execute();
  }

  async roomEvents(room: string): Promise<RecordEventRow[]> {
    return this.db.selectFrom('record_events').selectAll().where('room', '=', room).orderBy('id').execute();
  }

  /** Deletes a class and its transcript; false when there was no such class. */
  async deleteClass(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('classes').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * Erases a user's personal data: their name and id leave every event they authored, and the content
   * too unless `keepMessages` (the school's choice to keep them as "removed user"). Returns the count.
   */
  async eraseUser(userId: string, keepMessages: boolean): Promise<number> {
    const result = await this.db
      .updateTable('record_events')
      .set(keepMessages ? { author_id: null, author_name: null, erased: true } : { author_id: null, author_name: null, erased: true, data: null })
      .where('author_id', '=', userId)
      .executeTakeFirst();
    // Poll results name their voters: the user leaves the list (the counts, which name nobody, stay).
    await sql`update record_events
      set data = jsonb_set(data, '{voters}', coalesce((select jsonb_agg(voter) from jsonb_array_elements(data->'voters') as voter where voter->>'userId' <> ${userId}), '[]'::jsonb))
      where event = ${POLL_RESULTS_EVENT} and data->'voters' @> jsonb_build_array(jsonb_build_object('userId', cast(${userId} as text)))`.execute(this.db);
    await this.db.updateTable('classes').set({ started_by: null }).where('started_by', '=', userId).execute();
    await this.db.deleteFrom('attendance').where('user_id', '=', userId).execute();
    return Number(result.numUpdatedRows);
  }

  /**
   * The newest `limit` events of a room's epoch below seq `before`, oldest first, without private
   * messages: a member's history beyond the live log (`HistoryArchive`).
   */
  async eventsBefore(room: string, epoch: string, before: number, limit: number): Promise<(RecordEventRow & { seq: number })[]> {
    const rows = await this.db
      .selectFrom('record_events')
      .selectAll()
      .where('room', '=', room)
      .where('epoch', '=', epoch)
      .where('seq', 'is not', null)
      .where('seq', '<', before)
      .where('event', '!=', 'chat.private')
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().filter((row): row is RecordEventRow & { seq: number } => row.seq !== null);
  }

  /**
   * Retention: deletes classes that ended, events and gaps recorded, and webhooks dead-lettered, before
   * `before` (epoch ms). A large backlog (retention turned on over years of records) goes in short
   * statements of at most `batch` rows, each its own transaction, so none holds locks or runs for long;
   * every step can be repeated, so stopping part-way loses nothing. With `until` (epoch ms) it stops once
   * that time has passed and answers false: the next call goes on where this one stopped. `stopped`
   * (a shutdown) ends it the same way, at the same points: after the batch or the class in progress.
   */
  async deleteOlderThan(before: number, options: { batch?: number; until?: number; stopped?: () => boolean } = {}): Promise<boolean> {
    const batch = options.batch ?? RETENTION_BATCH_ROWS;
    const timeLeft = (): boolean => options.stopped?.() !== true && (options.until === undefined || Date.now() < options.until);
    /**
     * Runs a `delete ... where id in (select id ... limit batch)` until it deletes less than a batch (done:
     * true), or until the time is up with more to delete (false). Each call makes progress.
     */
    const inBatches = async (statement: () => Promise<bigint>): Promise<boolean> => {
      while ((await statement()) === BigInt(batch)) if (!timeLeft()) return false;
      return true;
    };
    // One ended class at a time, in id order: its events in batches, then the class (its attendance rows
    // go with it). Always past the last one, so a class something keeps from being deleted is passed over.
    let last = 0;
    for (;;) {
      const ended = await this.db.selectFrom('classes').select('id').where('ended_at', '<', before).where('id', '>', last).orderBy('id').limit(1).executeTakeFirst();
      if (ended === undefined) break;
      last = ended.id;
      const events = () => deleted(this.db.deleteFrom('record_events').where('id', 'in', (q) => q.selectFrom('record_events').select('id').where('class_id', '=', ended.id).orderBy('id').limit(batch)));
      if (!(await inBatches(events))) return false;
      await this.db.deleteFrom('classes').where('id', '=', ended.id).execute();
      if (!timeLeft()) return false;
    }
    const looseEvents = () => deleted(this.db.deleteFrom('record_events').where('id', 'in', (q) => q.selectFrom('record_events').select('id').where('ts', '<', before).where('class_id', 'is', null).limit(batch)));
    if (!(await inBatches(looseEvents))) return false;
    const gaps = () => deleted(this.db.deleteFrom('record_gaps').where('id', 'in', (q) => q.selectFrom('record_gaps').select('id').where('detected_at', '<', before).limit(batch)));
    if (!(await inBatches(gaps))) return false;
    // A count outlives its epoch's last event only while that epoch may still be live (one row per room
    // and epoch: a small table, one statement).
    await sql`delete from private_counts as counted where recorded_at < ${before}
      and not exists (select 1 from record_events as event where event.room = counted.room and event.epoch = counted.epoch)`.execute(this.db);
    // Dead letters nobody redelivered go with the records they were about.
    const deadLetters = () => deleted(this.db.deleteFrom('webhook_outbox').where('id', 'in', (q) => q.selectFrom('webhook_outbox').select('id').where('dead_at', '<', before).limit(batch)));
    return inBatches(deadLetters);
  }
}

/** Rows one retention statement deletes at most (`deleteOlderThan`). */
const RETENTION_BATCH_ROWS = 5000;

/** Runs a delete and answers how many rows it deleted. */
async function deleted(query: { executeTakeFirst(): Promise<{ numDeletedRows: bigint }> }): Promise<bigint> {
  return (await query.executeTakeFirst()).numDeletedRows;
}

/**
 * Inserts the events (each once: a position already recorded is skipped) and moves the cursors, in one
 * statement with one JSON parameter: a statement is a round trip, and one `JSON.stringify` costs the
 * event loop far less than compiling a VALUES list or escaping a Postgres array per column. The rows
 * are grouped by room and positional, so the bytes written (which the socket write costs) are mostly
 * the events' own data (measured: docs/records.md).
 */
async function writeEventsAndCursors(trx: Transaction<RecordsDatabase>, rooms: readonly RoomWrite[]): Promise<void> {
  const written = `[${rooms.map((room) => `{"room":${JSON.stringify(room.room)},"epoch":${JSON.stringify(room.epoch)},"seq":${room.seq},"events":[${room.events.join(',')}]}`).join(',')}]`;
  await sql`with recorded_rooms as (select * from jsonb_to_recordset(cast(${written} as jsonb)) as written(room text, epoch text, seq bigint, events jsonb)),
    recorded_events as (
      insert into record_events (room, epoch, seq, ts, event, data, author_id, author_name, author_role, class_id)
      select room, epoch, (event->>0)::bigint, (event->2->>'ts')::bigint, event->2->>'event', coalesce(event->2->'data', 'null'::jsonb),
        event->2->'from'->>'userId', event->2->'from'->>'name', event->2->'from'->>'role', (event->>1)::bigint
      from recorded_rooms, jsonb_array_elements(events) as event
      on conflict on constraint record_events_position do nothing
    )
    insert into record_cursors (room, epoch, seq)
    select room, epoch, seq from recorded_rooms
    on conflict (room) do update set epoch = excluded.epoch, seq = excluded.seq`.execute(trx);
}
