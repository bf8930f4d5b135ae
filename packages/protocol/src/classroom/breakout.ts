/**
 * Breakout rooms (docs/classroom.md, "Breakout rooms"): staff split the class into numbered groups, each
 * a room of its own named `<class>~g<n>`, so chat, board, snapshot, history and resume work there
 * unchanged. Who may be in which group is decided by the class room's state; this module holds the
 * names, the limits, the wire types and the pure join rule. Browser safe.
 */
import type { Role, Sender } from '../types.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { isStaff } from './roles.js';

export const BREAKOUT_LIMITS = {
  /** Most groups one breakout may have (group numbers are 1 … this). */
  maxGroups: 50,
  /** Most users one `breakout.assign` may place. */
  maxAssignments: 200,
  /** Longest broadcast to every group, characters after trimming. */
  maxBroadcastText: 500,
} as const;

/** Between a class room's name and a group number; `~` is allowed in room names only here. */
export const GROUP_SEPARATOR = '~g';

/** The longest class name that can still hold breakout groups (its group rooms must be valid room names). */
export const MAX_BREAKOUT_CLASS_LENGTH = DEFAULT_LIMITS.maxRoomLength - GROUP_SEPARATOR.length - String(BREAKOUT_LIMITS.maxGroups).length;

export type BreakoutMode = 'random' | 'manual' | 'choose';
export const BREAKOUT_MODES: readonly BreakoutMode[] = ['random', 'manual', 'choose'];

export interface BreakoutOpenData {
  groups: number;
  /** `random`: the server places the students present now; `manual`: staff assign; `choose`: students pick. */
  mode: BreakoutMode;
}
/** One user's place: a group number, or null for the main room. */
export interface BreakoutPlacement {
  userId: string;
  group: number | null;
}
/** A user placed in a group. */
export interface GroupPlacement {
  userId: string;
  group: number;
}
export interface BreakoutAssignData {
  assignments: BreakoutPlacement[];
}
export interface BreakoutChooseData {
  group: number;
}
export interface BreakoutShowData {
  /** The group whose board the class is shown, or null to stop showing one. */
  group: number | null;
}
export interface BreakoutBroadcastData {
  text: string;
}

/** `breakout.open` as members receive it: with the placements a random split made (empty otherwise). */
export interface BreakoutOpened extends BreakoutOpenData {
  assignment: GroupPlacement[];
}

export interface BreakoutBroadcast {
  text: string;
  from: Sender;
  ts: number;
}

/** Open breakout rooms as the class room's state and snapshot hold them. */
export interface BreakoutState {
  groups: number;
  mode: BreakoutMode;
  /** Who is placed where (users not listed are in the main room), sorted by user id. */
  assignment: readonly GroupPlacement[];
  /** The group whose board is shown to the class, or null. */
  shown: number | null;
  /** The latest staff broadcast to every group. */
  broadcast: BreakoutBroadcast | null;
}

/** Sent only to the staff member who asked (`breakout.overview`): who is in each group room now (user ids; names are in the class roster). */
export interface BreakoutOverview {
  groups: { group: number; userIds: string[] }[];
}
export const BREAKOUT_OVERVIEW_EVENT = 'breakout.where';

/** The room of group `group` of class room `classRoom`. */
export function groupRoom(classRoom: string, group: number): string {
  return `${classRoom}${GROUP_SEPARATOR}${group}`;
}

const GROUP_ROOM = /^([^~]+)~g([1-9][0-9]?)$/;

/** The class room and group number of a group room's name; undefined for any other room. */
export function parseGroupRoom(room: string): { classRoom: string; group: number } | undefined {
  const match = GROUP_ROOM.exec(room);
  if (match === null) return undefined;
  return { classRoom: match[1]!, group: Number(match[2]) };
}

/** The group a user is placed in, or null. */
export function groupOf(breakout: Pick<BreakoutState, 'assignment'> | null, userId: string): number | null {
  return breakout?.assignment.find((placement) => placement.userId === userId)?.group ?? null;
}

/**
 * Why `actor` may not enter group `group` now, or undefined. Staff visit any group and observers read
 * any (they send nothing); a student enters the group they are placed in, or reads the one shown to
 * the class.
 */
export function groupJoinRefusal(actor: { userId: string; role: Role }, group: number, breakout: BreakoutState | null): string | undefined {
  if (breakout === null) return 'no breakout rooms are open in this class';
  if (group > breakout.groups) return `this class has ${breakout.groups} groups`;
  if (isStaff(actor.role) || actor.role === 'observer') return undefined;
  if (groupOf(breakout, actor.userId) === group || breakout.shown === group) return undefined;
  return 'this is not your group';
}

