import { sql, type Kysely, type Transaction } from 'kysely';
import { PRESENCE_EVENTS, type PrivateEntry } from '@classwire/protocol';
import type { ClassRow, GapRow, NewRecordEvent, RecordEventRow, RecordsDatabase } from './schema.js';

export interface Cursor {
  epoch: string;
  seq: number;
}

/** One message of the live log, parsed from its stored frame. */
export interface LogEntry {
  seq: number;
  ts: number;
  event: string;
  data: unknown;
  from: { userId: string; name: string; role: string } | undefined;
}

export interface Gap {
  epoch: string;
  fromSeq: number;
  toSeq: number | null;
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

export interface RecordsStoreOptions {
  /** How long a room with a class started by a first join may stay empty before that class ends. */
  idleMs?: number | undefined;
  /** Runs in each recording transaction (the webhook outbox). */
  hook?: RecordHook | undefined;
}

/** Rows per insert statement: bounds one statement's parameters (Postgres allows 65,535). */
const INSERT_CHUNK = 500;

/** How long a room with a class started by a first join may stay empty before that class ends. */
export const DEFAULT_IDLE_MS = 5 * 60 * 1000;

/** The recorder's writes and the API's reads; the only SQL of the package (with `attendance.ts`). */
export class RecordsStore {
  private readonly idleMs: number;
  private readonly hook: RecordHook | undefined;

  constructor(
    readonly db: Kysely<RecordsDatabase>,
    options: RecordsStoreOptions = {},
  ) {
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.hook = options.hook;
  }

  async cursor(room: string): Promise<Cursor | undefined> {
    return this.db.selectFrom('record_cursors').select(['epoch', 'seq']).where('room', '=', room).executeTakeFirst();
  }

  /**
   * Records gaps and entries of one room and moves its cursor, in one transaction. Entries at or below
   * the stored cursor are skipped under a row lock, so two writers of the same batch record it once
   * (class transitions included); the unique (room, epoch, seq) is the last line of defence.
   */
  async record(room: string, epoch: string, gaps: readonly Gap[], entries: readonly LogEntry[], now: number): Promise<void> {
    const wroteHook = await this.db.transaction().execute(async (trx) => {
      // One writer per room at a time, even before the room has a cursor row to lock: a second writer
      // then sees the first one's cursor and skips its entries (no second class, no second webhook).
      await sql`select pg_advisory_xact_lock(hashtext(${room}))`.execute(trx);
      const current = await trx.selectFrom('record_cursors').select(['epoch', 'seq']).where('room', '=', room).forUpdate().executeTakeFirst();
      const after = current?.epoch === epoch ? current.seq : 0;
      const fresh = entries.filter((entry) => entry.seq > after);
      for (const gap of gaps) {
        await trx
          .insertInto('record_gaps')
          .values({ room, epoch: gap.epoch, from_seq: gap.fromSeq, to_seq: gap.toSeq, detected_at: now })
          .onConflict((conflict) => conflict.constraint('record_gaps_position').doNothing())
          .execute();
      }
      const classes = new ClassTracker(trx, room, this.idleMs, await openClass(trx, room));
      const rows: NewRecordEvent[] = [];
      const recorded: RecordedEntry[] = [];
      for (const entry of fresh) {
        await classes.before(entry);
        const classId = classes.currentId;
        rows.push({
          room,
          epoch,
          seq: entry.seq,
          ts: entry.ts,
          event: entry.event,
          data: JSON.stringify(entry.data),
          author_id: entry.from?.userId ?? null,
          author_name: entry.from?.name ?? null,
          author_role: entry.from?.role ?? null,
          class_id: classId,
        });
        await classes.after(entry);
        recorded.push({ room, epoch, entry, classId, transitions: classes.takeTransitions() });
      }
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('record_events')
          .values(rows.slice(i, i + INSERT_CHUNK))
          .onConflict((conflict) => conflict.constraint('record_events_position').doNothing())
          .execute();
      }
      const last = fresh.at(-1)?.seq ?? Math.max(after, ...gaps.filter((gap) => gap.epoch === epoch).map((gap) => gap.toSeq ?? 0));
      await trx
        .insertInto('record_cursors')
        .values({ room, epoch, seq: last })
        .onConflict((conflict) => conflict.column('room').doUpdateSet({ epoch, seq: last }))
        .execute();
      return this.hook !== undefined && recorded.length > 0 ? this.hook.inTransaction(trx, recorded, now) : false;
    });
    if (wroteHook) this.hook?.afterCommit();
  }

