import { readFinalPolls, readPrivateTail, type Broker, type ReadResult, type RecordingLease, type StoredMessage } from '@classwire/core';
import { earliest, zeroCounts, type RecordingBacklog, type RecordingCounts } from './recording-stats.js';
import type { Cursor, Gap, LogEntry, RecordsStore, RoomLog } from './store.js';

/**
 * Rooms recorded in one transaction at most: bounds a transaction's statements' size and how much one
 * failure retries.
 */
const ROOMS_PER_TRANSACTION = 100;

/** What one idle sweep did: the classes it ended, and the rooms that failed (in sweep order). */
export interface IdleSweep {
  ended: number;
  failed: string[];
}

export interface RecorderLogger {
  warn(details: object, message: string): void;
}

export interface RecorderOptions {
  store: RecordsStore;
  broker: Pick<Broker, 'read' | 'readState'>;
  logger: RecorderLogger;
  /** After a failed write, how long before the room is tried again. */
  retryMs?: number;
  /**
   * How long activity collects before a drain: a busy room's messages then go in one transaction
   * instead of one each, which is what keeps the recorder's CPU small next to the live path.
   */
  batchDelayMs?: number;
  now?: () => number;
  /**
   * With several nodes (Redis mode): a room is recorded by the node holding its lease, which reads the
   * whole log (everyone's messages); another node defers its note until the lease would have expired.
   */
  lease?: RecordingLease | undefined;
  /**
   * Where this recorder adds what it does (for the metrics). Given, it is shared: a recorder that takes
   * over from another continues the same totals.
   */
  counts?: RecordingCounts | undefined;
  /**
   * Whether a failed room is kept in the backlog and retried after `retryMs`. False for a caller that
   * retries on its own and must leave no timer behind (the scheduled recorder on AWS marks the room
   * again for its next run). @default true
   */
  retryFailures?: boolean | undefined;
}

/**
 * Copies rooms' live logs into the records database, beside the engine: a publish only marks its room
 * (`noteActivity`), and the recorder reads the broker's history from the room's recorded cursor and
 * writes it in one transaction per batch. The live path never waits for the database.
 */
export class Recorder {
  private readonly store: RecordsStore;
  private readonly broker: Pick<Broker, 'read' | 'readState'>;
  /** Rooms where a private message was stored since their last recording. */
  private readonly privatePending = new Set<string>();
  private readonly logger: RecorderLogger;
  private readonly retryMs: number;
  private readonly batchDelayMs: number;
  private readonly now: () => number;
  private readonly lease: RecordingLease | undefined;
  private readonly retryFailures: boolean;
  /**
   * Rooms whose polls' final results are to be recorded (a `poll.close`, `poll.share` or `class.end` was
   * read from their log): when each poll closed, as far as the log told, and the time of the event.
   */
  private readonly pollsDue = new Map<string, { closedAt: Map<string, number>; at: number }>();
  /** Rooms with messages not yet recorded, in the order they became so. */
  private readonly pending = new Set<string>();
  private draining: Promise<void> | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Totals of what this recorder wrote and how its recordings ended. */
  readonly counts: RecordingCounts;
  // The backlog is tracked per batch, not per message: a note costs one size check.
  /** When `pending` last went from empty to not empty (epoch ms, wall clock). */
  private pendingSince: number | undefined;
  /** The rooms of the drain in flight, and when the oldest of them was noted. */
  private inFlight: ReadonlySet<string> = new Set();
  private inFlightSince: number | undefined;
  /** Rooms whose last recording failed (they wait for a retry), with when each was first noted. */
  private readonly failing = new Map<string, number>();

  constructor(options: RecorderOptions) {
    this.counts = options.counts ?? zeroCounts();
    this.store = options.store;
    this.broker = options.broker;
    this.logger = options.logger;
    this.retryMs = options.retryMs ?? 1_000;
    this.batchDelayMs = options.batchDelayMs ?? 250;
    this.now = options.now ?? Date.now;
    this.lease = options.lease;
    this.retryFailures = options.retryFailures ?? true;
  }

  /** Called after a message was sequenced in `room`: cheap, synchronous, never throws. */
  noteActivity(room: string): void {
    if (this.closed) return;
    if (this.pending.size === 0) this.pendingSince = Date.now();
    this.pending.add(room);
    this.draining ??= delay(this.batchDelayMs)
      .then(() => this.drain())
      .finally(() => {
        this.draining = undefined;
        if (this.pending.size > 0 && !this.closed) this.noteActivity(this.pending.values().next().value!);
      });
  }

  /** Called after a private message was stored in `room`'s state (it is not in the log). */
  notePrivate(room: string): void {
    if (this.closed) return;
    this.privatePending.add(room);
    this.noteActivity(room);
  }

