import type { ClassControl, ClassroomEvent, Role, Target } from '@classwire/protocol/classroom';

/**
 * The permission table of docs/classroom.md as cases (role × state × event → allowed or refused), written
 * out by hand from the doc. The same cases run against the pure rules (packages/protocol/test), the
 * server's decision through the engine (packages/core/test) and what the app offers (apps/classroom/test).
 */

export const ROLES: readonly Role[] = ['teacher', 'assistant', 'student', 'observer'];

/** The acting user. */
export const ME = 'me';
/** Another student, the author of "someone else's" chat message or board item. */
export const OTHER_AUTHOR = 'other';
/** The other people in the class, by user id. */
export const PRESENT: Readonly<Record<string, Role>> = { pupil: 'student', parent: 'observer', boss: 'teacher', ta: 'assistant', [OTHER_AUTHOR]: 'student' };

export interface PermissionCase {
  event: ClassroomEvent;
  when: string;
  /** The control state, as a change of the initial one (lists name `ME`). */
  control?: Partial<ClassControl>;
  target?: Target;
  allowed: readonly Role[];
}

const chatLocked: Partial<ClassControl> = { settings: { chatLocked: true, whiteboardLocked: false } };
const boardLocked: Partial<ClassControl> = { settings: { chatLocked: false, whiteboardLocked: true } };
const meMuted: Partial<ClassControl> = { muted: [ME] };
const meGranted: Partial<ClassControl> = { settings: { chatLocked: false, whiteboardLocked: true }, granted: [ME] };
const own: Target = { authorId: ME };
const someoneElses: Target = { authorId: OTHER_AUTHOR };
const aStudent: Target = { userId: 'pupil', userRole: 'student' };
const anObserver: Target = { userId: 'parent', userRole: 'observer' };
const aTeacher: Target = { userId: 'boss', userRole: 'teacher' };
const anAssistant: Target = { userId: 'ta', userRole: 'assistant' };
/** Someone not in the class: their role is unknown. */
export const OFFLINE: Target = { userId: 'away' };

const STAFF: readonly Role[] = ['teacher', 'assistant'];
const MEMBERS: readonly Role[] = ['teacher', 'assistant', 'student'];

