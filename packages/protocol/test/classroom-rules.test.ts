import { describe, expect, it } from 'vitest';
import {
  INITIAL_CONTROL,
  STAFF_ROLES,
  applyControlEvent,
  handToLower,
  isStaff,
  joinRefusal,
  refusal,
  type ClassControl,
  type ClassroomEvent,
} from '@classwire/protocol/classroom';
import { ME, PERMISSION_CASES, ROLES, caseTitle } from '../../../test-support/classroom-permission-table.js';

const control = (change: Partial<ClassControl> = {}): ClassControl => ({ ...INITIAL_CONTROL, ...change });

describe('the classroom permission table (pure rules)', () => {
  for (const row of PERMISSION_CASES) {
    it(caseTitle(row), () => {
      for (const role of ROLES) {
        const reason = refusal(row.event, { userId: ME, role }, control(row.control), row.target);
        if (row.allowed.includes(role)) expect(reason, `${role} must be allowed`).toBeUndefined();
        else expect(reason, `${role} must be refused`).toEqual(expect.any(String));
      }
    });
  }

  it('covers every classroom event', () => {
    const all: ClassroomEvent[] = [
      'chat.message', 'chat.edit', 'chat.delete', 'chat.private', 'chat.typing', 'hand.raise', 'hand.lower',
      'hand.clear', 'wb.stroke', 'wb.shape', 'wb.erase', 'wb.clear', 'wb.cursor', 'class.settings',
      'class.start', 'class.end', 'moderation.mute', 'moderation.grant', 'moderation.remove',
      'poll.create', 'poll.open', 'poll.close', 'poll.share', 'poll.answer',
      'timer.set', 'timer.pause', 'timer.resume', 'timer.clear', 'announce.pin', 'announce.unpin', 'announce.seen',
      'chat.react', 'chat.unreact', 'reaction.send',
      'wb.text', 'wb.undo', 'wb.redo', 'wb.page.add', 'wb.page.remove', 'wb.page.show', 'wb.page.browse',
      'breakout.open', 'breakout.assign', 'breakout.choose', 'breakout.show', 'breakout.broadcast', 'breakout.close', 'breakout.overview',
    ];
    expect([...new Set(PERMISSION_CASES.map((row) => row.event))].sort()).toEqual([...all].sort());
  });

  it('lets everyone join an open class, keeps removed users out, and students out of an ended class', () => {
    for (const role of ROLES) expect(joinRefusal({ userId: ME, role }, control())).toBeUndefined();
    for (const role of ROLES) expect(joinRefusal({ userId: ME, role }, control({ removed: [ME] }))).toMatch(/removed/);
    const ended = control({ status: 'ended' });
    expect(joinRefusal({ userId: ME, role: 'teacher' }, ended)).toBeUndefined();
    expect(joinRefusal({ userId: ME, role: 'assistant' }, ended)).toBeUndefined();
    expect(joinRefusal({ userId: ME, role: 'student' }, ended)).toMatch(/ended/);
    expect(joinRefusal({ userId: ME, role: 'observer' }, ended)).toMatch(/ended/);
  });

  it('has one definition of staff: teachers and assistants, never the server', () => {
    expect([...STAFF_ROLES].sort()).toEqual(['assistant', 'teacher']);
    expect(ROLES.filter(isStaff)).toEqual(['teacher', 'assistant']);
    expect(isStaff('server')).toBe(false);
  });
});

describe('the control transitions', () => {
  it('changes only the settings named, and returns the same state when nothing changes', () => {
    const start = control();
    const locked = applyControlEvent(start, 'class.settings', { chatLocked: true });
    expect(locked.settings).toEqual({ chatLocked: true, whiteboardLocked: false });
    expect(applyControlEvent(locked, 'class.settings', { chatLocked: true })).toBe(locked);
    expect(applyControlEvent(locked, 'class.settings', { whiteboardLocked: true }).settings).toEqual({ chatLocked: true, whiteboardLocked: true });
  });

  it('starts and ends the class', () => {
    const live = applyControlEvent(control(), 'class.start', {});
    expect(live.status).toBe('live');
    expect(applyControlEvent(live, 'class.start', {})).toBe(live);
    expect(applyControlEvent(live, 'class.end', {}).status).toBe('ended');
    expect(applyControlEvent(applyControlEvent(live, 'class.end', {}), 'class.start', {}).status).toBe('live');
  });

  it('mutes, grants and removes by user, keeping the order of the others', () => {
    let state = control();
    state = applyControlEvent(state, 'moderation.mute', { userId: 'a', muted: true });
    state = applyControlEvent(state, 'moderation.mute', { userId: 'b', muted: true });
    expect(applyControlEvent(state, 'moderation.mute', { userId: 'a', muted: true })).toBe(state);
    state = applyControlEvent(state, 'moderation.mute', { userId: 'a', muted: false });
    expect(state.muted).toEqual(['b']);
    state = applyControlEvent(state, 'moderation.grant', { userId: 'c', granted: true });
    expect(state.granted).toEqual(['c']);
    state = applyControlEvent(state, 'moderation.remove', { userId: 'd' });
    expect(state.removed).toEqual(['d']);
  });

  it('lowers the named hand, or else the sender own', () => {
    expect(handToLower({ userId: 'pupil' }, 'teacher')).toBe('pupil');
    expect(handToLower({}, 'pupil')).toBe('pupil');
  });
});
