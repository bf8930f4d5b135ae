import { MemoryBroker, MemoryPresence, storePrivateOps, type PublishOptions, type PublishResult, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, RecordsStore } from '../src/index.js';
import { reconcilePresence } from '../src/reconcile.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const student: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silentLogger = { warn: () => undefined };
/** Long enough that no retry timer fires during a test: the test notes the room itself when it retries. */
const NO_TIMED_RETRY_MS = 3_600_000;

type Faulty = 'recordFrom' | 'recordPrivate' | 'recordPolls';
type Fault = { kind: 'throw' } | { kind: 'hold'; arrive: () => void; released: Promise<void> };

/** The real store (real Postgres) with faults a test arms per method: the next call throws, or waits. */
class FaultyStore extends RecordsStore {
  private readonly faults = new Map<Faulty, Fault[]>();
  /** Calls of each method that went through to the database. */
  readonly completed: Record<Faulty, number> = { recordFrom: 0, recordPrivate: 0, recordPolls: 0 };

  failNext(method: Faulty): void {
    this.arm(method, { kind: 'throw' });
  }

  /** The next call waits until `release`; `arrived` resolves once it is waiting. */
  holdNext(method: Faulty): { arrived: Promise<void>; release: () => void } {
    let arrive!: () => void;
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.arm(method, { kind: 'hold', arrive, released });
    return { arrived, release };
  }

  override async recordFrom(...args: Parameters<RecordsStore['recordFrom']>): ReturnType<RecordsStore['recordFrom']> {
    await this.before('recordFrom');
    this.failRooms('recordFrom', args[0]);
    const written = await super.recordFrom(...args);
    this.completed.recordFrom += 1;
    return written;
  }

  override async recordPrivate(...args: Parameters<RecordsStore['recordPrivate']>): ReturnType<RecordsStore['recordPrivate']> {
    await this.before('recordPrivate');
    const written = await super.recordPrivate(...args);
    this.completed.recordPrivate += 1;
    return written;
  }

  override async recordPolls(...args: Parameters<RecordsStore['recordPolls']>): ReturnType<RecordsStore['recordPolls']> {
    await this.before('recordPolls');
    const written = await super.recordPolls(...args);
    this.completed.recordPolls += 1;
    return written;
  }

  /** Rooms whose recording (`recordFrom`) or idle class's end (`endIdleClass`) fails until `heal`. */
  private readonly failingRooms = new Map<string, 'recordFrom' | 'endIdleClass'>();

  failRoom(room: string, method: 'recordFrom' | 'endIdleClass'): void {
    this.failingRooms.set(room, method);
  }

  heal(room: string): void {
    this.failingRooms.delete(room);
  }

  override async endIdleClass(...args: Parameters<RecordsStore['endIdleClass']>): ReturnType<RecordsStore['endIdleClass']> {
    this.failRooms('endIdleClass', [args[0]]);
    return super.endIdleClass(...args);
  }

  private failRooms(method: 'recordFrom' | 'endIdleClass', rooms: readonly string[]): void {
    for (const room of rooms) if (this.failingRooms.get(room) === method) throw new Error(`injected: ${method} refused ${room}`);
  }

  private arm(method: Faulty, fault: Fault): void {
    const queue = this.faults.get(method) ?? [];
    queue.push(fault);
    this.faults.set(method, queue);
  }

  private async before(method: Faulty): Promise<void> {
    const fault = this.faults.get(method)?.shift();
    if (fault === undefined) return;
    if (fault.kind === 'throw') throw new Error(`injected: ${method} failed`);
    fault.arrive();
    await fault.released;
  }
}