  /** Resolves once every room noted so far is recorded (or scheduled for a retry after a failure). */
  async settled(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /**
   * Rooms noted and not recorded yet: waiting for the next drain, in the drain in flight, or failed and
   * waiting for their retry. The oldest one's age is how far behind the recorder is.
   */
  backlog(): RecordingBacklog {
    let rooms = this.pending.size + this.inFlight.size;
    let oldestNotedAt = earliest(this.pendingSince, this.inFlightSince);
    for (const [room, since] of this.failing) {
      if (!this.pending.has(room) && !this.inFlight.has(room)) rooms += 1;
      oldestNotedAt = earliest(oldestNotedAt, since);
    }
    return { rooms, oldestNotedAt };
  }

  /** Stops taking work and waits for the batch in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    this.pending.clear();
    await this.settled();
  }

  /**
   * Records the rooms noted before it started. Rooms noted meanwhile wait for the next batch: taking them
   * at once made every drain followed by a small one (the messages that arrived during it), which at the
   * bench's load doubled the transactions and their fixed cost.
   */
  private async drain(): Promise<void> {
    const due = [...this.pending];
    this.pending.clear();
    this.inFlight = new Set(due);
    this.inFlightSince = this.pendingSince;
    this.pendingSince = undefined;
    try {
      await this.drainRooms(due);
    } finally {
      this.inFlight = new Set();
      this.inFlightSince = undefined;
    }
  }

  /**
   * Each room of a drain ends with one outcome, counted once: recorded when everything this node owes
   * for it committed (its log and due poll results when it holds the lease, the private messages it
   * stored), failed otherwise (it then stays in the backlog until a retry records it).
   */
  private async drainRooms(due: readonly string[]): Promise<void> {
    const since = this.inFlightSince ?? Date.now();
    for (let start = 0; start < due.length && !this.closed; start += ROOMS_PER_TRANSACTION) {
      const rooms = due.slice(start, start + ROOMS_PER_TRANSACTION);
      const leases = await this.holdsLeases(rooms);
      const leased = rooms.filter((_, index) => leases[index]);
      // The logs first, so a private message finds the class its time falls in.
      const failed = await this.recordRoomsIsolated(leased);
      for (const [index, room] of rooms.entries()) {
        if (failed.has(room)) {
          this.failed(room, failed.get(room), since);
          continue;
        }
        // Private messages live in the room's state, which the lease holder does not watch: the node
        // that stored one records it (by id, so twice is harmless).
        const owesPrivate = this.privatePending.delete(room);
        if (owesPrivate) {
          try {
            await this.recordPrivate(room);
          } catch (error) {
            this.privatePending.add(room);
            this.failed(room, error, since);
            continue;
          }
        }
        if (leases[index] || owesPrivate) this.recorded(room);
        else this.failing.delete(room);
        // Another node records this room's log; if it stops (or dies), its lease expires and this note retries.
        if (!leases[index]) this.scheduleRetry(room, this.lease!.ttlMs);
      }
    }
  }

  /**
   * Records the rooms in one transaction; if that fails, each room on its own, so one room the
   * database refuses does not hold back the others. Returns the rooms that failed, with their error;
   * a batch's failure is no room's outcome (each is tried again alone at once).
   */
  private async recordRoomsIsolated(rooms: readonly string[]): Promise<Map<string, unknown>> {
    if (rooms.length === 0) return new Map();
    try {
      return await this.commit(rooms);
    } catch (error) {
      if (rooms.length === 1) return new Map([[rooms[0]!, error]]);
    }
    const failures = new Map<string, unknown>();
    for (const room of rooms) {
      try {
        for (const [failedRoom, error] of await this.commit([room])) failures.set(failedRoom, error);
      } catch (error) {
        failures.set(room, error);
      }
    }
    return failures;
  }

  /** A room's recording committed: one `recorded`, and it leaves the backlog. */
  private recorded(room: string): void {
    this.counts.roomsRecorded += 1;
    this.failing.delete(room);
  }

  /**
   * A room's recording failed: one `failed`, and it stays in the backlog until a retry records it,
   * dated from `since` (its drain's oldest note, or when a direct recording started) or from its
   * first failure if earlier, so its age keeps growing while it fails.
   */
  private failed(room: string, error: unknown, since: number): void {
    this.counts.roomsFailed += 1;
    if (!this.retryFailures) return;
    this.logger.warn({ err: error, room }, 'recording failed; will retry');
    if (!this.failing.has(room)) this.failing.set(room, since);
    this.scheduleRetry(room, this.retryMs);
  }

  private async holdsLeases(rooms: readonly string[]): Promise<boolean[]> {
    if (this.lease === undefined) return rooms.map(() => true);
    try {
      return await this.lease.acquire(rooms);
    } catch (error) {
      // Two writers are safe (the cursor lock), a room left unrecorded is not: record without the lease.
      this.logger.warn({ err: error, rooms: rooms.length }, 'recording lease unavailable; recording anyway');
      return rooms.map(() => true);
    }
  }

  private scheduleRetry(room: string, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.noteActivity(room);
    }, delayMs);
    timer.unref();
    this.retries.add(timer);
  }

  /**
   * Ends the classes a first join started whose room has stayed empty for `idleMs`, and those a teacher
   * started whose room has stayed empty for the store's `startedIdleMs` (a day), at the time the last
   * member left. Each room is recorded first, so a rejoin still in the live log keeps its class.
   * A room that fails (its recording, its class's end or its poll results) is counted failed and kept in
   * the backlog for a retry like a drain's, and the sweep goes on with the next room: one room the
   * database refuses must not hold back every other room's end. Its class ends at a later sweep.
   */
  async endIdleClasses(idleMs: number): Promise<IdleSweep> {
    const sweep: IdleSweep = { ended: 0, failed: [] };
    for (const idle of await this.store.idleClasses(this.now() - idleMs, this.now() - this.store.startedIdleMs)) {
      try {
        // Counts and keeps its own failure.
        await this.recordRoom(idle.room);
      } catch (error) {
        this.sweepFailed(sweep, idle.room, error);
        continue;
      }
      const since = Date.now();
      try {
        if (await this.store.endIdleClass(idle.room, idle.id, idle.emptySince, this.now())) {
          sweep.ended += 1;
          // A poll with a time limit closes without an event: its class ending is when it is recorded at the latest.
          // Still due if this fails: the room's retry records them (nothing else may note an idle room again).
          this.duePolls(idle.room).at = idle.emptySince;
          await this.recordPolls(idle.room);
        }
      } catch (error) {
        this.failed(idle.room, error, since);
        this.sweepFailed(sweep, idle.room, error);
      }
    }
    return sweep;
  }

  private sweepFailed(sweep: IdleSweep, room: string, error: unknown): void {
    sweep.failed.push(room);
    // `failed` logs only the rooms it retries; a caller that retries on its own still gets each one logged.
    if (!this.retryFailures) this.logger.warn({ err: error, room }, 'ending an idle class failed; the caller retries the room');
  }

  /**
   * Records the final results of the room's polls (staff-only rows, once per poll: answers are in the
   * room's state, never in its log). Kept due when it fails, for the room's next recording.
   */
  async recordPolls(room: string): Promise<void> {
    const due = this.duePolls(room);
    this.pollsDue.delete(room);
    try {
      const { epoch, polls } = await readFinalPolls(this.broker, room, this.now());
      const results = polls.map(({ poll, tally }) => ({ poll, tally, ts: due.closedAt.get(poll.id) ?? Math.min(poll.closesAt ?? due.at, due.at) }));
      await this.store.recordPolls(room, epoch, results);
    } catch (error) {
      const again = this.duePolls(room);
      again.at = due.at;
      for (const [id, at] of due.closedAt) again.closedAt.set(id, at);
      throw error;
    }
  }

  private duePolls(room: string): { closedAt: Map<string, number>; at: number } {
    let due = this.pollsDue.get(room);
    if (due === undefined) {
      due = { closedAt: new Map(), at: this.now() };
      this.pollsDue.set(room, due);
    }
    return due;
  }

  /** Notes the log entries after which a room's poll results are final. */
  private notePollEvents(room: string, entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (entry.event === 'class.end') this.duePolls(room).at = entry.ts;
      if (entry.event !== 'poll.close' && entry.event !== 'poll.share') continue;
      const id = (entry.data as { id?: unknown } | null)?.id;
      const due = this.duePolls(room);
      due.at = entry.ts;
      if (typeof id === 'string' && !due.closedAt.has(id)) due.closedAt.set(id, entry.ts);
    }
  }

  /** Records the private messages the room's state holds that are not recorded yet. */
  async recordPrivate(room: string): Promise<void> {
    await this.store.recordPrivate(room, () => readPrivateTail(this.broker, room), this.now());
  }

  /**
   * Records everything after the room's cursor (a part the log no longer holds becomes a gap) and its
   * due poll results. A failure is counted and, like a drain's, keeps the room in the backlog until a
   * retry records it (reconciliation and the idle sweep record rooms this way), then is thrown.
   */
  async recordRoom(room: string): Promise<void> {
    const since = Date.now();
    let failure: { error: unknown } | undefined;
    try {
      const failures = await this.commit([room]);
      if (failures.has(room)) failure = { error: failures.get(room) };
    } catch (error) {
      failure = { error };
    }
    if (failure === undefined) {
      this.recorded(room);
      return;
    }
    this.failed(room, failure.error, since);
    throw failure.error;
  }

  /**
   * Records everything after each room's cursor, in one transaction for all of them (the logs are read
   * under the rooms' locks, from the cursors the transaction reads; a part a log no longer holds
   * becomes a gap), then their due poll results. Throws when the transaction fails (no room's outcome:
   * the caller tries them one by one) or when a room's poll results failed (that room counted failed).
   */
  async recordRooms(rooms: readonly string[]): Promise<void> {
    if (rooms.length === 1) return this.recordRoom(rooms[0]!);
    const since = Date.now();
    const failures = await this.commit(rooms);
    for (const room of rooms) if (!failures.has(room)) this.recorded(room);
    for (const [room, error] of failures) this.failed(room, error, since);
    if (failures.size > 0) throw failures.values().next().value;
  }

  /**
   * The rooms' logs in one transaction, then each room's due poll results (their own writes, after the
   * commit). Throws when the transaction fails; returns the rooms whose poll results failed (still due).
   */
  private async commit(rooms: readonly string[]): Promise<Map<string, unknown>> {
    const written = await this.store.recordFrom(rooms, (room, cursor) => this.readLog(room, cursor), this.now());
    this.counts.eventsWritten += written.events;
    this.counts.gapsRecorded += written.gaps;
    const failures = new Map<string, unknown>();
    for (const room of rooms) {
      if (!this.pollsDue.has(room)) continue;
      try {
        await this.recordPolls(room);
      } catch (error) {
        failures.set(room, error);
      }
    }
    return failures;
  }

  /** What the room's live log holds after `cursor`, with the gaps before it; undefined when nothing. */
  private async readLog(room: string, cursor: Cursor | undefined): Promise<RoomLog | undefined> {
    const gaps: Gap[] = [];
    let since = cursor?.seq ?? 0;
    let read = await this.broker.read(room, since, cursor?.epoch);
    if (cursor !== undefined && read.epoch !== cursor.epoch) {
      // The room's history was lost and restarted: the old epoch's unrecorded tail is gone for good.
      gaps.push({ epoch: cursor.epoch, fromSeq: cursor.seq + 1, toSeq: null });
      since = 0;
      read = await this.broker.read(room, since, read.epoch);
    }
    if (!read.recovered) {
      const held = await this.oldestHeld(room, read, since);
      gaps.push({ epoch: read.epoch, fromSeq: since + 1, toSeq: held.since });
      read = held.read;
    }
    if (read.messages.length === 0 && gaps.length === 0) return undefined;
    const entries = read.messages.map(parseEntry);
    this.notePollEvents(room, entries);
    return { room, epoch: read.epoch, gaps, entries };
  }

  /**
   * The smallest position after `since` the log still replays from (binary search: if a position is
   * held, every later one is). Trimming while searching only moves the answer later.
   */
  private async oldestHeld(room: string, first: ReadResult, since: number): Promise<{ since: number; read: ReadResult }> {
    let low = since + 1;
    let high = first.seq;
    let best: ReadResult = { epoch: first.epoch, seq: first.seq, recovered: true, messages: [] };
    while (low <= high) {
      const middle = Math.floor((low + high) / 2);
      const attempt = await this.broker.read(room, middle, first.epoch);
      if (attempt.recovered) {
        best = attempt;
        high = middle - 1;
      } else {
        low = middle + 1;
      }
    }
    return { since: high + 1 > first.seq ? first.seq : high + 1, read: best };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The head every stored message frame starts with (`composeMessageFrame`, then `encodeMessageBody`):
 * room, seq, ts, event. A JSON string cannot hold `","` unescaped, so the room cannot fake the rest.
 */
const FRAME_HEAD = /^\{"type":"message","room":"(?:[^"\\]|\\.)*","seq":\d+,"ts":(\d+),"event":"((?:[^"\\]|\\.)*)"/;

/**
 * What the records keep of a stored message frame. The frame's text goes to the database as it is; only
 * its head is read here, and `data`/`from` are parsed when first asked for (by the class and presence
 * tracking or a webhook), not for every chat line or stroke.
 */
function parseEntry(message: StoredMessage): LogEntry {
  const head = FRAME_HEAD.exec(message.frame);
  if (head === null || head[2]!.includes('\\')) return parsedEntry(message);
  let parsed: LogEntry | undefined;
  const full = (): LogEntry => (parsed ??= parsedEntry(message));
  return {
    seq: message.seq,
    ts: Number(head[1]),
    event: head[2]!,
    frame: message.frame,
    get data() {
      return full().data;
    },
    get from() {
      return full().from;
    },
  };
}

function parsedEntry(message: StoredMessage): LogEntry {
  const frame = JSON.parse(message.frame) as { ts: number; event: string; data?: unknown; from?: LogEntry['from'] };
  return { seq: message.seq, ts: frame.ts, event: frame.event, data: frame.data ?? null, from: frame.from, frame: message.frame };
}
