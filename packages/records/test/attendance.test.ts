import { MemoryBroker, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type PresenceLeaveReason, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attendanceCsv, computeAttendance, Recorder, RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const ada: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const bob: Sender = { userId: 's-2', name: '=Bob', role: 'student' };

const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silentLogger = { warn: () => undefined };
const MINUTE = 60_000;
const IDLE_MS = 10 * MINUTE;
const T0 = Date.UTC(2026, 11, 4, 9, 0, 0);

/** A room log on a clock the test moves: the recorded times are exactly those of the scenario. */
class Scenario {
  now = T0;
  readonly broker = new MemoryBroker({ maxMessages: 1000, maxAgeMs: 24 * 60 * MINUTE, delivery: noDelivery, now: () => this.now });

  constructor(readonly room: string) {}

  at(minutes: number): this {
    this.now = T0 + minutes * MINUTE;
    return this;
  }

  async join(who: Sender): Promise<void> {
    await this.broker.publish(this.room, encodeMessageBody(PRESENCE_EVENTS.join, { ...who }, who));
  }

  async leave(who: Sender, reason: PresenceLeaveReason): Promise<void> {
    await this.broker.publish(this.room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...who, reason }, who));
  }

  async publish(event: string, who: Sender): Promise<void> {
    await this.broker.publish(this.room, encodeMessageBody(event, {}, who));
  }
}