/** Why `actor` may not send in group `group` (entering to read a shown board is not taking part). */
export function groupSendRefusal(actor: { userId: string; role: Role }, group: number, breakout: BreakoutState | null): string | undefined {
  if (isStaff(actor.role)) return breakout === null ? 'no breakout rooms are open in this class' : undefined;
  if (breakout === null || groupOf(breakout, actor.userId) !== group) return 'this is not your group';
  return undefined;
}

/**
 * Whether the class's mute keeps `actor` from sending `event` in a group room: muted in the class is muted
 * in their group too (chat, edits, deletions, reactions), except for private messages to the staff.
 */
export function mutedInGroupByClass(actor: { userId: string }, event: string, classControl: { muted: readonly string[] }): boolean {
  return event.startsWith('chat.') && event !== 'chat.private' && classControl.muted.includes(actor.userId);
}

/** Places `students` in `groups` groups at random, as evenly as possible (sizes differ by at most one). */
export function randomPlacement(students: readonly string[], groups: number, random: () => number = Math.random): GroupPlacement[] {
  const order = [...students];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.map((userId, index) => ({ userId, group: (index % groups) + 1 }));
}

/** Placements applied to an assignment: later ones win, null removes; sorted by user id. */
export function withPlacements(assignment: readonly GroupPlacement[], placements: readonly BreakoutPlacement[]): GroupPlacement[] {
  const byUser = new Map(assignment.map((placement) => [placement.userId, placement.group]));
  for (const { userId, group } of placements) {
    if (group === null) byUser.delete(userId);
    else byUser.set(userId, group);
  }
  return [...byUser].map(([userId, group]) => ({ userId, group })).sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

/** One class room message's change of the breakout, as the server made it; anything malformed changes nothing. */
export function applyBreakoutEvent(
  breakout: BreakoutState | null,
  message: { event: string; data: unknown; from: Sender; ts: number },
): BreakoutState | null {
  const data = (typeof message.data === 'object' && message.data !== null ? message.data : {}) as Record<string, unknown>;
  switch (message.event) {
    case 'breakout.open': {
      if (!isGroupCount(data.groups) || !BREAKOUT_MODES.includes(data.mode as BreakoutMode) || !Array.isArray(data.assignment)) return breakout;
      const assignment = withPlacements([], (data.assignment as unknown[]).filter(isPlacement));
      return { groups: data.groups, mode: data.mode as BreakoutMode, assignment, shown: null, broadcast: null };
    }
    case 'breakout.assign':
      if (breakout === null || !Array.isArray(data.assignments)) return breakout;
      return { ...breakout, assignment: withPlacements(breakout.assignment, (data.assignments as unknown[]).filter(isPlacement)) };
    case 'breakout.choose':
      if (breakout === null || !isGroupCount(data.group)) return breakout;
      return { ...breakout, assignment: withPlacements(breakout.assignment, [{ userId: message.from.userId, group: data.group }]) };
    case 'breakout.show':
      if (breakout === null || (data.group !== null && !isGroupCount(data.group))) return breakout;
      return { ...breakout, shown: data.group };
    case 'breakout.broadcast':
      if (breakout === null || typeof data.text !== 'string') return breakout;
      return { ...breakout, broadcast: { text: data.text, from: message.from, ts: message.ts } };
    case 'breakout.close':
      return null;
    default:
      return breakout;
  }
}

function isGroupCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= BREAKOUT_LIMITS.maxGroups;
}

function isPlacement(value: unknown): value is BreakoutPlacement {
  if (typeof value !== 'object' || value === null) return false;
  const placement = value as Record<string, unknown>;
  return typeof placement.userId === 'string' && (placement.group === null || isGroupCount(placement.group));
}

/** The teacher's overview: per group, who is placed there, who is in its room now, and whose hand is up. */
export interface GroupSummary {
  group: number;
  placed: string[];
  present: string[];
  handsUp: string[];
}

/** Per group: placements from the breakout, presence from the latest overview, hands from the class's raised hands. */
export function groupSummaries(breakout: BreakoutState, overview: BreakoutOverview | null, raisedHands: readonly { userId: string }[]): GroupSummary[] {
  const raised = new Set(raisedHands.map((hand) => hand.userId));
  return Array.from({ length: breakout.groups }, (_, index) => {
    const group = index + 1;
    const placed = breakout.assignment.filter((placement) => placement.group === group).map((placement) => placement.userId);
    const present = overview?.groups.find((entry) => entry.group === group)?.userIds ?? [];
    return { group, placed, present, handsUp: placed.filter((userId) => raised.has(userId)) };
  });
}
