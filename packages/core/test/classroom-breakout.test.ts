import { describe, expect, it } from 'vitest';
import { BREAKOUT_LIMITS, groupRoom, type BreakoutOpened, type BreakoutOverview, type ClassroomSnapshot, type Role } from '@classwire/protocol';
import { Classroom, Engine, MemoryBroker, MemoryPresence, MemoryRegistry } from '@classwire/core';
import { RecordingFanOut, type Frame } from './recording-fanout.js';

/** Breakout rooms through the engine (docs/classroom.md, "Breakout rooms"): who may enter and send in which group, per role and state. */

const START = 1_700_000_000_000;
const CLASS = 'maths';
const G1 = groupRoom(CLASS, 1);
const G2 = groupRoom(CLASS, 2);

function setup(options: { classroom?: boolean } = {}) {
  const now = (): number => START;
  const registry = new MemoryRegistry();
  const presence = new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new MemoryBroker({ now, delivery: fanout });
  // The per-user class-event rate (security.md) is lifted: these tests publish many events at one instant of a fake clock.
  const classroom = options.classroom === false ? undefined : new Classroom({ registry, broker, presence, fanout, now, eventRate: { perSecond: 1000, burst: 1000 } });
  const engine = new Engine({ registry, broker, presence, fanout, now, classroom, roomJoinRate: { perSecond: 1000, burst: 1000 }, joinRate: { perSecond: 1000, burst: 1000 } });
  let ids = 0;

  function replyTo(connectionId: string, id: string): Frame {
    const reply = fanout.frames(connectionId).find((f) => f.id === id && ['ack', 'error', 'joined', 'left'].includes(f.type));
    expect(reply, `a reply to ${id}`).toBeDefined();
    return reply!;
  }

  async function connect(connectionId: string, role: Role, rooms: string[] = ['*'], userId = connectionId): Promise<void> {
    await engine.connect({ connectionId, userId, name: `Name ${connectionId}`, role, rooms, expiresAt: START + 3_600_000, connectedAt: now(), node: 'test' });
  }

  async function join(connectionId: string, room: string): Promise<Frame> {
    const id = `j${++ids}`;
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'join', room, id }));
    return replyTo(connectionId, id);
  }

  async function enter(connectionId: string, role: Role): Promise<void> {
    await connect(connectionId, role);
    expect(await join(connectionId, CLASS)).toMatchObject({ type: 'joined' });
  }

  async function publish(connectionId: string, event: string, data: unknown, room = CLASS): Promise<Frame> {
    const id = `p${++ids}`;
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'publish', room, event, data, id }));
    return replyTo(connectionId, id);
  }

  async function ok(connectionId: string, event: string, data: unknown, room = CLASS): Promise<Frame> {
    const reply = await publish(connectionId, event, data, room);
    expect(reply, `${event} from ${connectionId} in ${room}`).toMatchObject({ type: 'ack' });
    return reply;
  }

  async function refused(connectionId: string, event: string, data: unknown, code: string, room = CLASS): Promise<void> {
    expect(await publish(connectionId, event, data, room), `${event} from ${connectionId} in ${room}`).toMatchObject({ type: 'error', code });
  }

  function messages(connectionId: string, event: string, room?: string): Frame[] {
    return fanout.frames(connectionId).filter((f) => f.type === 'message' && f.event === event && (room === undefined || f.room === room));
  }

  function snapshotOf(connectionId: string, room = CLASS): ClassroomSnapshot {
    const frames = fanout.ofType(connectionId, 'snapshot').filter((f) => f.room === room);
    const lastStart = frames.map((f) => f.part).lastIndexOf(0);
    return JSON.parse(frames.slice(lastStart).map((p) => p.data as string).join('')) as ClassroomSnapshot;
  }

  return { engine, fanout, connect, join, enter, publish, ok, refused, messages, snapshotOf };
}

async function classOf() {
  const t = setup();
  await t.enter('teacher', 'teacher');
  await t.enter('ta', 'assistant');
  await t.enter('ann', 'student');
  await t.enter('bob', 'student');
  await t.enter('cat', 'student');
  await t.enter('dan', 'student');
  await t.enter('obs', 'observer');
  return t;
}

