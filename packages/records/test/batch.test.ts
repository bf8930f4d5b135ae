import { MemoryBroker, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import fc from 'fast-check';
import type { Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Recorder, RecordsStore, type RecordedEntry, type RecordHook } from '../src/index.js';
import type { RecordsDatabase } from '../src/schema.js';
import { storableJson } from '../src/store.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const ada: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const bob: Sender = { userId: 's-2', name: 'Bob', role: 'student' };
const cy: Sender = { userId: 's-3', name: 'Cy', role: 'student' };

const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const MINUTE = 60_000;
const IDLE_MS = 10 * MINUTE;
const T0 = Date.UTC(2026, 11, 5, 9, 0, 0);

type Step = [minute: number, event: string, who: Sender, data?: unknown];

/** A lesson that crosses every class and presence transition, some of them twice. */
const LESSON: Step[] = [
  [0, PRESENCE_EVENTS.join, teacher],
  [1, PRESENCE_EVENTS.join, ada],
  [2, 'chat.message', ada, { text: 'hi' }],
  [3, PRESENCE_EVENTS.leave, ada, { reason: 'disconnected' }],
  [3.5, PRESENCE_EVENTS.join, ada],
  [4, PRESENCE_EVENTS.join, ada],
  // The teacher's start ends the class the first join opened, and everyone present moves to theirs.
  [5, 'class.start', teacher],
  [6, PRESENCE_EVENTS.join, bob],
  [7, PRESENCE_EVENTS.leave, bob, { reason: 'left' }],
  [8, PRESENCE_EVENTS.join, bob],
  [9, PRESENCE_EVENTS.join, cy, { malformed: true }],
  [10, 'class.start', teacher],
  [20, 'class.end', teacher],
  [21, 'chat.message', bob, { text: 'after class' }],
  [22, PRESENCE_EVENTS.leave, bob, { reason: 'reaped' }],
  // A first join after class.end opens a class; the room then empties and stays empty past the idle time.
  [23, PRESENCE_EVENTS.join, cy],
  [24, PRESENCE_EVENTS.leave, cy, { reason: 'left' }],
  [25, PRESENCE_EVENTS.leave, ada, { reason: 'left' }],
  [26, PRESENCE_EVENTS.leave, teacher, { reason: 'left' }],
  [40, PRESENCE_EVENTS.join, ada],
  [41, 'chat.message', ada, { text: 'back' }],
  [42, PRESENCE_EVENTS.leave, ada, { reason: 'disconnected' }],
  [42.5, PRESENCE_EVENTS.join, ada],
];

function bodyOf([, event, who, data]: Step): string {
  if (event === PRESENCE_EVENTS.join) return encodeMessageBody(event, data === undefined ? { ...who } : data, who);
  if (event === PRESENCE_EVENTS.leave) return encodeMessageBody(event, { ...who, ...(data as object) }, who);
  return encodeMessageBody(event, data ?? {}, who);
}

/** A recording hook that refuses any batch holding one room, until told otherwise. */
class RefusingHook implements RecordHook {
  refused: string | undefined;

  inTransaction(_trx: Transaction<RecordsDatabase>, recorded: readonly RecordedEntry[]): Promise<boolean> {
    if (recorded.some((item) => item.room === this.refused)) return Promise.reject(new Error(`refusing ${this.refused}`));
    return Promise.resolve(false);
  }

  classEndedIdle(): Promise<boolean> {
    return Promise.resolve(false);
  }

  afterCommit(): void {}
}

describe.each(BACKENDS)('recording several rooms in one transaction on $name', ({ open }) => {
  let database: TestDatabase;
  let store: RecordsStore;
  beforeAll(async () => {
    database = await open();
    store = new RecordsStore(database.records.db, { idleMs: IDLE_MS });
  });
  afterAll(() => database.drop());

  /** A room's classes, attendance, presence and events, with class ids replaced by their order. */
  async function recordedState(room: string): Promise<unknown> {
    const db = store.db;
    const classes = await db.selectFrom('classes').selectAll().where('room', '=', room).orderBy('id').execute();
    const ordinal = new Map(classes.map((row, index) => [row.id, index]));
    const attendance = classes.length === 0 ? [] : await db.selectFrom('attendance').selectAll().where('class_id', 'in', [...ordinal.keys()]).execute();
    const presence = await db.selectFrom('room_presence').select(['user_id', 'name', 'role', 'since']).where('room', '=', room).orderBy('user_id').execute();
    const events = await store.roomEvents(room);
    return {
      classes: classes.map((row) => ({ startedAt: row.started_at, endedAt: row.ended_at, startedBy: row.started_by, auto: row.auto, emptySince: row.empty_since })),
      attendance: attendance
        .map((row) => [ordinal.get(row.class_id), row.user_id, row.name, row.role, row.joined_at, row.left_at, row.leave_reason])
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      presence,
      events: events.map((row) => [row.seq, row.ts, row.event, row.author_id, row.class_id === null ? null : ordinal.get(row.class_id)]),
    };
  }

  it('leaves the same classes, attendance and presence whether a room is recorded event by event or in one batch beside others', async () => {
    let now = T0;
    const broker = new MemoryBroker({ maxMessages: 1000, maxAgeMs: 24 * 60 * MINUTE, delivery: noDelivery, now: () => now });
    const recorder = new Recorder({ store, broker, logger: { warn: () => undefined }, now: () => now });
    const [stepwise, batched, chatty] = ['stepwise', 'batched', 'chatty'];
    for (const step of LESSON) {
      now = T0 + step[0] * MINUTE;
      await broker.publish(stepwise, bodyOf(step));
      await broker.publish(batched, bodyOf(step));
      await broker.publish(chatty, encodeMessageBody('chat.message', { text: `at ${step[0]}` }, bob));
      await recorder.recordRoom(stepwise);
    }
    await recorder.recordRooms([chatty, batched]);

    const expected = await recordedState(stepwise);
    expect(await recordedState(batched)).toEqual(expected);
    expect(expected).toMatchObject({
      classes: [
        { startedAt: T0, endedAt: T0 + 5 * MINUTE, auto: true },
        { startedAt: T0 + 5 * MINUTE, endedAt: T0 + 20 * MINUTE, startedBy: 't-1', auto: false },
        { startedAt: T0 + 23 * MINUTE, endedAt: T0 + 26 * MINUTE, auto: true },
        { startedAt: T0 + 40 * MINUTE, endedAt: null, auto: true, emptySince: null },
      ],
      presence: [{ user_id: 's-1', since: T0 + 42.5 * MINUTE }],
    });
    const chat = (await recordedState(chatty)) as { events: unknown[]; classes: unknown[] };
    expect(chat.events).toHaveLength(LESSON.length);
    expect(chat.classes).toEqual([]);
  });

  it('records each event once when two writers record overlapping sets of rooms, in opposite orders, at once', async () => {
    const broker = new MemoryBroker({ maxMessages: 1000, delivery: noDelivery });
    const rooms = Array.from({ length: 12 }, (_, i) => `overlap-${i}`);
    const writers = [0, 1].map(() => new Recorder({ store, broker, logger: { warn: () => undefined } }));
    for (let round = 0; round < 5; round++) {
      for (const room of rooms) {
        await broker.publish(room, bodyOf([0, PRESENCE_EVENTS.join, { ...ada, userId: `s-${round}` }]));
        await broker.publish(room, encodeMessageBody('chat.message', { text: `round ${round}` }, ada));
      }
      await Promise.all([writers[0]!.recordRooms(rooms.slice(0, 8)), writers[1]!.recordRooms(rooms.slice(4).reverse())]);
    }
    for (const room of rooms) {
      const events = await store.roomEvents(room);
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      const classes = await store.listClasses({ room, limit: 10 });
      expect(classes).toHaveLength(1);
      const attendance = await store.db.selectFrom('attendance').select('user_id').where('class_id', '=', classes[0]!.id).orderBy('user_id').execute();
      expect(attendance.map((row) => row.user_id)).toEqual(['s-0', 's-1', 's-2', 's-3', 's-4']);
    }
  });

  it('keeps data and names that array parameters must escape exactly as published', async () => {
    const broker = new MemoryBroker({ maxMessages: 1000, delivery: noDelivery });
    const recorder = new Recorder({ store, broker, logger: { warn: () => undefined } });
    const awkward = ['a"b', 'back\\slash', '{braces},commas', "it's", 'NULL', '', ' ', '☃ \u2028 é', '\\"{}'];
    const author: Sender = { userId: 'u-"{,}', name: 'O\'Brien, "Jr" {x}', role: 'student' };
    const payloads: unknown[] = [...awkward.map((text) => ({ text, nested: [text, { [text]: text }] })), null, 'NULL', [], 0];
    for (const data of payloads) await broker.publish('awkward', encodeMessageBody('note.add', data, author));
    await recorder.recordRooms(['awkward', 'awkward-other']);
    const events = await store.roomEvents('awkward');
    expect(events.map((event) => event.data)).toEqual(payloads);
    expect(new Set(events.map((event) => `${event.author_id}|${event.author_name}`))).toEqual(new Set([`${author.userId}|${author.name}`]));
  });

  it('records text Postgres cannot hold (NUL, lone surrogates) with U+FFFD in their place, keeping the rest exactly', async () => {
    const broker = new MemoryBroker({ maxMessages: 1000, delivery: noDelivery });
    const recorder = new Recorder({ store, broker, logger: { warn: () => undefined } });
    const author: Sender = { userId: 'u-nul', name: 'N\u0000ul \ud800', role: 'student' };
    const texts = ['a\u0000b', '\ud800', 'x\udc00y', '\udbff\ud800', 'pair \ud83d\ude00 ok', 'literal \\u0000 text', '\\\u0000'];
    for (const text of texts) await broker.publish('unstorable', encodeMessageBody('chat.message', { text }, author));
    await broker.publish('unstorable', encodeMessageBody('chat.message', { text: 'after' }, author));
    await recorder.recordRooms(['unstorable']);
    const events = await store.roomEvents('unstorable');
    expect(events.map((event) => (event.data as { text: string }).text)).toEqual([
      'a\ufffdb',
      '\ufffd',
      'x\ufffdy',
      '\ufffd\ufffd',
      'pair \ud83d\ude00 ok',
      'literal \\u0000 text',
      '\\\ufffd',
      'after',
    ]);
    expect(events[0]!.author_name).toBe('N\ufffdul \ufffd');
  });

  it('storableJson changes exactly the characters jsonb refuses, for any string', () => {
    // eslint-disable-next-line no-control-regex -- NUL is what this property is about
    const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
    fc.assert(
      // Any UTF-16 code unit (lone surrogates included), with the awkward ones often.
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\\', 'u', '0', '"'), fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))) }), (text) => {
        expect(JSON.parse(storableJson(JSON.stringify({ text })))).toEqual({ text: text.replace(unstorable, '\ufffd') });
      }),
      { numRuns: 2_000 },
    );
  });

  it('a room the database refuses holds back only itself, and is recorded once it is accepted', async () => {
    const broker = new MemoryBroker({ maxMessages: 1000, delivery: noDelivery });
    const hook = new RefusingHook();
    const refusing = new RecordsStore(store.db, { hook });
    const warnings: string[] = [];
    const recorder = new Recorder({ store: refusing, broker, logger: { warn: (details) => warnings.push((details as { room: string }).room) }, batchDelayMs: 0, retryMs: 20 });
    const rooms = ['refused-a', 'refused-b', 'refused-c'];
    hook.refused = 'refused-b';
    for (const room of rooms) {
      await broker.publish(room, encodeMessageBody('chat.message', { text: 'hello' }, ada));
      recorder.noteActivity(room);
    }
    await recorder.settled();
    expect(warnings).toEqual(['refused-b']);
    expect(await refusing.cursors(rooms)).toEqual(
      new Map([
        ['refused-a', { epoch: expect.any(String) as string, seq: 1 }],
        ['refused-c', { epoch: expect.any(String) as string, seq: 1 }],
      ]),
    );
    hook.refused = undefined;
    await vi.waitFor(async () => expect((await refusing.cursors(['refused-b'])).get('refused-b')).toMatchObject({ seq: 1 }), { timeout: 5_000, interval: 20 });
    await recorder.close();
    expect((await store.roomEvents('refused-b')).map((event) => event.seq)).toEqual([1]);
  });
});
