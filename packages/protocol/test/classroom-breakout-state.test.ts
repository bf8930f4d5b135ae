import { describe, expect, it } from 'vitest';
import { ROOM_PATTERN } from '@classwire/protocol';
import {
  applyEvent,
  applySnapshot,
  groupJoinRefusal,
  groupRoom,
  groupSummaries,
  initialState,
  parseGroupRoom,
  randomPlacement,
  type ClassroomMessage,
  type ClassroomSnapshot,
  type Sender,
} from '@classwire/protocol/classroom';

const teacher = { userId: 't', name: 'T', role: 'teacher' as const };
const ann = { userId: 'ann', name: 'Ann', role: 'student' as const };
let seq = 0;
const message = (event: string, data: unknown, from: Sender = teacher): ClassroomMessage => ({ event, data, from, ts: 1000 + seq, seq: ++seq });

describe('breakout group rooms', () => {
  it('names a group room after its class, and only such names may carry ~g', () => {
    expect(groupRoom('maths', 7)).toBe('maths~g7');
    expect(parseGroupRoom('maths~g7')).toEqual({ classRoom: 'maths', group: 7 });
    expect(parseGroupRoom('a:b.c~g50')).toEqual({ classRoom: 'a:b.c', group: 50 });
    for (const room of ['maths', 'maths~g', 'maths~g0', 'maths~x1', 'maths~g1~g2']) expect(parseGroupRoom(room), room).toBeUndefined();
    for (const room of ['maths~g1', 'maths~g50', 'maths']) expect(ROOM_PATTERN.test(room), room).toBe(true);
    for (const room of ['maths~g0', 'maths~', 'ma~ths', 'maths~g1~g2', '~g1', 'maths~g100']) expect(ROOM_PATTERN.test(room), room).toBe(false);
  });

  it('splits at random into groups whose sizes differ by at most one, everyone placed once', () => {
    let state = 1;
    const random = () => ((state = (state * 16807) % 2147483647) / 2147483647);
    const students = Array.from({ length: 11 }, (_, i) => `s${i}`);
    const placed = randomPlacement(students, 4, random);
    expect(placed.map((p) => p.userId).sort()).toEqual([...students].sort());
    const sizes = [1, 2, 3, 4].map((g) => placed.filter((p) => p.group === g).length);
    expect(sizes.sort()).toEqual([2, 3, 3, 3]);
  });

  it('lets a student in their own group or the shown one, staff and observers anywhere open', () => {
    const breakout = { groups: 2, mode: 'manual' as const, assignment: [{ userId: 'ann', group: 1 }], shown: null, broadcast: null };
    expect(groupJoinRefusal(ann, 1, breakout)).toBeUndefined();
    expect(groupJoinRefusal(ann, 2, breakout)).toMatch(/not your group/);
    expect(groupJoinRefusal(ann, 2, { ...breakout, shown: 2 })).toBeUndefined();
    expect(groupJoinRefusal({ userId: 'o', role: 'observer' }, 2, breakout)).toBeUndefined();
    expect(groupJoinRefusal(teacher, 3, breakout)).toMatch(/2 groups/);
    expect(groupJoinRefusal(teacher, 1, null)).toMatch(/no breakout/);
  });
});

describe('the breakout in the client state', () => {
  it('follows open, placements, choices, show, broadcast and close as the server sent them', () => {
    let state = initialState();
    state = applyEvent(state, message('breakout.open', { groups: 3, mode: 'choose', assignment: [] }));
    expect(state.breakout).toEqual({ groups: 3, mode: 'choose', assignment: [], shown: null, broadcast: null });
    state = applyEvent(state, message('breakout.choose', { group: 2 }, ann));
    state = applyEvent(state, message('breakout.assign', { assignments: [{ userId: 'bob', group: 1 }, { userId: 'zed', group: 3 }] }));
    state = applyEvent(state, message('breakout.assign', { assignments: [{ userId: 'zed', group: null }] }));
    expect(state.breakout?.assignment).toEqual([
      { userId: 'ann', group: 2 },
      { userId: 'bob', group: 1 },
    ]);
    state = applyEvent(state, message('breakout.show', { group: 2 }));
    state = applyEvent(state, message('breakout.broadcast', { text: 'Wrap up' }));
    expect(state.breakout).toMatchObject({ shown: 2, broadcast: { text: 'Wrap up', from: teacher } });
    const hands = [{ userId: 'ann', name: 'Ann', raisedAt: 1 }];
    expect(groupSummaries(state.breakout!, { groups: [{ group: 2, userIds: ['ann', 't'] }] }, hands)).toEqual([
      { group: 1, placed: ['bob'], present: [], handsUp: [] },
      { group: 2, placed: ['ann'], present: ['ann', 't'], handsUp: ['ann'] },
      { group: 3, placed: [], present: [], handsUp: [] },
    ]);
    // Malformed data changes nothing.
    const same = applyEvent(state, message('breakout.show', { group: 99 }));
    expect(same.breakout).toBe(state.breakout);
    state = applyEvent(state, message('breakout.close', {}));
    expect(state.breakout).toBeNull();
  });

  it('takes the breakout from a snapshot, full or resumed', () => {
    const breakout = { groups: 2, mode: 'random' as const, assignment: [{ userId: 'ann', group: 2 }], shown: null, broadcast: null };
    const snapshot: ClassroomSnapshot = { full: true, seq: 5, status: 'live', settings: { chatLocked: false, whiteboardLocked: false }, muted: [], granted: [], removed: [], hands: [], private: [], breakout };
    expect(applySnapshot(initialState(), snapshot).breakout).toEqual(breakout);
    expect(applySnapshot(initialState(), { ...snapshot, full: false }).breakout).toEqual(breakout);
    expect(applySnapshot(initialState(), { ...snapshot, breakout: undefined }).breakout).toBeNull();
  });
});
