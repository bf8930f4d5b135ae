import { encodeSnapshotFrame, utf8Length, type Actor, type BoardPages, type ChatEntry, type ClassroomSnapshot, type MessageReaction, type MessageFrame, type PrivateEntry, type RaisedHand } from '@classwire/protocol';
import type { StateQuery, StateRead } from '../ports.js';
import { pollsSnapshot } from './polls.js';
import { timerSnapshot } from './timer.js';
import { announcementSnapshot } from './announcements.js';
import { reactionsBySeq } from './chat-reactions.js';
import { liveReactionsSnapshot } from './live-reactions.js';
import { boardEntries, boardPagesOf, boardPagesQuery, boardQuery } from './board.js';
import { breakoutSnapshot } from './breakout.js';
import { mayRead } from './private-messages.js';
import { COLLECTIONS, parseControl } from './room-state.js';

/** Room and framing overhead of a snapshot part around its `data` string. */
const SNAPSHOT_PART_OVERHEAD = 256;

/** What a snapshot reads: chat and board (the items of `pages`) only for a full one. */
export function snapshotQuery(full: boolean, pages?: BoardPages): StateQuery {
  const query: StateQuery = { [COLLECTIONS.control]: 'all', [COLLECTIONS.hands]: 'all', [COLLECTIONS.private]: 'all', ...boardPagesQuery() };
  if (full) {
    query[COLLECTIONS.chat] = 'all';
    query[COLLECTIONS.chatReactions] = 'all';
    Object.assign(query, boardQuery(pages ?? boardPagesOf({ epoch: '', seq: 0, collections: {}, counts: {} })));
  }
  return query;
}

/** Rooms whose serialized chat and board are kept; the least recently joined is dropped first. */
const SHARED_PARTS_ROOMS = 64;

/** Whether the shared part is built from a collection: chat, its reactions, the board's pages record and each page's items. */
const isSharedSource = (collection: string): boolean =>
  collection === COLLECTIONS.chat ||
  collection === COLLECTIONS.chatReactions ||
  collection === COLLECTIONS.boardPages ||
  collection === COLLECTIONS.board ||
  collection.startsWith(`${COLLECTIONS.board}:`);

interface SharedParts {
  epoch: string;
  seq: number;
  /** Copies of the source collections as they were when `members` was built. */
  sources: Record<string, Record<string, string>>;
  members: string;
}

/**
 * The part of a full snapshot every viewer gets alike (chat and board) as JSON members, kept per room: a
 * join reuses it instead of parsing and serializing the whole board again. Reused as it is at the same
 * (epoch, seq); at another seq (messages that left chat and board alone, such as presence changes appended
 * with class records on) when the source collections hold the same fields and values as when it was built,
 * which costs a comparison of the stored strings rather than a parse and a serialization of every item.
 */
export class SnapshotCache {
  private readonly rooms = new Map<string, SharedParts>();
  /** Times the shared part was built rather than reused (for tests and metrics). */
  builds = 0;

  sharedMembers(room: string, state: StateRead): string {
    const cached = this.rooms.get(room);
    this.rooms.delete(room);
    let entry: SharedParts;
    if (cached !== undefined && cached.epoch === state.epoch && (cached.seq === state.seq || sameSources(cached.sources, state))) {
      entry = { ...cached, seq: state.seq };
    } else {
      this.builds += 1;
      const reactions = reactionsBySeq(state.collections[COLLECTIONS.chatReactions]);
      const shared = {
        chat: sortedValues(state.collections[COLLECTIONS.chat]).map((stored) => chatEntryOf(stored, reactions)),
        whiteboard: boardEntries(state, boardPagesOf(state)),
      };
      entry = {
        epoch: state.epoch,
        seq: state.seq,
        sources: Object.fromEntries(Object.entries(state.collections).filter(([collection]) => isSharedSource(collection)).map(([collection, fields]) => [collection, { ...fields }])),
        members: JSON.stringify(shared).slice(1, -1),
      };
    }
    this.rooms.set(room, entry);
    if (this.rooms.size > SHARED_PARTS_ROOMS) this.rooms.delete(this.rooms.keys().next().value!);
    return entry.members;
  }
}

function sameSources(sources: Readonly<Record<string, Record<string, string>>>, state: StateRead): boolean {
  const collections = new Set([...Object.keys(sources), ...Object.keys(state.collections).filter(isSharedSource)]);
  return [...collections].every((collection) => {
    const before = sources[collection] ?? {};
    const now = state.collections[collection] ?? {};
    const fields = Object.keys(now);
    return fields.length === Object.keys(before).length && fields.every((field) => Object.hasOwn(before, field) && before[field] === now[field]);
  });
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
  const own = JSON.stringify({ ...viewerSnapshot(state, viewer, full), ...pollsSnapshot(state, viewer, ownAnswers), timer: timerSnapshot(state), ...announcementSnapshot(state, viewer), breakout: breakoutSnapshot(state), ...liveReactionsSnapshot(state, viewer, serverTime), serverTime });
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
    boardPages: boardPagesOf(state),
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

function chatEntryOf(stored: string, reactions: ReadonlyMap<number, MessageReaction[]>): ChatEntry {
  const frame = JSON.parse(stored) as MessageFrame & { edited?: boolean };
  const entry: ChatEntry = {
    seq: frame.seq!,
    ts: frame.ts,
    id: frame.id,
    from: frame.from,
    text: (frame.data as { text: string }).text,
    edited: frame.edited === true,
  };
  const own = reactions.get(entry.seq);
  if (own !== undefined && own.length > 0) entry.reactions = own;
  return entry;
}

function handOf(stored: string): RaisedHand {
  const frame = JSON.parse(stored) as MessageFrame;
  return { userId: frame.from.userId, name: frame.from.name, raisedAt: frame.ts };
}