const manual = { groups: 2, mode: 'manual' };
const place = (userId: string, group: number | null) => ({ assignments: [{ userId, group }] });

describe('breakout rooms', () => {
  it('splits the students present at random into groups that differ by at most one, and tells everyone where each is', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', { groups: 3, mode: 'random' });
    const opened = t.messages('ann', 'breakout.open')[0]!.data as BreakoutOpened;
    expect(opened.assignment.map((p) => p.userId)).toEqual(['ann', 'bob', 'cat', 'dan']);
    const sizes = [1, 2, 3].map((g) => opened.assignment.filter((p) => p.group === g).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b)).toBe(4);
    // A late joiner's snapshot holds the same breakout.
    await t.enter('late', 'teacher');
    expect(t.snapshotOf('late').breakout).toEqual({ groups: 3, mode: 'random', assignment: opened.assignment, shown: null, broadcast: null });
    // Each student enters their own group and no other.
    for (const { userId, group } of opened.assignment) {
      expect(await t.join(userId, groupRoom(CLASS, group))).toMatchObject({ type: 'joined' });
      const other = (group % 3) + 1;
      expect(await t.join(userId, groupRoom(CLASS, other))).toMatchObject({ type: 'error', code: 'forbidden' });
    }
  });

  it('lets staff visit any group and observers read any, while a student enters only the group they are placed in', async () => {
    const t = await classOf();
    expect(await t.join('teacher', G1), 'nothing open yet').toMatchObject({ type: 'error', code: 'forbidden' });
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 2 }] });
    expect(await t.join('ann', G1)).toMatchObject({ type: 'joined' });
    expect(await t.join('ann', G2)).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await t.join('cat', G1), 'not placed anywhere').toMatchObject({ type: 'error', code: 'forbidden' });
    for (const visitor of ['teacher', 'ta', 'obs']) {
      expect(await t.join(visitor, G1)).toMatchObject({ type: 'joined' });
      expect(await t.join(visitor, G2)).toMatchObject({ type: 'joined' });
    }
    expect(await t.join('teacher', groupRoom(CLASS, 3)), 'beyond the groups open').toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await t.join('teacher', `${CLASS}~g0`)).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await t.join('teacher', `${CLASS}~x1`)).toMatchObject({ type: 'error', code: 'bad_request' });
    // Staff speak in any group; the observer sends nothing.
    await t.ok('ta', 'chat.message', { text: 'hello group 2' }, G2);
    await t.refused('obs', 'chat.message', { text: 'hi' }, 'forbidden', G1);
  });

  it('keeps each group to itself: a stroke in group 1 never reaches group 2', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 2 }] });
    await t.join('ann', G1);
    await t.join('bob', G2);
    await t.ok('ann', 'wb.stroke', { id: 's1', color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.2] }, G1);
    await t.ok('ann', 'chat.message', { text: 'group one here' }, G1);
    expect(t.messages('bob', 'wb.stroke')).toEqual([]);
    expect(t.messages('bob', 'chat.message')).toEqual([]);
    // Nor does it reach the class room: students in a group still see the class (announcements, timer) but not each group.
    expect(t.messages('cat', 'wb.stroke')).toEqual([]);
    await t.join('teacher', G1);
    expect(t.snapshotOf('teacher', G1).whiteboard?.map((e) => e.item.id)).toEqual(['s1']);
    await t.join('teacher', G2);
    expect(t.snapshotOf('teacher', G2).whiteboard).toEqual([]);
  });

  it('refuses a student who was moved on: no join, no publish in the old group, and nothing after the breakout closes', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', place('ann', 1));
    expect(await t.join('ann', G1)).toMatchObject({ type: 'joined' });
    await t.ok('ann', 'chat.message', { text: 'in group 1' }, G1);
    await t.ok('teacher', 'breakout.assign', place('ann', 2));
    // Members learn it from the class room's message; the SDK leaves. A client that does not cannot take part.
    expect(t.messages('ann', 'breakout.assign').at(-1)?.data).toEqual(place('ann', 2));
    await t.refused('ann', 'chat.message', { text: 'still here?' }, 'forbidden', G1);
    await t.refused('ann', 'wb.stroke', { id: 's9', color: '#112233', width: 3, points: [0, 0, 1, 1] }, 'forbidden', G1);
    await t.refused('ann', 'custom.event', { any: 1 }, 'forbidden', G1);
    expect(await t.join('ann', G2)).toMatchObject({ type: 'joined' });
    expect(await t.join('teacher', G2)).toMatchObject({ type: 'joined' });
    await t.ok('teacher', 'breakout.close', {});
    expect(t.messages('ann', 'breakout.close')).toHaveLength(1);
    await t.refused('ann', 'chat.message', { text: 'after close' }, 'forbidden', G2);
    await t.refused('teacher', 'chat.message', { text: 'after close' }, 'forbidden', G2);
    expect(await t.join('bob', G1)).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await t.join('teacher', G1)).toMatchObject({ type: 'error', code: 'forbidden' });
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').breakout).toBeNull();
  });

  it('lets students choose only when the breakout says so, and only a group that exists', async () => {
    const t = await classOf();
    await t.refused('ann', 'breakout.choose', { group: 1 }, 'conflict');
    await t.ok('teacher', 'breakout.open', manual);
    await t.refused('ann', 'breakout.choose', { group: 1 }, 'forbidden');
    await t.ok('teacher', 'breakout.close', {});
    await t.ok('teacher', 'breakout.open', { groups: 2, mode: 'choose' });
    await t.ok('ann', 'breakout.choose', { group: 2 });
    await t.refused('ann', 'breakout.choose', { group: 3 }, 'bad_request');
    await t.refused('ann', 'breakout.choose', { group: 0 }, 'bad_request');
    await t.refused('obs', 'breakout.choose', { group: 1 }, 'forbidden');
    await t.refused('teacher', 'breakout.choose', { group: 1 }, 'forbidden');
    expect(await t.join('ann', G2)).toMatchObject({ type: 'joined' });
    // Changing one's mind moves one's place; staff may still place by hand in this mode.
    await t.ok('ann', 'breakout.choose', { group: 1 });
    await t.ok('teacher', 'breakout.assign', place('bob', 2));
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').breakout?.assignment).toEqual([
      { userId: 'ann', group: 1 },
      { userId: 'bob', group: 2 },
    ]);
  });

  it('refuses breakout control to students and observers, a second open, a group past the count, and runs everything from the class room', async () => {
    const t = await classOf();
    for (const who of ['ann', 'obs']) await t.refused(who, 'breakout.open', manual, 'forbidden');
    await t.refused('teacher', 'breakout.close', {}, 'conflict');
    await t.refused('teacher', 'breakout.assign', place('ann', 1), 'conflict');
    await t.refused('teacher', 'breakout.open', { groups: BREAKOUT_LIMITS.maxGroups + 1, mode: 'manual' }, 'bad_request');
    await t.refused('teacher', 'breakout.open', { groups: 2, mode: 'sideways' }, 'bad_request');
    await t.ok('ta', 'breakout.open', manual);
    await t.refused('teacher', 'breakout.open', manual, 'conflict');
    await t.refused('teacher', 'breakout.assign', place('ann', 3), 'bad_request');
    await t.refused('teacher', 'breakout.show', { group: 3 }, 'bad_request');
    const tooMany = { assignments: Array.from({ length: BREAKOUT_LIMITS.maxAssignments + 1 }, (_, i) => ({ userId: `u${i}`, group: 1 })) };
    await t.refused('teacher', 'breakout.assign', tooMany, 'bad_request');
    await t.refused('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'ann', group: 2 }] }, 'bad_request');
    for (const who of ['ann', 'obs']) {
      await t.refused(who, 'breakout.assign', place('ann', 1), 'forbidden');
      await t.refused(who, 'breakout.show', { group: 1 }, 'forbidden');
      await t.refused(who, 'breakout.broadcast', { text: 'hi' }, 'forbidden');
      await t.refused(who, 'breakout.close', {}, 'forbidden');
      await t.refused(who, 'breakout.overview', {}, 'forbidden');
    }
    // From inside a group: no breakout of a breakout, and the class is not ended there.
    await t.join('teacher', G1);
    await t.refused('teacher', 'breakout.open', manual, 'forbidden', G1);
    await t.refused('teacher', 'breakout.close', {}, 'forbidden', G1);
    await t.refused('teacher', 'class.end', {}, 'forbidden', G1);
  });

  it('broadcasts to every group through the class room, which members in groups stay joined to', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 2 }] });
    await t.join('ann', G1);
    await t.join('bob', G2);
    await t.ok('teacher', 'breakout.broadcast', { text: 'Two minutes left' });
    for (const who of ['ann', 'bob', 'cat']) expect(t.messages(who, 'breakout.broadcast', CLASS).map((f) => f.data)).toEqual([{ text: 'Two minutes left' }]);
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').breakout?.broadcast).toMatchObject({ text: 'Two minutes left', from: { userId: 'teacher' } });
  });

  it("shows a group's board to the class: every member may enter to read it, only its own students draw", async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 2 }] });
    await t.join('ann', G1);
    await t.ok('ann', 'wb.stroke', { id: 's1', color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.2] }, G1);
    expect(await t.join('bob', G1)).toMatchObject({ type: 'error', code: 'forbidden' });
    await t.ok('teacher', 'breakout.show', { group: 1 });
    for (const who of ['bob', 'cat']) {
      expect(await t.join(who, G1)).toMatchObject({ type: 'joined' });
      expect(t.snapshotOf(who, G1).whiteboard?.map((e) => e.item.id)).toEqual(['s1']);
      await t.refused(who, 'wb.stroke', { id: `x-${who}`, color: '#112233', width: 3, points: [0, 0, 1, 1] }, 'forbidden', G1);
      await t.refused(who, 'chat.message', { text: 'hi' }, 'forbidden', G1);
    }
    await t.ok('teacher', 'breakout.show', { group: null });
    expect(await t.join('dan', G1)).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('gives the asking staff member an overview of who is in each group room, and nobody else', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 1 }, { userId: 'cat', group: 2 }] });
    await t.join('ann', G1);
    await t.join('bob', G1);
    await t.join('ta', G2);
    await t.ok('teacher', 'breakout.overview', {});
    const overview = t.messages('teacher', 'breakout.where').map((f) => f.data as BreakoutOverview);
    expect(overview).toEqual([{ groups: [{ group: 1, userIds: ['ann', 'bob'] }, { group: 2, userIds: ['ta'] }] }]);
    for (const who of ['ta', 'ann', 'obs']) expect(t.messages(who, 'breakout.where')).toEqual([]);
  });

  it("applies the class's moderation in its groups: muted students do not chat there, removed ones do not enter", async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 1 }] });
    await t.join('ann', G1);
    await t.ok('teacher', 'moderation.mute', { userId: 'ann', muted: true });
    await t.refused('ann', 'chat.message', { text: 'hi' }, 'forbidden', G1);
    await t.ok('ann', 'wb.stroke', { id: 's1', color: '#112233', width: 3, points: [0, 0, 1, 1] }, G1);
    await t.ok('teacher', 'moderation.remove', { userId: 'bob' });
    // Bob is still placed in group 1, but a new connection of his is refused there by the class's rule.
    await t.connect('bob-again', 'student', ['*'], 'bob');
    expect(await t.join('bob-again', G1)).toMatchObject({ type: 'error', code: 'forbidden', message: expect.stringMatching(/removed/) });
  });

  it('needs the class claim for a group, not a claim naming the group, and the classroom', async () => {
    const t = await classOf();
    await t.ok('teacher', 'breakout.open', manual);
    await t.ok('teacher', 'breakout.assign', { assignments: [{ userId: 'eve', group: 1 }, { userId: 'fay', group: 1 }, { userId: 'gus', group: 1 }] });
    await t.connect('eve', 'student', [CLASS]);
    expect(await t.join('eve', G1), 'the class claim is enough').toMatchObject({ type: 'joined' });
    await t.connect('fay', 'student', ['physics', G1]);
    expect(await t.join('fay', G1), 'a claim naming the group is not').toMatchObject({ type: 'error', code: 'forbidden' });
    await t.connect('gus', 'student', ['mat*']);
    expect(await t.join('gus', G1), 'a prefix claim on the class').toMatchObject({ type: 'joined' });

    const generic = setup({ classroom: false });
    await generic.connect('any', 'teacher');
    expect(await generic.join('any', G1)).toMatchObject({ type: 'error', code: 'forbidden' });
  });
});
