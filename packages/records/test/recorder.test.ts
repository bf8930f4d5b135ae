import { MemoryBroker, storePrivateOps, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const student: Sender = { userId: 's-1', name: 'Ada', role: 'student' };

const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silentLogger = { warn: () => undefined };

function newBroker(maxMessages = 500): MemoryBroker {
  return new MemoryBroker({ maxMessages, delivery: noDelivery });
}

async function publish(broker: MemoryBroker, room: string, event: string, data: unknown, from: Sender): Promise<number> {
  return (await broker.publish(room, encodeMessageBody(event, data, from))).seq;
}

describe.each(BACKENDS)('recorder on $name', ({ open }) => {
  let database: TestDatabase;
  let store: RecordsStore;
  beforeAll(async () => {
    database = await open();
    store = new RecordsStore(database.records.db);
  });
  afterAll(() => database.drop());

  function newRecorder(broker: MemoryBroker): Recorder {
    return new Recorder({ store, broker, logger: silentLogger });
  }

  it('records private messages that left the tail unrecorded as one staff-only loss row each time, never twice', async () => {
    const broker = newBroker();
    const recorder = newRecorder(broker);
    const room = 'private-overflow';
    let n = 0;
    const storePrivate = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        const entry = { id: `p-${n}`, ts: 1_000 + n, from: student, to: null, text: `message ${n}` };
        await broker.updateState(room, { ops: storePrivateOps(entry) });
      }
    };
    const rows = async () => (await store.roomEvents(room)).filter((event) => event.private_id !== null);
    // 105 stored before the first recording: the tail keeps the last 100.
    await storePrivate(105);
    await recorder.recordPrivate(room);
    let recorded = await rows();
    expect(recorded.filter((row) => row.event === 'chat.private').map((row) => row.private_id)).toEqual(Array.from({ length: 100 }, (_, i) => `p-${i + 5}`));
    expect(recorded.filter((row) => row.event === 'chat.private.lost').map((row) => [row.data, row.ts, row.author_role])).toEqual([[{ lost: 5, before: 1_005 }, 1_005, 'server']]);
    // Read again with nothing new, then 3 new: recorded, no loss.
    await recorder.recordPrivate(room);
    await storePrivate(3);
    await recorder.recordPrivate(room);
    recorded = await rows();
    expect(recorded.filter((row) => row.event === 'chat.private')).toHaveLength(103);
    expect(recorded.filter((row) => row.event === 'chat.private.lost')).toHaveLength(1);
    // 101 more: one left the tail.
    await storePrivate(101);
    await recorder.recordPrivate(room);
    recorded = await rows();
    expect(recorded.filter((row) => row.event === 'chat.private')).toHaveLength(203);
    expect(recorded.filter((row) => row.event === 'chat.private.lost').map((row) => (row.data as { lost: number }).lost)).toEqual([5, 1]);
    // Staff only: the member's history from the records leaves them out.
    expect(await store.eventsBefore(room, recorded[0]!.epoch, 1_000, 100)).toEqual([]);
  });

  it('records a class from class.start to class.end, each event once, with its author and server time', async () => {
    const broker = newBroker();
    const recorder = newRecorder(broker);
    const room = 'class-once';
    await publish(broker, room, 'class.start', {}, teacher);
    await publish(broker, room, 'chat.message', { text: 'hello' }, student);
    recorder.noteActivity(room);
    recorder.noteActivity(room);
    await recorder.settled();
    await publish(broker, room, 'chat.edit', { seq: 2, text: 'hello!' }, student);
    await publish(broker, room, 'class.end', {}, teacher);
    await publish(broker, room, 'chat.message', { text: 'after class' }, teacher);
    recorder.noteActivity(room);
    await recorder.settled();
    await recorder.close();

    const events = await store.roomEvents(room);
    expect(events.map((event) => [event.seq, event.event, event.author_id])).toEqual([
      [1, 'class.start', 't-1'],
      [2, 'chat.message', 's-1'],
      [3, 'chat.edit', 's-1'],
      [4, 'class.end', 't-1'],
      [5, 'chat.message', 't-1'],
    ]);
    const [recorded] = await store.listClasses({ room, limit: 10 });
    expect(recorded).toMatchObject({ room, started_at: events[0]!.ts, ended_at: events[3]!.ts, started_by: 't-1' });
    expect(events.slice(0, 4).every((event) => event.class_id === recorded!.id)).toBe(true);
    expect(events[4]!.class_id).toBeNull();
    expect(events[2]!.data).toEqual({ seq: 2, text: 'hello!' });
    expect(await store.staffOf(recorded!.id)).toEqual([{ userId: 't-1', name: 'Ms Rivera', role: 'teacher' }]);
    expect(await store.gaps(room)).toEqual([]);
  });

  it('resumes after a recorder dies mid-class, and two recorders racing on a room record each event once', async () => {
    const broker = newBroker();
    const room = 'class-resume';
    const first = newRecorder(broker);
    await publish(broker, room, 'class.start', {}, teacher);
    for (let i = 0; i < 20; i++) await publish(broker, room, 'chat.message', { text: `m${i}` }, student);
    first.noteActivity(room);
    await first.settled();
    await first.close();
    for (let i = 20; i < 40; i++) await publish(broker, room, 'chat.message', { text: `m${i}` }, student);
    await publish(broker, room, 'class.end', {}, teacher);

    const [a, b] = [newRecorder(broker), newRecorder(broker)];
    await Promise.allSettled([a.recordRoom(room), b.recordRoom(room)]);
    // A writer that lost the race on the cursor row leaves nothing half-done: run it once more.
    await a.recordRoom(room);

    const events = await store.roomEvents(room);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    expect(await store.listClasses({ room, limit: 10 })).toHaveLength(1);
    expect(await store.cursor(room)).toMatchObject({ seq: 42 });
  });

  it('records an explicit gap for messages the live log no longer holds', async () => {
    const broker = newBroker(5);
    const recorder = newRecorder(broker);
    const room = 'class-gap';
    for (let i = 0; i < 3; i++) await publish(broker, room, 'chat.message', { text: `early ${i}` }, teacher);
    await recorder.recordRoom(room);
    for (let i = 0; i < 10; i++) await publish(broker, room, 'chat.message', { text: `late ${i}` }, teacher);
    await recorder.recordRoom(room);

    const gaps = await store.gaps(room);
    expect(gaps.map((gap) => [gap.from_seq, gap.to_seq])).toEqual([[4, 8]]);
    expect((await store.roomEvents(room)).map((event) => event.seq)).toEqual([1, 2, 3, 9, 10, 11, 12, 13]);
  });

  it('records a lost epoch as a gap with no end, then the new epoch from its start', async () => {
    const room = 'class-epoch';
    const before = newBroker();
    await publish(before, room, 'chat.message', { text: 'one' }, teacher);
    await newRecorder(before).recordRoom(room);
    await publish(before, room, 'chat.message', { text: 'never recorded' }, teacher);
    // A new broker: the room's history is lost (as after a Redis flush) and a new epoch begins.
    const after = newBroker();
    await publish(after, room, 'chat.message', { text: 'new epoch' }, teacher);
    await newRecorder(after).recordRoom(room);

    const [gap] = await store.gaps(room);
    expect(gap).toMatchObject({ from_seq: 2, to_seq: null });
    const events = await store.roomEvents(room);
    expect(events.map((event) => [event.seq, (event.data as { text: string }).text])).toEqual([[1, 'one'], [1, 'new epoch']]);
    expect(new Set(events.map((event) => event.epoch)).size).toBe(2);
  });

  it('retention deletes ended classes and loose events older than the cutoff, and keeps the rest', async () => {
    const broker = newBroker();
    const room = 'class-retention';
    await publish(broker, room, 'chat.message', { text: 'before any class' }, teacher);
    await publish(broker, room, 'class.start', {}, teacher);
    await publish(broker, room, 'class.end', {}, teacher);
    await publish(broker, room, 'class.start', {}, teacher);
    await newRecorder(broker).recordRoom(room);
    const cutoff = Math.max(...(await store.roomEvents(room)).map((event) => event.ts)) + 1;

    await store.deleteOlderThan(cutoff);
    const classes = await store.listClasses({ room, limit: 10 });
    expect(classes.map((recorded) => recorded.ended_at)).toEqual([null]);
    expect((await store.roomEvents(room)).map((event) => event.event)).toEqual(['class.start']);
  });

  it('retention goes in batches, and one cut short by its time limit goes on where it stopped on the next call', async () => {
    const room = 'class-retention-batches';
    const fill = async (): Promise<number> => {
      const broker = newBroker();
      await publish(broker, room, 'chat.message', { text: 'loose 1' }, teacher);
      await publish(broker, room, 'chat.message', { text: 'loose 2' }, teacher);
      for (let lesson = 0; lesson < 3; lesson++) {
        await publish(broker, room, 'class.start', {}, teacher);
        for (let i = 0; i < 3; i++) await publish(broker, room, 'chat.message', { text: `lesson ${lesson} line ${i}` }, student);
        await publish(broker, room, 'class.end', {}, teacher);
      }
      await publish(broker, room, 'class.start', {}, teacher);
      await newRecorder(broker).recordRoom(room);
      return Math.max(...(await store.roomEvents(room)).map((event) => event.ts)) + 1;
    };
    const remaining = async () => ({ events: (await store.roomEvents(room)).length, classes: (await store.listClasses({ room, limit: 10 })).length });

    // Batches of 2 rows: every class's 5 events and the 2 loose ones take several statements each.
    const cutoff = await fill();
    expect(await remaining()).toEqual({ events: 18, classes: 4 });
    expect(await store.deleteOlderThan(cutoff, { batch: 2 })).toBe(true);
    expect(await remaining()).toEqual({ events: 1, classes: 1 });

    // No time at all: each call still makes progress and says whether more is left, until it is done.
    const later = await fill();
    const seen = [await remaining()];
    let done = false;
    for (let call = 0; call < 20 && !done; call++) {
      done = await store.deleteOlderThan(later, { batch: 2, until: 0 });
      const now = await remaining();
      if (!done) expect(now.events + now.classes).toBeLessThan(seen.at(-1)!.events + seen.at(-1)!.classes);
      seen.push(now);
    }
    expect(done).toBe(true);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.at(-1)).toEqual({ events: 1, classes: 1 });
  });

  it('erases a user: their events keep their place without name or id, content kept only when asked', async () => {
    const broker = newBroker();
    const room = 'class-erase';
    await publish(broker, room, 'chat.message', { text: 'mine' }, { userId: 'erase-me', name: 'Bo', role: 'student' });
    await publish(broker, room, 'chat.message', { text: 'yours' }, { userId: 'keep-me', name: 'Cy', role: 'student' });
    await newRecorder(broker).recordRoom(room);

    expect(await store.eraseUser('erase-me', false)).toBe(1);
    const events = await store.roomEvents(room);
    expect(events.map((event) => [event.author_id, event.author_name, event.erased, event.data])).toEqual([
      [null, null, true, null],
      ['keep-me', 'Cy', false, { text: 'yours' }],
    ]);
  });
});