describe.each(BACKENDS)('attendance on $name', ({ open }) => {
  let database: TestDatabase;
  let store: RecordsStore;
  beforeAll(async () => {
    database = await open();
    store = new RecordsStore(database.records.db, { idleMs: IDLE_MS });
  });
  afterAll(() => database.drop());

  function recorderOf(scenario: Scenario): Recorder {
    return new Recorder({ store, broker: scenario.broker, logger: silentLogger, now: () => scenario.now });
  }

  it('a class starts at the first join; a short drop is one presence with an interruption, a long one two visits', async () => {
    const s = new Scenario('att-auto');
    const recorder = recorderOf(s);
    await s.at(0).join(teacher);
    await s.at(2).join(ada);
    await s.at(3).join(bob);
    // Ada's Wi-Fi drops for 30 s; Bob is away for five minutes.
    await s.at(10).leave(ada, 'disconnected');
    await s.at(10.5).join(ada);
    await s.at(20).leave(bob, 'left');
    await s.at(25).join(bob);
    await recorder.recordRoom(s.room);
    // Recording in two batches changes nothing: the state continues from the database.
    await s.at(40).leave(bob, 'reaped');
    await s.at(41).leave(ada, 'left');
    await recorder.recordRoom(s.room);

    const [recorded] = await store.listClasses({ room: s.room, limit: 10 });
    expect(recorded).toMatchObject({ started_at: T0, ended_at: null, started_by: null });
    const attendance = await computeAttendance(store.db, recorded!.id, { graceMs: MINUTE, now: T0 + 45 * MINUTE });
    expect(attendance).toMatchObject({ classId: String(recorded!.id), room: s.room, startedAt: T0, endedAt: null });
    expect(attendance!.attendees.map((a) => a.name)).toEqual(['=Bob', 'Ada', 'Ms Rivera']);
    const [bobs, adas, teachers] = attendance!.attendees;
    expect(adas).toEqual({
      userId: 's-1',
      name: 'Ada',
      role: 'student',
      firstJoin: T0 + 2 * MINUTE,
      lastLeave: T0 + 41 * MINUTE,
      minutes: 39,
      interruptions: 1,
      disconnects: 1,
      intervals: [{ from: T0 + 2 * MINUTE, to: T0 + 41 * MINUTE }],
    });
    expect(bobs).toMatchObject({
      minutes: 32,
      interruptions: 0,
      disconnects: 1,
      lastLeave: T0 + 40 * MINUTE,
      intervals: [
        { from: T0 + 3 * MINUTE, to: T0 + 20 * MINUTE },
        { from: T0 + 25 * MINUTE, to: T0 + 40 * MINUTE },
      ],
    });
    // Still present: no last leave, minutes up to now.
    expect(teachers).toMatchObject({ lastLeave: null, minutes: 45, intervals: [{ from: T0, to: null }] });

    const csv = attendanceCsv(attendance!).split('\r\n');
    expect(csv[0]).toBe('user_id,name,role,first_join,last_leave,minutes,interruptions,disconnects');
    expect(csv[1]).toBe(`s-2,'=Bob,student,${new Date(T0 + 3 * MINUTE).toISOString()},${new Date(T0 + 40 * MINUTE).toISOString()},32.0,0,1`);
    expect(csv[3]).toBe(`t-1,Ms Rivera,teacher,${new Date(T0).toISOString()},,45.0,0,0`);
  });

  it('an empty room ends the class at its last leave once idle; a join after that starts the next class', async () => {
    const s = new Scenario('att-idle');
    const recorder = recorderOf(s);
    await s.at(0).join(ada);
    await s.at(5).leave(ada, 'left');
    // Back within the idle time: the same class.
    await s.at(9).join(ada);
    await s.at(30).leave(ada, 'disconnected');
    await recorder.recordRoom(s.room);
    // The sweep covers every room of the database; this room's class is what the test looks at.
    s.at(30 + 9);
    await recorder.endIdleClasses(IDLE_MS);
    expect(await store.roomsWithOpenClasses()).toContain(s.room);
    s.at(30 + 10);
    await recorder.endIdleClasses(IDLE_MS);
    expect(await store.roomsWithOpenClasses()).not.toContain(s.room);
    await s.at(60).join(ada);
    await s.at(70).leave(ada, 'left');
    // Here no sweep runs between: the join itself sees the room was idle.
    await s.at(90).join(ada);
    await recorder.recordRoom(s.room);

    const classes = (await store.listClasses({ room: s.room, limit: 10 })).reverse();
    expect(classes.map((c) => [c.started_at - T0, c.ended_at === null ? null : c.ended_at - T0])).toEqual([
      [0, 30 * MINUTE],
      [60 * MINUTE, 70 * MINUTE],
      [90 * MINUTE, null],
    ]);
    const first = await computeAttendance(store.db, classes[0]!.id, { graceMs: MINUTE });
    expect(first!.attendees[0]).toMatchObject({ minutes: 26, interruptions: 0, intervals: [{ from: T0, to: T0 + 5 * MINUTE }, { from: T0 + 9 * MINUTE, to: T0 + 30 * MINUTE }] });
  });

  it('a started class nobody ended ends at its last leave once the room has been empty a day; a join after that starts the next', async () => {
    const DAY = 24 * 60;
    const s = new Scenario('att-forgotten');
    const recorder = recorderOf(s);
    await s.at(0).join(teacher);
    await s.at(1).publish('class.start', teacher);
    await s.at(50).leave(teacher, 'left');
    await recorder.recordRoom(s.room);
    s.at(50 + DAY - 1);
    await recorder.endIdleClasses(IDLE_MS);
    expect(await store.roomsWithOpenClasses()).toContain(s.room);
    s.at(50 + DAY);
    await recorder.endIdleClasses(IDLE_MS);
    expect(await store.roomsWithOpenClasses()).not.toContain(s.room);
    // The next day's lesson, started again and again forgotten; the join comes before any sweep.
    await s.at(2 * DAY).join(teacher);
    await s.at(2 * DAY + 1).publish('class.start', teacher);
    await s.at(2 * DAY + 40).leave(teacher, 'left');
    await recorder.recordRoom(s.room);
    await s.at(3 * DAY + 41).join(ada);
    await recorder.recordRoom(s.room);

    const classes = (await store.listClasses({ room: s.room, limit: 10 })).reverse();
    expect(classes.map((c) => [c.auto, (c.started_at - T0) / MINUTE, c.ended_at === null ? null : (c.ended_at - T0) / MINUTE])).toEqual([
      [true, 0, 1],
      [false, 1, 50],
      [true, 2 * DAY, 2 * DAY + 1],
      [false, 2 * DAY + 1, 2 * DAY + 40],
      [true, 3 * DAY + 41, null],
    ]);
  });

  it('class.start rules: it closes the class a first join opened, counts who is present, and only class.end ends it', async () => {
    const s = new Scenario('att-explicit');
    const recorder = recorderOf(s);
    await s.at(0).join(ada);
    await s.at(1).join(teacher);
    await s.at(5).publish('class.start', teacher);
    await s.at(20).leave(ada, 'disconnected');
    await s.at(21).leave(teacher, 'disconnected');
    await recorder.recordRoom(s.room);
    // Empty for an hour: a started class stays open.
    s.at(80);
    await recorder.endIdleClasses(IDLE_MS);
    expect(await store.roomsWithOpenClasses()).toContain(s.room);
    await s.at(81).join(teacher);
    await s.at(85).publish('class.end', teacher);
    await recorder.recordRoom(s.room);

    const [lobby, lesson] = (await store.listClasses({ room: s.room, limit: 10 })).reverse();
    expect(lobby).toMatchObject({ started_at: T0, ended_at: T0 + 5 * MINUTE });
    expect(lesson).toMatchObject({ started_at: T0 + 5 * MINUTE, ended_at: T0 + 85 * MINUTE, started_by: 't-1' });
    const attendance = await computeAttendance(store.db, lesson!.id, { graceMs: MINUTE });
    expect(attendance!.attendees.map((a) => [a.name, a.minutes, a.disconnects, a.lastLeave])).toEqual([
      ['Ada', 15, 1, T0 + 20 * MINUTE],
      ['Ms Rivera', 20, 1, T0 + 85 * MINUTE],
    ]);
    const events = await store.roomEvents(s.room);
    expect(events.filter((e) => e.class_id === lesson!.id).map((e) => e.event)).toEqual(['class.start', 'presence.leave', 'presence.leave', 'presence.join', 'class.end']);
  });

  it('erasing a user removes their attendance', async () => {
    const s = new Scenario('att-erase');
    const recorder = recorderOf(s);
    await s.at(0).join({ userId: 'erase-me', name: 'Eve', role: 'student' });
    await s.at(1).join(teacher);
    await recorder.recordRoom(s.room);
    await store.eraseUser('erase-me', false);
    const [recorded] = await store.listClasses({ room: s.room, limit: 1 });
    const attendance = await computeAttendance(store.db, recorded!.id, { now: T0 + 2 * MINUTE });
    expect(attendance!.attendees.map((a) => a.userId)).toEqual(['t-1']);
  });
});
