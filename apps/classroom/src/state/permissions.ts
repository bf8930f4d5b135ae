/**
 * What the viewer may do now, from the permission table in docs/classroom.md. The server decides every
 * event again; the app uses this only to offer the controls that will work.
 */
import type { ClassroomState } from './classroom-state.js';
import type { BoardEntry, ChatEntry, Member, Role } from './types.js';

export interface Viewer {
  userId: string;
  role: Role;
}

export function isStaff(role: Role | 'server'): boolean {
  return role === 'teacher' || role === 'assistant';
}

export interface Permissions {
  chat: boolean;
  /** Private messages: students to staff, staff to one user. */
  privateChat: boolean;
  draw: boolean;
  raiseHand: boolean;
  /** Lock chat or the board, lower every hand, clear the board, delete any message, erase any item. */
  moderate: boolean;
  /** Start and end the class. */
  runClass: boolean;
}

export function permissionsOf(state: ClassroomState, viewer: Viewer): Permissions {
  const staff = isStaff(viewer.role);
  const student = viewer.role === 'student';
  return {
    chat: staff || (student && !state.settings.chatLocked && !state.muted.includes(viewer.userId)),
    privateChat: staff || student,
    draw: staff || (student && (!state.settings.whiteboardLocked || state.granted.includes(viewer.userId))),
    raiseHand: student || viewer.role === 'assistant',
    moderate: staff,
    runClass: viewer.role === 'teacher',
  };
}

/** Mute and remove apply to students and observers; granting the board to students only. */
export function canModerateMember(viewer: Viewer, member: Member): { mute: boolean; remove: boolean; grant: boolean } {
  const staff = isStaff(viewer.role) && member.userId !== viewer.userId;
  const target = member.role === 'student' || member.role === 'observer';
  return { mute: staff && target, remove: staff && target, grant: staff && member.role === 'student' };
}

export function canEditMessage(viewer: Viewer, entry: ChatEntry): boolean {
  return entry.from.userId === viewer.userId;
}

export function canDeleteMessage(viewer: Viewer, entry: ChatEntry): boolean {
  return entry.from.userId === viewer.userId || isStaff(viewer.role);
}

export function canEraseItem(viewer: Viewer, entry: BoardEntry): boolean {
  return entry.userId === viewer.userId || isStaff(viewer.role);
}
