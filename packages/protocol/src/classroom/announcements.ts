/**
 * Announcements with read receipts (docs/classroom.md, "Announcements"): one pinned announcement per
 * class; each student's client acknowledges it once displayed; staff receive the readers coalesced.
 * Types and pure functions, browser safe.
 */
import type { Member, Sender } from '../types.js';

export const ANNOUNCEMENT_LIMITS = {
  /** Longest announcement, characters after trimming. */
  maxText: 500,
  /** Longest announcement id. */
  maxId: 64,
} as const;

export interface AnnouncePinData {
  id: string;
  text: string;
}
export interface AnnounceSeenData {
  /** The announcement displayed: a receipt for an older one is refused. */
  id: string;
}

export interface Announcement {
  id: string;
  text: string;
  from: Sender;
  /** Server time it was pinned (ms). */
  pinnedAt: number;
}

export interface AnnouncementReader {
  userId: string;
  name: string;
}

/** Sent to staff only, at most once per coalescing window per node: everyone who has seen it so far. */
export interface AnnouncementReceipts {
  id: string;
  seenBy: AnnouncementReader[];
}

export const ANNOUNCEMENT_RECEIPTS_EVENT = 'announce.receipts';

/** "Seen by 23 of 25": the students present, and those of them who have seen it, and who has not. */
export function receiptSummary(seenBy: readonly AnnouncementReader[], roster: readonly Member[]): { seen: number; of: number; notYet: Member[] } {
  const readers = new Set(seenBy.map((reader) => reader.userId));
  const students = roster.filter((member) => member.role === 'student');
  const notYet = students.filter((member) => !readers.has(member.userId));
  return { seen: students.length - notYet.length, of: students.length, notYet };
}
