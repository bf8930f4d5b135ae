/**
 * What the viewer is offered now (the classroom app, the Vue and React bindings): each answer is the shared permission table's
 * (`@classwire/protocol/classroom`, docs/classroom.md) for the event the control sends, so the app offers
 * exactly what the server accepts. The server still decides every event.
 */
import type { Member } from '../types.js';
import type { ClassControl } from './control.js';
import { mutedInGroupByClass } from './breakout.js';
import { isAllowed, type Actor, type Target } from './permissions.js';
import { isStaff } from './roles.js';
import type { BoardEntry, ChatEntry, ClassroomEvent } from './types.js';

export interface Permissions {
  /** Send public chat and typing indicators. */
  chat: boolean;
  /** The private composer: students write to every staff member, staff to one person. */
  privateChat: boolean;
  /** Write privately to this member, or (none) to every staff member. */
  privateTo(recipient?: Pick<Member, 'userId' | 'role'>): boolean;
  /** Draw strokes and shapes, show a cursor. */
  draw: boolean;
  raiseHand: boolean;
  /** Undo and redo one's own board items. */
  undo: boolean;
  /** Add, remove and show board pages; let students browse them freely. */
  runPages: boolean;
  /** Lock or unlock chat and the whiteboard. */
  changeSettings: boolean;
  /** Lower every hand. */
  clearHands: boolean;
  clearBoard: boolean;
  /** Start and end the class. */
  runClass: boolean;
  /** Create, open, close polls and share their results. */
  runPolls: boolean;
  /** Answer an open poll. */
  answerPolls: boolean;
  /** Set, pause, resume and clear the class timer. */
  runTimer: boolean;
  /** Pin and unpin the announcement. */
  pinAnnouncement: boolean;
  /** Acknowledge the displayed announcement (students). */
  acknowledgeAnnouncement: boolean;
  /** Put and take back emoji on chat messages. */
  reactToMessages: boolean;
  /** Send live reactions (students). */
  sendLiveReactions: boolean;
  /** See the live reactions' counts (staff: the server sends them to staff only). */
  seeLiveReactions: boolean;
  /** Open, assign, show, broadcast to and close breakout rooms; see the overview. */
  runBreakouts: boolean;
  /** Choose one's group when the breakout lets students choose. */
  chooseGroup: boolean;
  /** Lower this user's raised hand (one's own or someone else's). */
  lowerHandOf(userId: string): boolean;
  editMessage(entry: ChatEntry): boolean;
  deleteMessage(entry: ChatEntry): boolean;
  eraseItem(entry: BoardEntry): boolean;
  /** Mute, let draw and remove this member. */
  moderate(member: Pick<Member, 'userId' | 'role'>): { mute: boolean; grant: boolean; remove: boolean };
}

/**
 * The viewer's permissions in a room with `control`. In a breakout group's room, `classControl` is the
 * class room's: its mute applies in the group too (`mutedInGroupByClass`), as the server applies it.
 */
export function permissionsOf(control: ClassControl, viewer: Actor, classControl?: Pick<ClassControl, 'muted'>): Permissions {
  const may = (event: ClassroomEvent, target?: Target): boolean =>
    isAllowed(event, viewer, control, target) && !(classControl !== undefined && mutedInGroupByClass(viewer, event, classControl));
  const memberTarget = (member: Pick<Member, 'userId' | 'role'>): Target => ({ userId: member.userId, userRole: member.role });
  return {
    chat: may('chat.message'),
    // Staff write to one student (or observer) they pick; students to the staff as a whole.
    privateChat: isStaff(viewer.role) ? may('chat.private', { userId: 'a student', userRole: 'student' }) : may('chat.private'),
    privateTo: (recipient) => may('chat.private', recipient === undefined ? undefined : memberTarget(recipient)),
    draw: may('wb.stroke'),
    raiseHand: may('hand.raise'),
    undo: may('wb.undo'),
    runPages: may('wb.page.show'),
    changeSettings: may('class.settings'),
    clearHands: may('hand.clear'),
    clearBoard: may('wb.clear'),
    runClass: may('class.start'),
    runPolls: may('poll.create'),
    answerPolls: may('poll.answer'),
    runTimer: may('timer.set'),
    pinAnnouncement: may('announce.pin'),
    acknowledgeAnnouncement: may('announce.seen'),
    reactToMessages: may('chat.react'),
    sendLiveReactions: may('reaction.send'),
    seeLiveReactions: isStaff(viewer.role),
    runBreakouts: may('breakout.open'),
    chooseGroup: may('breakout.choose'),
    lowerHandOf: (userId) => may('hand.lower', { userId }),
    editMessage: (entry) => may('chat.edit', { authorId: entry.from.userId }),
    deleteMessage: (entry) => may('chat.delete', { authorId: entry.from.userId }),
    eraseItem: (entry) => may('wb.erase', { authorId: entry.userId }),
    moderate: (member) => ({
      mute: may('moderation.mute', memberTarget(member)),
      grant: may('moderation.grant', memberTarget(member)),
      remove: may('moderation.remove', memberTarget(member)),
    }),
  };
}
