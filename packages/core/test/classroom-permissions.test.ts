import { describe, it, expect } from 'vitest';
import type { ClassroomEvent, Role } from '@classwire/protocol';
import { EMPTY_CONTROL, joinRefusal, refusal, type ControlState, type Target } from '@classwire/core';

/**
 * The permission table of docs/classroom.md, row by row: for every event, which roles are allowed and
 * which refused, in the default state and in each state that changes the answer. Expected values are
 * written out by hand from the doc, not derived from the implementation.
 */

const ROLES: Role[] = ['teacher', 'assistant', 'student', 'observer'];
const ME = 'me';

function control(change: Partial<Omit<ControlState, 'muted' | 'granted' | 'removed'>> & { muted?: string[]; granted?: string[]; removed?: string[] } = {}): ControlState {
  return {
    ...EMPTY_CONTROL,
    ...change,
    settings: { ...EMPTY_CONTROL.settings, ...change.settings },
    muted: new Set(change.muted ?? []),
    granted: new Set(change.granted ?? []),
    removed: new Set(change.removed ?? []),
  };
}

interface Row {
  event: ClassroomEvent;
  when: string;
  state?: ControlState;
  target?: Target;
  allowed: Role[];
}

const chatLocked = control({ settings: { chatLocked: true, whiteboardLocked: false } });
const boardLocked = control({ settings: { chatLocked: false, whiteboardLocked: true } });
const everyoneMuted = control({ muted: [ME] });
const meGranted = control({ settings: { chatLocked: false, whiteboardLocked: true }, granted: [ME] });
const own = { authorId: ME };
const someoneElses = { authorId: 'other' };
const aStudent: Target = { userId: 'pupil', userRole: 'student' };
const anObserver: Target = { userId: 'parent', userRole: 'observer' };
const aTeacher: Target = { userId: 'boss', userRole: 'teacher' };
const anAssistant: Target = { userId: 'ta', userRole: 'assistant' };
const offline: Target = { userId: 'away' };

const TABLE: Row[] = [
  { event: 'chat.message', when: 'chat open', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.message', when: 'chat locked', state: chatLocked, allowed: ['teacher', 'assistant'] },
  { event: 'chat.message', when: 'sender muted', state: everyoneMuted, allowed: ['teacher', 'assistant'] },
  { event: 'chat.typing', when: 'chat open', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.typing', when: 'chat locked', state: chatLocked, allowed: ['teacher', 'assistant'] },
  { event: 'chat.edit', when: 'own message', target: own, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.edit', when: "someone else's message", target: someoneElses, allowed: [] },
  { event: 'chat.edit', when: 'own message, chat locked', state: chatLocked, target: own, allowed: ['teacher', 'assistant'] },
  { event: 'chat.delete', when: 'own message', target: own, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.delete', when: "someone else's message", target: someoneElses, allowed: ['teacher', 'assistant'] },
  { event: 'chat.private', when: 'to all staff', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.private', when: 'to a teacher', target: aTeacher, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'chat.private', when: 'to a student', target: aStudent, allowed: ['teacher', 'assistant'] },
  { event: 'chat.private', when: 'chat locked (private stays open)', state: chatLocked, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'hand.raise', when: 'any time', allowed: ['assistant', 'student'] },
  { event: 'hand.lower', when: 'own hand', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'hand.lower', when: "someone else's hand", target: { userId: 'pupil' }, allowed: ['teacher', 'assistant'] },
  { event: 'hand.clear', when: 'any time', allowed: ['teacher', 'assistant'] },
  { event: 'wb.stroke', when: 'board open', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'wb.stroke', when: 'board locked', state: boardLocked, allowed: ['teacher', 'assistant'] },
  { event: 'wb.stroke', when: 'board locked, sender granted', state: meGranted, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'wb.shape', when: 'board open', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'wb.shape', when: 'board locked', state: boardLocked, allowed: ['teacher', 'assistant'] },
  { event: 'wb.cursor', when: 'board open', allowed: ['teacher', 'assistant', 'student'] },
  { event: 'wb.cursor', when: 'board locked', state: boardLocked, allowed: ['teacher', 'assistant'] },
  { event: 'wb.erase', when: 'own item', target: own, allowed: ['teacher', 'assistant', 'student'] },
  { event: 'wb.erase', when: "someone else's item", target: someoneElses, allowed: ['teacher', 'assistant'] },
  { event: 'wb.erase', when: 'own item, board locked', state: boardLocked, target: own, allowed: ['teacher', 'assistant'] },
  { event: 'wb.clear', when: 'any time', allowed: ['teacher', 'assistant'] },
  { event: 'class.settings', when: 'any time', allowed: ['teacher', 'assistant'] },
  { event: 'class.start', when: 'any time', allowed: ['teacher'] },
  { event: 'class.end', when: 'any time', allowed: ['teacher'] },
  { event: 'moderation.mute', when: 'a student', target: aStudent, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.mute', when: 'an observer', target: anObserver, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.mute', when: 'a teacher', target: aTeacher, allowed: [] },
  { event: 'moderation.mute', when: 'an assistant', target: anAssistant, allowed: [] },
  { event: 'moderation.mute', when: 'a user not in class', target: offline, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.mute', when: 'oneself', target: { userId: ME }, allowed: [] },
  { event: 'moderation.grant', when: 'a student', target: aStudent, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.grant', when: 'an observer', target: anObserver, allowed: [] },
  { event: 'moderation.remove', when: 'a student', target: aStudent, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.remove', when: 'an observer', target: anObserver, allowed: ['teacher', 'assistant'] },
  { event: 'moderation.remove', when: 'a teacher', target: aTeacher, allowed: [] },
  { event: 'moderation.remove', when: 'an assistant', target: anAssistant, allowed: [] },
];

describe('classroom permission table', () => {
  for (const row of TABLE) {
    it(`${row.event}, ${row.when}: allows ${row.allowed.join(', ') || 'nobody'}`, () => {
      for (const role of ROLES) {
        const reason = refusal(row.event, { userId: ME, role }, row.state ?? control(), row.target);
        if (row.allowed.includes(role)) expect(reason, `${role} must be allowed`).toBeUndefined();
        else expect(reason, `${role} must be refused`).toEqual(expect.any(String));
      }
    });
  }

  it('covers every classroom event', () => {
    const covered = new Set(TABLE.map((row) => row.event));
    const all: ClassroomEvent[] = [
      'chat.message', 'chat.edit', 'chat.delete', 'chat.private', 'chat.typing', 'hand.raise', 'hand.lower',
      'hand.clear', 'wb.stroke', 'wb.shape', 'wb.erase', 'wb.clear', 'wb.cursor', 'class.settings',
      'class.start', 'class.end', 'moderation.mute', 'moderation.grant', 'moderation.remove',
    ];
    expect([...covered].sort()).toEqual([...all].sort());
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
});