  /**
   * Records private messages (not in the log, so keyed by their entry id: each once, however often the
   * tail is read), each in the class that was in progress at its time.
   */
  async recordPrivate(room: string, epoch: string, entries: readonly PrivateEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    return this.db.transaction().execute(async (trx) => {
      const known = await trx
        .selectFrom('record_events')
        .select('private_id')
        .where('room', '=', room)
        .where('private_id', 'in', entries.map((entry) => entry.id))
        .execute();
      const recorded = new Set(known.map((row) => row.private_id));
      let inserted = 0;
      for (const entry of entries) {
        if (recorded.has(entry.id)) continue;
        const during = await trx
          .selectFrom('classes')
          .select('id')
          .where('room', '=', room)
          .where('started_at', '<=', entry.ts)
          .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', entry.ts)]))
          .orderBy('started_at', 'desc')
          .executeTakeFirst();
        const result = await trx
          .insertInto('record_events')
          .values({
            room,
            epoch,
            seq: null,
            private_id: entry.id,
            ts: entry.ts,
            event: 'chat.private',
            data: JSON.stringify({ to: entry.to, text: entry.text }),
            author_id: entry.from.userId,
            author_name: entry.from.name,
            author_role: entry.from.role,
            class_id: during?.id ?? null,
          })
          .onConflict((conflict) => conflict.columns(['room', 'private_id']).where('private_id', 'is not', null).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (result !== undefined) inserted += 1;
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

  /** Classes a first join started whose room has been empty since before `emptyBefore`. */
  async idleClasses(emptyBefore: number): Promise<{ id: number; room: string; emptySince: number }[]> {
    const rows = await this.db
      .selectFrom('classes')
      .select(['id', 'room', 'empty_since'])
      .where('ended_at', 'is', null)
      .where('auto', '=', true)
      .where('empty_since', '<=', emptyBefore)
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

  /** Retention: deletes classes that ended, events and gaps recorded, and webhooks dead-lettered, before `before` (epoch ms). */
  async deleteOlderThan(before: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('classes').where('ended_at', '<', before).execute();
      await trx.deleteFrom('record_events').where('ts', '<', before).where('class_id', 'is', null).execute();
      await trx.deleteFrom('record_gaps').where('detected_at', '<', before).execute();
      // Dead letters nobody redelivered go with the records they were about.
      await trx.deleteFrom('webhook_outbox').where('dead_at', '<', before).execute();
    });
  }
}

interface OpenClass {
  id: number;
  auto: boolean;
  empty_since: number | null;
}

function openClass(trx: Transaction<RecordsDatabase>, room: string): Promise<OpenClass | undefined> {
  return trx.selectFrom('classes').select(['id', 'auto', 'empty_since']).where('room', '=', room).where('ended_at', 'is', null).executeTakeFirst();
}

interface PresenceData {
  userId: string;
  name: string;
  role: string;
  reason: string | null;
}

/** The member a presence event names; undefined for anything malformed (recorded, but not attendance). */
function presenceData(data: unknown): PresenceData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { userId, name, role, reason } = data as Record<string, unknown>;
  if (typeof userId !== 'string' || typeof name !== 'string' || typeof role !== 'string') return undefined;
  return { userId, name, role, reason: typeof reason === 'string' ? reason : null };
}

/**
 * The class state a room's events drive, inside the recorder's transaction (so it changes exactly once
 * with them): `class.start`/`class.end` rule when used; otherwise a first join starts a class and a room
 * empty for `idleMs` ends it. Presence events keep `room_presence` and the attendance intervals.
 */
class ClassTracker {
  private open: OpenClass | undefined;
  private transitions: ClassTransition[] = [];

  constructor(
    private readonly trx: Transaction<RecordsDatabase>,
    private readonly room: string,
    private readonly idleMs: number,
    open: OpenClass | undefined,
  ) {
    this.open = open;
  }

  get currentId(): number | null {
    return this.open?.id ?? null;
  }

  /** The classes started and ended since the last call (for the event just recorded). */
  takeTransitions(): ClassTransition[] {
    const taken = this.transitions;
    this.transitions = [];
    return taken;
  }

  /** What an event changes before it is recorded: the class it belongs to may start here. */
  async before(entry: LogEntry): Promise<void> {
    if (entry.event === 'class.start') {
      // A teacher's start rules: the class a first join opened ends here, and theirs begins.
      if (this.open?.auto === true) await this.end(entry.ts);
      if (this.open === undefined) await this.start(entry.ts, false, entry.from?.userId ?? null);
      return;
    }
    if (entry.event === PRESENCE_EVENTS.join) {
      const member = presenceData(entry.data);
      if (member === undefined) return;
      const open = this.open;
      // The room stayed empty long enough: that class ended when the last member left.
      if (open?.auto === true && open.empty_since !== null && entry.ts - open.empty_since >= this.idleMs) await this.end(open.empty_since);
      await this.trx
        .insertInto('room_presence')
        .values({ room: this.room, user_id: member.userId, name: member.name, role: member.role, since: entry.ts })
        .onConflict((conflict) => conflict.columns(['room', 'user_id']).doUpdateSet({ name: member.name, role: member.role, since: entry.ts }))
        .execute();
      if (this.open === undefined) {
        await this.start(entry.ts, true, null);
        return;
      }
      const already = await this.trx
        .selectFrom('attendance')
        .select('id')
        .where('class_id', '=', this.open.id)
        .where('user_id', '=', member.userId)
        .where('left_at', 'is', null)
        .executeTakeFirst();
      if (already === undefined) {
        await this.trx.insertInto('attendance').values({ class_id: this.open.id, user_id: member.userId, name: member.name, role: member.role, joined_at: entry.ts }).execute();
      }
      if (this.open.empty_since !== null) {
        await this.trx.updateTable('classes').set({ empty_since: null }).where('id', '=', this.open.id).execute();
        this.open = { ...this.open, empty_since: null };
      }
    }
  }

  /** What an event changes once recorded: a leave closes an interval, `class.end` the class. */
  async after(entry: LogEntry): Promise<void> {
    if (entry.event === 'class.end') {
      if (this.open !== undefined) await this.end(entry.ts, entry.from?.userId ?? null);
      return;
    }
    if (entry.event !== PRESENCE_EVENTS.leave) return;
    const member = presenceData(entry.data);
    if (member === undefined) return;
    await this.trx.deleteFrom('room_presence').where('room', '=', this.room).where('user_id', '=', member.userId).execute();
    if (this.open === undefined) return;
    await this.trx
      .updateTable('attendance')
      .set({ left_at: entry.ts, leave_reason: member.reason ?? 'left' })
      .where('class_id', '=', this.open.id)
      .where('user_id', '=', member.userId)
      .where('left_at', 'is', null)
      .execute();
    if ((await this.presentCount()) === 0) {
      await this.trx.updateTable('classes').set({ empty_since: entry.ts }).where('id', '=', this.open.id).execute();
      this.open = { ...this.open, empty_since: entry.ts };
    }
  }

  private async presentCount(): Promise<number> {
    const row = await this.trx.selectFrom('room_presence').select((eb) => eb.fn.countAll<string>().as('count')).where('room', '=', this.room).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Opens a class at `at`; everyone present then starts an interval in it. */
  private async start(at: number, auto: boolean, startedBy: string | null): Promise<void> {
    const present = await this.trx.selectFrom('room_presence').selectAll().where('room', '=', this.room).execute();
    const started = await this.trx
      .insertInto('classes')
      .values({ room: this.room, started_at: at, started_by: startedBy, auto, empty_since: present.length === 0 ? at : null })
      .returning('id')
      .executeTakeFirstOrThrow();
    this.open = { id: started.id, auto, empty_since: present.length === 0 ? at : null };
    this.transitions.push({ kind: 'started', classId: started.id, at, by: startedBy });
    if (present.length > 0) {
      await this.trx
        .insertInto('attendance')
        .values(present.map((member) => ({ class_id: started.id, user_id: member.user_id, name: member.name, role: member.role, joined_at: at })))
        .execute();
    }
  }

  /** Ends the open class at `at`; intervals still open close with it. */
  private async end(at: number, by: string | null = null): Promise<void> {
    const open = this.open!;
    this.transitions.push({ kind: 'ended', classId: open.id, at, by });
    await this.trx.updateTable('classes').set({ ended_at: at }).where('id', '=', open.id).execute();
    await this.trx.updateTable('attendance').set({ left_at: at, leave_reason: 'class_ended' }).where('class_id', '=', open.id).where('left_at', 'is', null).execute();
    this.open = undefined;
  }
}
