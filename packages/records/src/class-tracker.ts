import { sql, type Transaction } from 'kysely';
import { PRESENCE_EVENTS } from '@classwire/protocol';
import type { AttendanceTable, RecordsDatabase } from './schema.js';
import type { ClassTransition, LogEntry } from './store.js';

/** A room's open class when the transaction began. */
export interface OpenClass {
  id: number;
  auto: boolean;
  emptySince: number | null;
}

/** A class as the transaction sees it; `dirty` once its row must be updated. */
interface ClassState extends OpenClass {
  room: string;
  endedAt: number | null;
  dirty: boolean;
}

interface Member {
  name: string;
  role: string;
  since: number;
}

/** An attendance row this transaction adds (the table's columns but its generated id). */
type NewInterval = Omit<AttendanceTable, 'id'>;

/** An open attendance interval: a stored row (by id), or one this transaction adds. */
type OpenInterval = { id: number } | { added: NewInterval };

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

/** How long a room may stay empty before its open class ends: one a first join started, and one a teacher started. */
export interface IdleLimits {
  auto: number;
  started: number;
}

/** Whether an event moves the class or presence state (the rest only needs the open class's id). */
export function drivesState(entry: Pick<LogEntry, 'event'>): boolean {
  return entry.event === 'class.start' || entry.event === 'class.end' || entry.event === PRESENCE_EVENTS.join || entry.event === PRESENCE_EVENTS.leave;
}

/** Rows per multi-row statement: bounds one statement's parameters (Postgres allows 65,535). */
const ROW_CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ROW_CHUNK) out.push(items.slice(i, i + ROW_CHUNK));
  return out;
}

/**
 * The class and presence state that the rooms of one recording transaction drive: read in at most three
 * queries, changed in memory event by event, written back in a few multi-row statements (`flush`).
 * Only a class's start writes at once (its id goes into the events that follow). A statement per
 * presence event made a reconnect storm cost the recorder about a millisecond of CPU per event.
 */
export class RecordingState {
  private readonly trackers = new Map<string, ClassTracker>();
  /** Members whose `room_presence` row changed, per room: upserted or deleted at the flush. */
  private readonly presenceTouched = new Map<string, Set<string>>();
  private readonly addedIntervals: NewInterval[] = [];
  private readonly closedIntervals: { id: number; leftAt: number; reason: string }[] = [];
  private readonly classes = new Set<ClassState>();

  private constructor(
    readonly trx: Transaction<RecordsDatabase>,
    readonly idle: IdleLimits,
  ) {}

