import type { Role } from '../types.js';
import type { ClassControl } from './control.js';
import { isStaff } from './roles.js';
import type { ClassroomEvent } from './types.js';

/**
 * The permission table of docs/classroom.md. The server asks it for every event against the control
 * state the event is sequenced under; the app asks it which controls to offer. Pure and browser safe.
 */

export interface Actor {
  userId: string;
  role: Role;
}

/** Facts about the event's target or object, looked up by the caller when the rule needs them. */
export interface Target {
  /** The user an event acts on (moderation, hand.lower, chat.private `to`): their role, when known. */
  userRole?: Role | undefined;
  userId?: string | undefined;
  /** The author of the chat message or board item an event changes. */
  authorId?: string | undefined;
}

/** May this user send public chat now (also typing indicators and edits). */
function mayChat(actor: Actor, control: ClassControl): boolean {
  if (isStaff(actor.role)) return true;
  return actor.role === 'student' && !control.settings.chatLocked && !control.muted.includes(actor.userId);
}

/** May this user draw on the board now (also cursors and erasing their own items). */
function mayDraw(actor: Actor, control: ClassControl): boolean {
  if (isStaff(actor.role)) return true;
  return actor.role === 'student' && (!control.settings.whiteboardLocked || control.granted.includes(actor.userId));
}

/** Undefined when the event is allowed, otherwise why not. */
export function refusal(event: ClassroomEvent, actor: Actor, control: ClassControl, target: Target = {}): string | undefined {
  const staff = isStaff(actor.role);
  const self = target.userId === undefined || target.userId === actor.userId;
  switch (event) {
    case 'chat.message':
    case 'chat.typing':
    case 'chat.edit':
    case 'chat.react':
    case 'chat.unreact':
      if (actor.role === 'observer') return 'observers may not chat';
      if (control.muted.includes(actor.userId) && !staff) return 'you are muted in this class';
      if (!mayChat(actor, control)) return 'chat is locked by the teacher';
      if (event === 'chat.edit' && target.authorId !== actor.userId) return 'only the author may edit a message';
      return undefined;
    case 'chat.delete':
      if (staff || (actor.role === 'student' && target.authorId === actor.userId)) return undefined;
      return 'only the author or a teacher may delete a message';
    case 'chat.private':
      if (staff) return target.userId === undefined ? 'a private message from a teacher needs `to`' : undefined;
      if (actor.role !== 'student') return 'observers may not send private messages';
      if (target.userId !== undefined && (target.userRole === undefined || !isStaff(target.userRole))) {
        return 'students may send private messages to teachers only';
      }
      return undefined;
    case 'hand.raise':
      return actor.role === 'student' || actor.role === 'assistant' ? undefined : `a ${actor.role} does not raise a hand`;
    case 'hand.lower':
      if (self) return actor.role === 'observer' ? 'observers have no hand to lower' : undefined;
      return staff ? undefined : "only teachers may lower someone else's hand";
    case 'hand.clear':
      return staff ? undefined : 'only teachers may lower every hand';
    case 'wb.stroke':
    case 'wb.shape':
    case 'wb.text':
    case 'wb.cursor':
      if (mayDraw(actor, control)) return undefined;
      return actor.role === 'student' ? 'the whiteboard is locked by the teacher' : `a ${actor.role} may not draw`;
    case 'wb.erase':
      if (staff) return undefined;
      if (!mayDraw(actor, control)) return actor.role === 'student' ? 'the whiteboard is locked by the teacher' : `a ${actor.role} may not draw`;
      return target.authorId === actor.userId ? undefined : 'students may erase only their own drawings';
    case 'wb.clear':
      return staff ? undefined : 'only teachers may clear the whiteboard';
    case 'wb.undo':
    case 'wb.redo':
      // Undo is per author: the server looks only at the sender's own items; the target states the rule.
      if (!mayDraw(actor, control)) return actor.role === 'student' ? 'the whiteboard is locked by the teacher' : `a ${actor.role} may not draw`;
      return target.authorId === undefined || target.authorId === actor.userId ? undefined : 'undo and redo act on your own drawings only';
    case 'wb.page.add':
    case 'wb.page.remove':
    case 'wb.page.show':
    case 'wb.page.browse':
      return staff ? undefined : 'only teachers may change the board pages';
    case 'class.settings':
      return staff ? undefined : 'only teachers may change the class settings';
    case 'class.start':
    case 'class.end':
      return actor.role === 'teacher' ? undefined : 'only the teacher may start or end the class';
    case 'moderation.mute':
    case 'moderation.grant':
    case 'moderation.remove':
      if (!staff) return 'only teachers may moderate';
      if (target.userId === actor.userId) return 'teachers may not moderate themselves';
      // A user not in the class (unknown role) may be muted or granted ahead of joining.
      if (target.userRole !== undefined && isStaff(target.userRole)) return 'teachers and assistants cannot be moderated';
      if (event === 'moderation.grant' && target.userRole !== undefined && target.userRole !== 'student') {
        return 'the whiteboard can be granted to students only';
      }
      return undefined;
    case 'poll.create':
    case 'poll.open':
    case 'poll.close':
    case 'poll.share':
      return staff ? undefined : 'only teachers may run polls';
    case 'poll.answer':
      return actor.role === 'student' ? undefined : 'only students answer polls';
    case 'timer.set':
    case 'timer.pause':
    case 'timer.resume':
    case 'timer.clear':
      return staff ? undefined : 'only teachers may run the class timer';
    case 'announce.pin':
    case 'announce.unpin':
      return staff ? undefined : 'only teachers may pin announcements';
    case 'announce.seen':
      return actor.role === 'student' ? undefined : 'read receipts are for students';
    case 'reaction.send':
      return actor.role === 'student' ? undefined : 'live reactions are feedback from students';
    case 'breakout.open':
    case 'breakout.assign':
    case 'breakout.show':
    case 'breakout.broadcast':
    case 'breakout.close':
    case 'breakout.overview':
      return staff ? undefined : 'only teachers may run breakout rooms';
    case 'breakout.choose':
      return actor.role === 'student' ? undefined : 'only students choose a group';
  }
}

export function isAllowed(event: ClassroomEvent, actor: Actor, control: ClassControl, target?: Target): boolean {
  return refusal(event, actor, control, target) === undefined;
}

/** Whether the user may join the class now. */
export function joinRefusal(actor: Actor, control: ClassControl): string | undefined {
  if (control.removed.includes(actor.userId)) return 'you were removed from this class';
  if (control.status === 'ended' && !isStaff(actor.role)) return 'the class has ended';
  return undefined;
}
