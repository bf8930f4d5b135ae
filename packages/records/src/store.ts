import { sql, type Kysely, type Transaction } from 'kysely';
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

/** One event as the recorder wrote it: its class, and the class transition it made, if any. */
export interface RecordedEntry {
  room: string;
  epoch: string;
  entry: LogEntry;
  classId: number | null;
  transition: 'started' | 'ended' | undefined;
}

/**
 * Work that must commit or roll back with the recorded events (the webhook outbox): `inTransaction`
 * runs in the recorder's transaction after the events are written and says whether it wrote anything;
 * `afterCommit` is then called once the transaction committed.
 */
export interface RecordHook {
  inTransaction(trx: Transaction<RecordsDatabase>, recorded: readonly RecordedEntry[], now: number): Promise<boolean>;
  afterCommit(): void;
}

/** Rows per insert statement: bounds one statement's parameters (Postgres allows 65,535). */
const INSERT_CHUNK = 500;

/** The recorder's writes and the API's reads; the only SQL of the package. */
export class RecordsStore {
  constructor(
    private readonly db: Kysely<RecordsDatabase>,
    private readonly hook?: RecordHook,
  ) {}

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
      let classId = (await openClass(trx, room))?.id ?? null;
      const rows: NewRecordEvent[] = [];
      const recorded: RecordedEntry[] = [];
      for (const entry of fresh) {
        let transition: RecordedEntry['transition'];
        if (entry.event === 'class.start' && classId === null) {
          const started = await trx.insertInto('classes').values({ room, started_at: entry.ts, started_by: entry.from?.userId ?? null }).returning('id').executeTakeFirstOrThrow();
          classId = started.id;
          transition = 'started';
        }
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
        const eventClass = classId;
        if (entry.event === 'class.end' && classId !== null) {
          await trx.updateTable('classes').set({ ended_at: entry.ts }).where('id', '=', classId).execute();
          classId = null;
          transition = 'ended';
        }
        recorded.push({ room, epoch, entry, classId: eventClass, transition });
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

  async listClasses(filter: { room?: string | undefined; from?: number | undefined; to?: number | undefined; limit: number }): Promise<ClassRow[]> {
    let query = this.db.selectFrom('classes').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').limit(filter.limit);
    if (filter.room !== undefined) query = query.where('room', '=', filter.room);
    if (filter.from !== undefined) query = query.where('started_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('started_at', '<', filter.to);
    return query.execute();
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

  /** A page of a class's transcript, in seq order, after the event `after` (its id). */
  async transcript(classId: number, after: number, limit: number): Promise<RecordEventRow[]> {
    return this.db.selectFrom('record_events').selectAll().where('class_id', '=', classId).where('id', '>', after).orderBy('id').limit(limit).execute();
  }

  /**
   * The newest `limit` events of a room's epoch below seq `before`, oldest first, without private
   * messages: a member's history beyond the live log (`HistoryArchive`).
   */
  async eventsBefore(room: string, epoch: string, before: number, limit: number): Promise<RecordEventRow[]> {
    const rows = await this.db
      .selectFrom('record_events')
      .selectAll()
      .where('room', '=', room)
      .where('epoch', '=', epoch)
      .where('seq', '<', before)
      .where('event', '!=', 'chat.private')
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse();
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
    return Number(result.numUpdatedRows);
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

function openClass(trx: Transaction<RecordsDatabase>, room: string): Promise<{ id: number } | undefined> {
  return trx.selectFrom('classes').select('id').where('room', '=', room).where('ended_at', 'is', null).executeTakeFirst();
}