  /**
   * Reads the state of `rooms`, each with the entries it is about to record (in order), given their
   * open classes (read with their cursors).
   */
  static async load(trx: Transaction<RecordsDatabase>, idle: IdleLimits, rooms: ReadonlyMap<string, readonly LogEntry[]>, open: ReadonlyMap<string, OpenClass>): Promise<RecordingState> {
    const state = new RecordingState(trx, idle);
    if (rooms.size === 0) return state;
    const names = [...rooms.keys()];
    const openByRoom = new Map<string, ClassState>();
    for (const room of names) {
      const current = open.get(room);
      if (current !== undefined) openByRoom.set(room, { ...current, room, endedAt: null, dirty: false });
    }
    const stateful = names.filter((room) => rooms.get(room)!.some(drivesState));
    const presence = new Map<string, Map<string, Member>>(stateful.map((room) => [room, new Map()]));
    const intervals = new Map<number, Map<string, OpenInterval[]>>();
    if (stateful.length > 0) {
      const members = await trx.selectFrom('room_presence').select(['room', 'user_id', 'name', 'role', 'since']).where('room', 'in', stateful).execute();
      for (const row of members) presence.get(row.room)!.set(row.user_id, { name: row.name, role: row.role, since: row.since });
      const classIds = stateful.flatMap((room) => openByRoom.get(room)?.id ?? []);
      for (const id of classIds) intervals.set(id, new Map());
      if (classIds.length > 0) {
        const rows = await trx.selectFrom('attendance').select(['id', 'class_id', 'user_id']).where('class_id', 'in', classIds).where('left_at', 'is', null).orderBy('id').execute();
        for (const row of rows) {
          const byUser = intervals.get(row.class_id)!;
          byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), { id: row.id }]);
        }
      }
    }
    for (const room of names) {
      const current = openByRoom.get(room);
      if (current !== undefined) state.classes.add(current);
      const intervalsOfOpen = current === undefined ? new Map<string, OpenInterval[]>() : (intervals.get(current.id) ?? new Map<string, OpenInterval[]>());
      state.trackers.set(room, new ClassTracker(state, room, current, presence.get(room), intervalsOfOpen));
    }
    return state;
  }

  tracker(room: string): ClassTracker {
    const tracker = this.trackers.get(room);
    if (tracker === undefined) throw new Error(`no recording state loaded for room ${room}`);
    return tracker;
  }

  touchPresence(room: string, userId: string): void {
    const touched = this.presenceTouched.get(room) ?? new Set<string>();
    touched.add(userId);
    this.presenceTouched.set(room, touched);
  }

  addInterval(interval: NewInterval): void {
    this.addedIntervals.push(interval);
  }

  closeInterval(interval: OpenInterval, leftAt: number, reason: string): void {
    if ('id' in interval) this.closedIntervals.push({ id: interval.id, leftAt, reason });
    else Object.assign(interval.added, { left_at: leftAt, leave_reason: reason });
  }

  /** Inserts a class now: the events after its start carry its id. */
  async insertClass(room: string, at: number, auto: boolean, startedBy: string | null, emptySince: number | null): Promise<ClassState> {
    const started = await this.trx.insertInto('classes').values({ room, started_at: at, started_by: startedBy, auto, empty_since: emptySince }).returning('id').executeTakeFirstOrThrow();
    const state: ClassState = { id: started.id, room, auto, emptySince, endedAt: null, dirty: false };
    this.classes.add(state);
    return state;
  }

  /** Writes a class's changed row now (before another class opens in its room: one open class per room). */
  async writeClass(state: ClassState): Promise<void> {
    if (!state.dirty) return;
    await this.updateClasses([state]);
  }

  /** Writes every change kept in memory: presence, intervals and classes, a statement or two each. */
  async flush(): Promise<void> {
    const deleted: { room: string; userId: string }[] = [];
    const upserted: { room: string; user_id: string; name: string; role: string; since: number }[] = [];
    for (const [room, users] of this.presenceTouched) {
      const members = this.tracker(room).members;
      for (const userId of users) {
        const member = members.get(userId);
        if (member === undefined) deleted.push({ room, userId });
        else upserted.push({ room, user_id: userId, ...member });
      }
    }
    for (const chunk of chunks(deleted)) {
      const keys = sql.join(chunk.map((key) => sql`(${key.room}, ${key.userId})`));
      await sql`delete from room_presence where (room, user_id) in (${keys})`.execute(this.trx);
    }
    for (const chunk of chunks(upserted)) {
      await this.trx
        .insertInto('room_presence')
        .values(chunk)
        .onConflict((conflict) => conflict.columns(['room', 'user_id']).doUpdateSet((eb) => ({ name: eb.ref('excluded.name'), role: eb.ref('excluded.role'), since: eb.ref('excluded.since') })))
        .execute();
    }
    for (const chunk of chunks(this.addedIntervals)) await this.trx.insertInto('attendance').values(chunk).execute();
    for (const chunk of chunks(this.closedIntervals)) {
      const values = sql.join(chunk.map((closed) => sql`(${closed.id}::bigint, ${closed.leftAt}::bigint, ${closed.reason}::text)`));
      await sql`update attendance set left_at = closed.left_at, leave_reason = closed.reason from (values ${values}) as closed(id, left_at, reason) where attendance.id = closed.id`.execute(this.trx);
    }
    await this.updateClasses([...this.classes].filter((state) => state.dirty));
  }

  private async updateClasses(states: readonly ClassState[]): Promise<void> {
    for (const chunk of chunks(states)) {
      const values = sql.join(chunk.map((state) => sql`(${state.id}::bigint, ${state.endedAt}::bigint, ${state.emptySince}::bigint)`));
      await sql`update classes set ended_at = changed.ended_at, empty_since = changed.empty_since from (values ${values}) as changed(id, ended_at, empty_since) where classes.id = changed.id`.execute(this.trx);
      for (const state of chunk) state.dirty = false;
    }
  }
}

/**
 * The class state one room's events drive, inside the recorder's transaction (so it changes exactly
 * once with them): `class.start`/`class.end` rule when used; otherwise a first join starts a class and
 * a room empty for `idleMs` ends it. Presence events keep `room_presence` and the attendance intervals.
 */