describe('the recorder backlog and outcomes, with faults in a real Postgres store', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await BACKENDS[0].open();
  });
  afterAll(() => database.drop());

  function setUp(retryMs = NO_TIMED_RETRY_MS): { broker: MemoryBroker; store: FaultyStore; recorder: Recorder } {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const store = new FaultyStore(database.records.db, { idleMs: 1 });
    return { broker, store, recorder: new Recorder({ store, broker, logger: silentLogger, retryMs, batchDelayMs: 0 }) };
  }

  it('a failed private-message recording is one failure and stays in the backlog until its retry records it', async () => {
    const { broker, store, recorder } = setUp();
    const room = 'backlog-private';
    const entry = { id: 'pm-1', ts: Date.now(), from: student, to: null, text: 'a word with the teacher' };
    await broker.updateState(room, { ops: storePrivateOps(entry) });
    store.failNext('recordPrivate');
    const before = Date.now();
    recorder.notePrivate(room);
    await recorder.settled();

    expect(recorder.backlog()).toEqual({ rooms: 1, oldestNotedAt: expect.any(Number) as number });
    expect(recorder.backlog().oldestNotedAt).toBeLessThanOrEqual(Date.now());
    expect(recorder.backlog().oldestNotedAt).toBeGreaterThanOrEqual(before);
    expect(recorder.counts).toMatchObject({ roomsRecorded: 0, roomsFailed: 1 });

    // What the retry timer does.
    recorder.noteActivity(room);
    await recorder.settled();
    expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
    expect(recorder.counts).toMatchObject({ roomsRecorded: 1, roomsFailed: 1 });
    expect((await store.roomEvents(room)).map((event) => event.private_id)).toEqual(['pm-1']);
    await recorder.close();
  });

  it("a room whose poll results fail after its drain's commit is one failure, the others one success, and it stays in the backlog", async () => {
    const { broker, store, recorder } = setUp();
    const [polled, plain] = ['backlog-polls', 'backlog-plain'];
    await broker.publish(polled, encodeMessageBody('poll.close', { id: 'q1' }, teacher));
    await broker.publish(plain, encodeMessageBody('chat.message', { text: 'hi' }, student));
    store.failNext('recordPolls');
    recorder.noteActivity(polled);
    recorder.noteActivity(plain);
    await recorder.settled();

    // The logs committed in one transaction, once: the poll results' failure does not run it again.
    expect(store.completed.recordFrom).toBe(1);
    expect(recorder.counts).toMatchObject({ roomsRecorded: 1, roomsFailed: 1, eventsWritten: 2 });
    expect(recorder.backlog().rooms).toBe(1);

    recorder.noteActivity(polled);
    await recorder.settled();
    expect(store.completed.recordPolls).toBe(1);
    expect(recorder.counts).toMatchObject({ roomsRecorded: 2, roomsFailed: 1, eventsWritten: 2 });
    expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
    await recorder.close();
  });

  it('a room that reconciliation failed to record is one failure, in the backlog until the retry it schedules records it', async () => {
    const { broker, store, recorder } = setUp(0);
    const room = 'backlog-reconciled';
    await broker.publish(room, encodeMessageBody('chat.message', { text: 'before the restart' }, student));
    store.failNext('recordFrom');
    // The retry (after 0 ms) waits in the store until the test has looked.
    const retry = store.holdNext('recordFrom');
    await expect(recorder.recordRoom(room)).rejects.toThrow('injected');
    expect(recorder.counts).toMatchObject({ roomsRecorded: 0, roomsFailed: 1 });
    expect(recorder.backlog().rooms).toBe(1);

    await retry.arrived;
    expect(recorder.backlog().rooms).toBe(1);
    retry.release();
    await recorder.settled();
    expect(recorder.counts).toMatchObject({ roomsRecorded: 1, roomsFailed: 1, eventsWritten: 1 });
    expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
    expect(await store.cursor(room)).toMatchObject({ seq: 1 });
    await recorder.close();
  });

  it('a room the idle sweep failed to record stays in the backlog until its retry records it; the next sweep ends its class', async () => {
    const { broker, store, recorder } = setUp(0);
    const room = 'backlog-idle';
    await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, { ...student }, student));
    await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...student, reason: 'left' }, student));
    await recorder.recordRoom(room);
    await broker.publish(room, encodeMessageBody('chat.message', { text: 'to an empty room' }, teacher));
    store.failNext('recordFrom');
    const retry = store.holdNext('recordFrom');
    expect(await recorder.endIdleClasses(0)).toEqual({ ended: 0, failed: [room] });
    expect(recorder.counts).toMatchObject({ roomsRecorded: 1, roomsFailed: 1 });
    expect(recorder.backlog().rooms).toBe(1);

    await retry.arrived;
    retry.release();
    await recorder.settled();
    expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
    expect(await store.cursor(room)).toMatchObject({ seq: 3 });
    expect(await recorder.endIdleClasses(0)).toEqual({ ended: 1, failed: [] });
    await recorder.close();
  });

  it.each(['recordFrom', 'endIdleClass'] as const)('the idle sweep goes on past a room whose %s fails: the others end in the same run, it is one failure, retried', async (method) => {
    const warnings: { room?: string }[] = [];
    const broker = new MemoryBroker({ delivery: noDelivery });
    const store = new FaultyStore(database.records.db, { idleMs: 1 });
    const recorder = new Recorder({ store, broker, logger: { warn: (details) => warnings.push(details) }, retryMs: NO_TIMED_RETRY_MS, batchDelayMs: 0 });
    const rooms = [`sweep-${method}-a`, `sweep-${method}-b`, `sweep-${method}-c`];
    const middle = rooms[1]!;
    for (const room of rooms) {
      await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, { ...student }, student));
      await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...student, reason: 'left' }, student));
      await recorder.recordRoom(room);
    }
    const failedBefore = recorder.counts.roomsFailed;
    store.failRoom(middle, method);

    expect(await recorder.endIdleClasses(0)).toEqual({ ended: 2, failed: [middle] });
    const open = new Set(await store.roomsWithOpenClasses());
    expect(rooms.filter((room) => open.has(room))).toEqual([middle]);
    expect(recorder.counts.roomsFailed - failedBefore).toBe(1);
    expect(recorder.backlog().rooms).toBe(1);
    expect(warnings.map((details) => details.room)).toEqual([middle]);

    // The fault is gone; what the retry timer does records the room, and the next sweep ends its class.
    store.heal(middle);
    recorder.noteActivity(middle);
    await recorder.settled();
    expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
    expect(await recorder.endIdleClasses(0)).toEqual({ ended: 1, failed: [] });
    expect(new Set(await store.roomsWithOpenClasses()).has(middle)).toBe(false);
    expect(recorder.counts.roomsFailed - failedBefore).toBe(1);
    await recorder.close();
  });

  describe('presence reconciliation goes on past a room that fails', () => {
    /** A real broker whose publish fails for one room until healed. */
    class RefusingBroker extends MemoryBroker {
      refused: string | undefined;
      override async publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
        if (room === this.refused) throw new Error(`injected: publish refused ${room}`);
        return super.publish(room, body, options);
      }
    }

    async function threeRoomsWithLostMembers(prefix: string): Promise<{ broker: RefusingBroker; store: FaultyStore; recorder: Recorder; rooms: string[]; warnings: { room?: string }[] }> {
      const warnings: { room?: string }[] = [];
      const broker = new RefusingBroker({ delivery: noDelivery });
      const store = new FaultyStore(database.records.db, { idleMs: 1 });
      const recorder = new Recorder({ store, broker, logger: { warn: (details) => warnings.push(details) }, retryMs: NO_TIMED_RETRY_MS, batchDelayMs: 0 });
      const rooms = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
      // Joined and recorded; then the node stopped: the live presence (a new MemoryPresence) lost them.
      for (const room of rooms) {
        await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, { ...student }, student));
        await recorder.recordRoom(room);
      }
      return { broker, store, recorder, rooms, warnings };
    }

    async function presentIn(store: RecordsStore, rooms: readonly string[]): Promise<string[]> {
      return (await store.recordedPresence()).filter((member) => rooms.includes(member.room)).map((member) => member.room);
    }

    it('a room whose recording fails: the others get their leave in the same run; it is one failure, in the backlog, and a retry reconciles it', async () => {
      const { broker, store, recorder, rooms, warnings } = await threeRoomsWithLostMembers('reconcile-record');
      const middle = rooms[1]!;
      const counted: string[] = [];
      const deps = { store, recorder, broker, presence: new MemoryPresence(), logger: { warn: (details: { room?: string }) => warnings.push(details) }, countFailure: (room: string) => counted.push(room) };
      const failedBefore = recorder.counts.roomsFailed;
      store.failRoom(middle, 'recordFrom');

      expect(await reconcilePresence(deps, new Set(rooms))).toEqual({ reconciled: 2, leaves: 2, failed: [middle] });
      await recorder.settled();
      expect(await presentIn(store, rooms)).toEqual([middle]);
      // Counted once, by the recorder (not again by the reconciliation), and kept in its backlog.
      expect(recorder.counts.roomsFailed - failedBefore).toBe(1);
      expect(counted).toEqual([]);
      expect(recorder.backlog().rooms).toBe(1);
      expect(warnings.every((details) => details.room === middle)).toBe(true);
      expect(warnings.length).toBeGreaterThan(0);

      store.heal(middle);
      expect(await reconcilePresence(deps, new Set([middle]))).toEqual({ reconciled: 1, leaves: 1, failed: [] });
      await recorder.settled();
      expect(await presentIn(store, rooms)).toEqual([]);
      expect(recorder.backlog()).toEqual({ rooms: 0, oldestNotedAt: undefined });
      await recorder.close();
    });

    it('a room whose leave cannot be appended: the others get theirs; it is counted where recording failures are, and a retry reconciles it', async () => {
      const { broker, store, recorder, rooms, warnings } = await threeRoomsWithLostMembers('reconcile-publish');
      const middle = rooms[1]!;
      const counted: string[] = [];
      const deps = { store, recorder, broker, presence: new MemoryPresence(), logger: { warn: (details: { room?: string }) => warnings.push(details) }, countFailure: (room: string) => counted.push(room) };
      broker.refused = middle;

      expect(await reconcilePresence(deps, new Set(rooms))).toEqual({ reconciled: 2, leaves: 2, failed: [middle] });
      await recorder.settled();
      expect(await presentIn(store, rooms)).toEqual([middle]);
      expect(counted).toEqual([middle]);
      expect(warnings.map((details) => details.room)).toEqual([middle]);

      broker.refused = undefined;
      expect(await reconcilePresence(deps, new Set([middle]))).toEqual({ reconciled: 1, leaves: 1, failed: [] });
      await recorder.settled();
      expect(await presentIn(store, rooms)).toEqual([]);
      await recorder.close();
    });
  });
});
