import { encodeSnapshotFrame, utf8Length, type Actor, type BoardEntry, type ChatEntry, type ClassroomSnapshot, type MessageFrame, type PrivateEntry, type RaisedHand } from '@classwire/protocol';
import type { StateQuery, StateRead } from '../ports.js';
import { pollsSnapshot } from './polls.js';
import { timerSnapshot } from './timer.js';
import { announcementSnapshot } from './announcements.js';
import { breakoutSnapshot } from './breakout.js';
import { mayRead } from './private-messages.js';
import { COLLECTIONS, parseControl } from './room-state.js';

/** Room and framing overhead of a snapshot part around its `data` string. */
const SNAPSHOT_PART_OVERHEAD = 256;

/** What a snapshot reads: chat and board only for a full one. */
export function snapshotQuery(full: boolean): StateQuery {
  const query: StateQuery = { [COLLECTIONS.control]: 'all', [COLLECTIONS.hands]: 'all', [COLLECTIONS.private]: 'all' };
  if (full) {
    query[COLLECTIONS.chat] = 'all';
    query[COLLECTIONS.board] = 'all';
  }
  return query;
}

/** Rooms whose serialized chat and board are kept; the least recently joined is dropped first. */
const SHARED_PARTS_ROOMS = 64;

/**
 * The part of a full snapshot every viewer gets alike (chat and board) as JSON members, kept per room
 * for the (epoch, seq) it was built at: a join at the same seq reuses it instead of parsing and
 * serializing the whole board again. Chat and board change only with an appended message, so the seq
 * identifies them; the epoch tells a new history apart.
 */
export class SnapshotCache {
  private readonly rooms = new Map<string, { epoch: string; seq: number; members: string }>();
  /** Times the shared part was built rather than reused (for tests and metrics). */
  builds = 0;

  sharedMembers(room: string, state: StateRead): string {
    const cached = this.rooms.get(room);
    this.rooms.delete(room);
    let members: string;
    if (cached !== undefined && cached.epoch === state.epoch && cached.seq === state.seq) {
      members = cached.members;
    } else {
      this.builds += 1;
      const shared = {
        chat: sortedValues(state.collections[COLLECTIONS.chat]).map(chatEntryOf),
        whiteboard: Object.values(state.collections[COLLECTIONS.board] ?? {})
          .map(boardEntryOf)
          .sort((a, b) => a.seq - b.seq),
      };
      members = JSON.stringify(shared).slice(1, -1);
    }
    this.rooms.set(room, { epoch: state.epoch, seq: state.seq, members });
    if (this.rooms.size > SHARED_PARTS_ROOMS) this.rooms.delete(this.rooms.keys().next().value!);
    return members;
  }
}

/**
 * The snapshot's JSON text: the classroom as `viewer` may see it at `state.seq`. A full snapshot (first
 * join, or history not recovered) carries chat and board, from `cache`; a resumed join only the control
 * state and private messages, since the replayed messages carry the rest.
 */
export function snapshotText(
  room: string,
  state: StateRead,
  viewer: Actor,
  full: boolean,
  cache: SnapshotCache,
  ownAnswers?: StateRead,
  serverTime?: number,
): string {
  const own = JSON.stringify({ ...viewerSnapshot(state, viewer, full), ...pollsSnapshot(state, viewer, ownAnswers), timer: timerSnapshot(state), ...announcementSnapshot(state, viewer), breakout: breakoutSnapshot(state), serverTime });
  if (!full) return own;
  return `${own.slice(0, -1)},${cache.sharedMembers(room, state)}}`;
}

/** The part of a snapshot that depends on the viewer (private messages) or is small: all but chat and board. */
function viewerSnapshot(state: StateRead, viewer: Actor, full: boolean): ClassroomSnapshot {
  const control = parseControl(state.collections[COLLECTIONS.control]);
  const snapshot: ClassroomSnapshot = {
    full,
    seq: state.seq,
    status: control.status,
    settings: control.settings,
    muted: [...control.muted],
    granted: [...control.granted],
    removed: [...control.removed],
    hands: sortedValues(state.collections[COLLECTIONS.hands]).map(handOf).sort((a, b) => a.raisedAt - b.raisedAt),
    private: sortedValues(state.collections[COLLECTIONS.private])
      .map((value) => JSON.parse(value) as PrivateEntry)
      .filter((entry) => mayRead(entry, viewer)),
  };
  return snapshot;
}

/** Cuts the snapshot's JSON text into `snapshot` frames of at most `maxFrameBytes` each. */
export function snapshotFrames(room: string, seq: number, text: string, maxFrameBytes: number): string[] {
  const budget = maxFrameBytes - SNAPSHOT_PART_OVERHEAD - utf8Length(JSON.stringify(room));
  const slices: string[] = [];
  let start = 0;
  while (start < text.length) {
    // Escaping can grow a slice up to 6x: shrink until its encoding fits.
    let length = Math.min(budget, text.length - start);
    while (length > 1 && utf8Length(JSON.stringify(text.slice(start, start + length))) > budget) length = Math.floor(length / 2);
    slices.push(text.slice(start, start + length));
    start += length;
  }
  if (slices.length === 0) slices.push('');
  return slices.map((data, part) => encodeSnapshotFrame(room, seq, part, slices.length, data));
}

function sortedValues(fields: Record<string, string> | undefined): string[] {
  if (fields === undefined) return [];
  return Object.keys(fields)
    .sort()
    .map((field) => fields[field]!);
}

function chatEntryOf(stored: string): ChatEntry {
  const frame = JSON.parse(stored) as MessageFrame & { edited?: boolean };
  return {
    seq: frame.seq!,
    ts: frame.ts,
    id: frame.id,
    from: frame.from,
    text: (frame.data as { text: string }).text,
    edited: frame.edited === true,
  };
}

function handOf(stored: string): RaisedHand {
  const frame = JSON.parse(stored) as MessageFrame;
  return { userId: frame.from.userId, name: frame.from.name, raisedAt: frame.ts };
}

function boardEntryOf(stored: string): BoardEntry {
  const frame = JSON.parse(stored) as MessageFrame;
  const type = frame.event === 'wb.stroke' ? 'stroke' : 'shape';
  return { seq: frame.seq!, userId: frame.from.userId, item: { type, ...(frame.data as object) } as BoardEntry['item'] };
}