export class ClassTracker {
  private transitions: ClassTransition[] = [];
  /** The class this tracker ended, whose row may still wait for the flush. */
  private ended: ClassState | undefined;

  constructor(
    private readonly state: RecordingState,
    private readonly room: string,
    private open: ClassState | undefined,
    /** Who is present; undefined when the room's entries drive no state (nothing was read). */
    private readonly presence: Map<string, Member> | undefined,
    /** The open class's open intervals, per user. */
    private intervals: Map<string, OpenInterval[]>,
  ) {}

  get currentId(): number | null {
    return this.open?.id ?? null;
  }

  get members(): ReadonlyMap<string, Member> {
    return this.present();
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
      if (this.open?.auto === true) this.end(entry.ts);
      if (this.open === undefined) await this.start(entry.ts, false, entry.from?.userId ?? null);
      return;
    }
    if (entry.event !== PRESENCE_EVENTS.join) return;
    const member = presenceData(entry.data);
    if (member === undefined) return;
    const open = this.open;
    // The room stayed empty long enough: that class ended when the last member left.
    if (open !== undefined && open.emptySince !== null && entry.ts - open.emptySince >= (open.auto ? this.state.idle.auto : this.state.idle.started)) this.end(open.emptySince);
    this.present().set(member.userId, { name: member.name, role: member.role, since: entry.ts });
    this.state.touchPresence(this.room, member.userId);
    if (this.open === undefined) {
      await this.start(entry.ts, true, null);
      return;
    }
    if ((this.intervals.get(member.userId)?.length ?? 0) === 0) this.openInterval(this.open.id, member.userId, member, entry.ts);
    if (this.open.emptySince !== null) this.change(this.open, { emptySince: null });
  }

  /** What an event changes once recorded: a leave closes an interval, `class.end` the class. */
  after(entry: LogEntry): void {
    if (entry.event === 'class.end') {
      if (this.open !== undefined) this.end(entry.ts, entry.from?.userId ?? null);
      return;
    }
    if (entry.event !== PRESENCE_EVENTS.leave) return;
    const member = presenceData(entry.data);
    if (member === undefined) return;
    this.present().delete(member.userId);
    this.state.touchPresence(this.room, member.userId);
    if (this.open === undefined) return;
    for (const interval of this.intervals.get(member.userId) ?? []) this.state.closeInterval(interval, entry.ts, member.reason ?? 'left');
    this.intervals.delete(member.userId);
    if (this.present().size === 0) this.change(this.open, { emptySince: entry.ts });
  }

  private present(): Map<string, Member> {
    if (this.presence === undefined) throw new Error(`presence of room ${this.room} was not loaded`);
    return this.presence;
  }

  private change(state: ClassState, changes: Partial<Pick<ClassState, 'emptySince' | 'endedAt'>>): void {
    Object.assign(state, changes, { dirty: true });
  }

  private openInterval(classId: number, userId: string, member: { name: string; role: string }, at: number): void {
    const added: NewInterval = { class_id: classId, user_id: userId, name: member.name, role: member.role, joined_at: at, left_at: null, leave_reason: null };
    this.state.addInterval(added);
    this.intervals.set(userId, [{ added }]);
  }

  /** Opens a class at `at`; everyone present then starts an interval in it. */
  private async start(at: number, auto: boolean, startedBy: string | null): Promise<void> {
    // At most one open class per room (a unique index): the one that just ended is written first.
    if (this.ended !== undefined) await this.state.writeClass(this.ended);
    const present = this.present();
    this.open = await this.state.insertClass(this.room, at, auto, startedBy, present.size === 0 ? at : null);
    this.intervals = new Map();
    this.transitions.push({ kind: 'started', classId: this.open.id, at, by: startedBy });
    for (const [userId, member] of present) this.openInterval(this.open.id, userId, member, at);
  }

  /** Ends the open class at `at`; intervals still open close with it. */
  private end(at: number, by: string | null = null): void {
    const open = this.open!;
    this.transitions.push({ kind: 'ended', classId: open.id, at, by });
    this.change(open, { endedAt: at });
    for (const intervals of this.intervals.values()) for (const interval of intervals) this.state.closeInterval(interval, at, 'class_ended');
    this.intervals = new Map();
    this.ended = open;
    this.open = undefined;
  }
}