export const PERMISSION_CASES: readonly PermissionCase[] = [
  { event: 'chat.message', when: 'chat open', allowed: MEMBERS },
  { event: 'chat.message', when: 'chat locked', control: chatLocked, allowed: STAFF },
  { event: 'chat.message', when: 'sender muted', control: meMuted, allowed: STAFF },
  { event: 'chat.typing', when: 'chat open', allowed: MEMBERS },
  { event: 'chat.typing', when: 'chat locked', control: chatLocked, allowed: STAFF },
  { event: 'chat.typing', when: 'sender muted', control: meMuted, allowed: STAFF },
  { event: 'chat.edit', when: 'own message', target: own, allowed: MEMBERS },
  { event: 'chat.edit', when: "someone else's message", target: someoneElses, allowed: [] },
  { event: 'chat.edit', when: 'own message, chat locked', control: chatLocked, target: own, allowed: STAFF },
  { event: 'chat.edit', when: 'own message, sender muted', control: meMuted, target: own, allowed: STAFF },
  { event: 'chat.delete', when: 'own message', target: own, allowed: MEMBERS },
  { event: 'chat.delete', when: 'own message, chat locked', control: chatLocked, target: own, allowed: MEMBERS },
  { event: 'chat.delete', when: "someone else's message", target: someoneElses, allowed: STAFF },
  { event: 'chat.private', when: 'to all staff (no `to`)', allowed: ['student'] },
  { event: 'chat.private', when: 'to a teacher', target: aTeacher, allowed: MEMBERS },
  { event: 'chat.private', when: 'to a student', target: aStudent, allowed: STAFF },
  { event: 'chat.private', when: 'to an observer', target: anObserver, allowed: STAFF },
  { event: 'chat.private', when: 'to a teacher, chat locked (private stays open)', control: chatLocked, target: aTeacher, allowed: MEMBERS },
  { event: 'hand.raise', when: 'any time', allowed: ['assistant', 'student'] },
  { event: 'hand.lower', when: 'own hand', allowed: MEMBERS },
  { event: 'hand.lower', when: "someone else's hand", target: { userId: 'pupil' }, allowed: STAFF },
  { event: 'hand.clear', when: 'any time', allowed: STAFF },
  { event: 'wb.stroke', when: 'board open', allowed: MEMBERS },
  { event: 'wb.stroke', when: 'board locked', control: boardLocked, allowed: STAFF },
  { event: 'wb.stroke', when: 'board locked, sender granted', control: meGranted, allowed: MEMBERS },
  { event: 'wb.stroke', when: 'chat locked (the board stays open)', control: chatLocked, allowed: MEMBERS },
  { event: 'wb.shape', when: 'board open', allowed: MEMBERS },
  { event: 'wb.shape', when: 'board locked', control: boardLocked, allowed: STAFF },
  { event: 'wb.cursor', when: 'board open', allowed: MEMBERS },
  { event: 'wb.cursor', when: 'board locked', control: boardLocked, allowed: STAFF },
  { event: 'wb.erase', when: 'own item', target: own, allowed: MEMBERS },
  { event: 'wb.erase', when: "someone else's item", target: someoneElses, allowed: STAFF },
  { event: 'wb.erase', when: 'own item, board locked', control: boardLocked, target: own, allowed: STAFF },
  { event: 'wb.erase', when: 'own item, board locked, sender granted', control: meGranted, target: own, allowed: MEMBERS },
  { event: 'wb.clear', when: 'any time', allowed: STAFF },
  { event: 'wb.text', when: 'board open', allowed: MEMBERS },
  { event: 'wb.text', when: 'board locked', control: boardLocked, allowed: STAFF },
  { event: 'wb.text', when: 'board locked, sender granted', control: meGranted, allowed: MEMBERS },
  { event: 'wb.undo', when: 'own item on the page', target: own, allowed: MEMBERS },
  { event: 'wb.undo', when: 'own item, board locked', control: boardLocked, target: own, allowed: STAFF },
  { event: 'wb.undo', when: 'own item, board locked, sender granted', control: meGranted, target: own, allowed: MEMBERS },
  { event: 'wb.undo', when: "only someone else's items", target: someoneElses, allowed: [] },
  { event: 'wb.redo', when: 'own undone item', target: own, allowed: MEMBERS },
  { event: 'wb.redo', when: 'own undone item, board locked', control: boardLocked, target: own, allowed: STAFF },
  { event: 'wb.page.add', when: 'any time', allowed: STAFF },
  { event: 'wb.page.remove', when: 'a second page', allowed: STAFF },
  { event: 'wb.page.show', when: 'a second page', allowed: STAFF },
  { event: 'wb.page.browse', when: 'any time', allowed: STAFF },
  { event: 'class.settings', when: 'any time', allowed: STAFF },
  { event: 'class.start', when: 'any time', allowed: ['teacher'] },
  { event: 'class.end', when: 'any time', allowed: ['teacher'] },
  { event: 'moderation.mute', when: 'a student', target: aStudent, allowed: STAFF },
  { event: 'moderation.mute', when: 'an observer', target: anObserver, allowed: STAFF },
  { event: 'moderation.mute', when: 'a teacher', target: aTeacher, allowed: [] },
  { event: 'moderation.mute', when: 'an assistant', target: anAssistant, allowed: [] },
  { event: 'moderation.mute', when: 'a user not in class', target: OFFLINE, allowed: STAFF },
  { event: 'moderation.mute', when: 'oneself', target: { userId: ME }, allowed: [] },
  { event: 'moderation.grant', when: 'a student', target: aStudent, allowed: STAFF },
  { event: 'moderation.grant', when: 'an observer', target: anObserver, allowed: [] },
  { event: 'moderation.grant', when: 'a teacher', target: aTeacher, allowed: [] },
  { event: 'moderation.remove', when: 'a student', target: aStudent, allowed: STAFF },
  { event: 'moderation.remove', when: 'an observer', target: anObserver, allowed: STAFF },
  { event: 'moderation.remove', when: 'a teacher', target: aTeacher, allowed: [] },
  { event: 'moderation.remove', when: 'an assistant', target: anAssistant, allowed: [] },
  { event: 'poll.create', when: 'any time', allowed: STAFF },
  { event: 'poll.create', when: 'chat locked (polls stay open)', control: chatLocked, allowed: STAFF },
  { event: 'poll.open', when: 'a draft poll', allowed: STAFF },
  { event: 'poll.close', when: 'an open poll', allowed: STAFF },
  { event: 'poll.share', when: 'a closed poll', allowed: STAFF },
  { event: 'poll.answer', when: 'an open poll', allowed: ['student'] },
  { event: 'poll.answer', when: 'an open poll, chat locked', control: chatLocked, allowed: ['student'] },
  { event: 'poll.answer', when: 'an open poll, sender muted (mute is for chat)', control: meMuted, allowed: ['student'] },
  { event: 'timer.set', when: 'any time', allowed: STAFF },
  { event: 'timer.pause', when: 'a running timer', allowed: STAFF },
  { event: 'timer.resume', when: 'a paused timer', allowed: STAFF },
  { event: 'timer.clear', when: 'a timer set', allowed: STAFF },
  { event: 'announce.pin', when: 'any time', allowed: STAFF },
  { event: 'announce.unpin', when: 'one pinned', allowed: STAFF },
  { event: 'announce.seen', when: 'one pinned', allowed: ['student'] },
  { event: 'announce.seen', when: 'one pinned, sender muted (mute is for chat)', control: meMuted, allowed: ['student'] },
  { event: 'chat.react', when: 'chat open', allowed: MEMBERS },
  { event: 'chat.react', when: 'chat locked', control: chatLocked, allowed: STAFF },
  { event: 'chat.react', when: 'sender muted', control: meMuted, allowed: STAFF },
  { event: 'chat.unreact', when: 'own reaction', allowed: MEMBERS },
  { event: 'chat.unreact', when: 'own reaction, chat locked', control: chatLocked, allowed: STAFF },
  { event: 'chat.unreact', when: 'own reaction, sender muted', control: meMuted, allowed: STAFF },
  { event: 'reaction.send', when: 'any time', allowed: ['student'] },
  { event: 'reaction.send', when: 'chat locked, sender muted (live reactions are not chat)', control: { ...chatLocked, ...meMuted }, allowed: ['student'] },
  { event: 'breakout.open', when: 'none open', allowed: STAFF },
  { event: 'breakout.assign', when: 'open (in any mode)', allowed: STAFF },
  { event: 'breakout.choose', when: 'open, students choose', allowed: ['student'] },
  { event: 'breakout.choose', when: 'open, students choose, sender muted (mute is for chat)', control: meMuted, allowed: ['student'] },
  { event: 'breakout.show', when: 'open', allowed: STAFF },
  { event: 'breakout.broadcast', when: 'open', allowed: STAFF },
  { event: 'breakout.broadcast', when: 'open, chat locked (staff only anyway)', control: chatLocked, allowed: STAFF },
  { event: 'breakout.close', when: 'open', allowed: STAFF },
  { event: 'breakout.overview', when: 'open', allowed: STAFF },
];

export function caseTitle(c: PermissionCase): string {
  return `${c.event}, ${c.when}: allows ${c.allowed.join(', ') || 'nobody'}`;
}
