/**
 * The classroom as one client sees it, built from the join snapshot and the room's events
 * (docs/classroom.md). Pure functions: each returns a new state and shares what did not change, so the
 * app (and the bindings) can keep the state in a `shallowRef` and tests can drive it without a server.
 *
 * The server has already authorized every event it relays; this module only applies them. What a control
 * event changes and whose hand a lowering lowers come from the rules the server applies too
 * (`./control.ts`), and the tails have the server's lengths, so that a member who was
 * there all along and a late joiner who got a snapshot see the same classroom.
 */
import type { Sender } from '../types.js';
import { applyControlEvent, handToLower, type ClassControl } from './control.js';
import { applyPollEvent, initialPollsState, pollsFromSnapshot, type PollsState } from './poll-state.js';
import type { ClassTimer } from './timer.js';
import type { Announcement, AnnouncementReader } from './announcements.js';
import { MESSAGE_REACTIONS, withMessageReaction, type LiveReactionCounts, type MessageReactionEmoji } from './reactions.js';
import { INITIAL_BOARD_PAGES, isBoardPages, pageOf, type BoardPages } from './board.js';
import { applyBreakoutEvent, type BreakoutState } from './breakout.js';
import {
  CLASSROOM_LIMITS,
  type BoardEntry,
  type BoardItem,
  type ChatEntry,
  type ClassroomSnapshot,
  type PrivateEntry,
  type RaisedHand,
  type ShapeKind,
} from './types.js';

export interface ClassroomState extends ClassControl, PollsState {
  hands: readonly RaisedHand[];
  /** The public chat tail, in seq order. */
  chat: readonly ChatEntry[];
  /** The whiteboard's items on every page, in seq order (an entry without `page` is on page 0). */
  board: readonly BoardEntry[];
  /** The board's pages, the one staff show, and whether students may browse. */
  pages: BoardPages;
  /** Private messages this viewer may see, oldest first. */
  private: readonly PrivateEntry[];
  /** The class timer, in server time; null when none is set. */
  timer: ClassTimer | null;
  /** The pinned announcement, or null. */
  announcement: Announcement | null;
  /** Staff: who has seen the pinned announcement (from the snapshot and the coalesced receipts). */
  announcementSeenBy: readonly AnnouncementReader[];
  /** Staff: the live reactions inside their window (the newest batch); null before any. */
  liveReactions: LiveReactionCounts | null;
  /** Open breakout rooms (class room), or null. */
  breakout: BreakoutState | null;
  /** The seq of the last full snapshot: every durable event at or below it is already in the state. */
  baseSeq: number;
  /** The last seq applied (snapshot or event). */
  seq: number;
}

/** A room message as the SDK delivers it. */
export interface ClassroomMessage {
  event: string;
  data: unknown;
  from: Sender;
  ts: number;
  seq?: number | undefined;
  id?: string | undefined;
}

export function initialState(): ClassroomState {
  return {
    status: 'waiting',
    settings: { chatLocked: false, whiteboardLocked: false },
    muted: [],
    granted: [],
    removed: [],
    hands: [],
    chat: [],
    board: [],
    pages: INITIAL_BOARD_PAGES,
    private: [],
    timer: null,
    announcement: null,
    announcementSeenBy: [],
    liveReactions: null,
    breakout: null,
    ...initialPollsState(),
    baseSeq: 0,
    seq: 0,
  };
}

/**
 * A full snapshot replaces the state. A partial one (a resumed join) replaces only the control state and
 * merges the private messages: the chat and board events it omits are replayed as messages.
 */
export function applySnapshot(state: ClassroomState, snapshot: ClassroomSnapshot): ClassroomState {
  const control = {
    status: snapshot.status,
    settings: { ...snapshot.settings },
    muted: [...snapshot.muted],
    granted: [...snapshot.granted],
    removed: [...snapshot.removed],
    hands: [...snapshot.hands],
  };
  if (!snapshot.full) {
    // `seq` stays: the chat and board events up to the snapshot's seq are still to be replayed.
    return { ...state, ...control, pages: snapshot.boardPages ?? state.pages, ...pollsFromSnapshot(snapshot), timer: snapshot.timer ?? null, announcement: snapshot.announcement ?? null, announcementSeenBy: snapshot.announcementSeenBy ?? [], breakout: snapshot.breakout ?? null, liveReactions: newerCounts(state.liveReactions, snapshot.liveReactions), private: mergePrivate(state.private, snapshot.private) };
  }
  return {
    ...control,
    chat: [...(snapshot.chat ?? [])].slice(-CLASSROOM_LIMITS.chatTail),
    board: [...(snapshot.whiteboard ?? [])],
    pages: snapshot.boardPages ?? INITIAL_BOARD_PAGES,
    private: mergePrivate([], snapshot.private),
    timer: snapshot.timer ?? null,
    announcement: snapshot.announcement ?? null,
    announcementSeenBy: snapshot.announcementSeenBy ?? [],
    liveReactions: newerCounts(state.liveReactions, snapshot.liveReactions),
    breakout: snapshot.breakout ?? null,
    ...pollsFromSnapshot(snapshot),
    baseSeq: snapshot.seq,
    seq: snapshot.seq,
  };
}

/** Applies one room event. Unknown events and malformed data leave the state as it was. */
export function applyEvent(state: ClassroomState, message: ClassroomMessage): ClassroomState {
  const { seq } = message;
  // Already contained in the last full snapshot.
  if (seq !== undefined && seq <= state.baseSeq) return state;
  const next = reduce(state, message);
  if (seq === undefined || seq <= next.seq) return next;
  return { ...next, seq };
}

function reduce(state: ClassroomState, message: ClassroomMessage): ClassroomState {
  const data = (typeof message.data === 'object' && message.data !== null ? message.data : {}) as Record<string, unknown>;
  const { from, ts } = message;
  switch (message.event) {
    case 'chat.message': {
      if (message.seq === undefined || typeof data.text !== 'string') return state;
      if (state.chat.some((entry) => entry.seq === message.seq)) return state;
      const entry: ChatEntry = { seq: message.seq, ts, id: message.id, from, text: data.text, edited: false };
      return { ...state, chat: [...state.chat, entry].slice(-CLASSROOM_LIMITS.chatTail) };
    }
    case 'chat.edit': {
      if (typeof data.seq !== 'number' || typeof data.text !== 'string') return state;
      const text = data.text;
      return { ...state, chat: state.chat.map((entry) => (entry.seq === data.seq ? { ...entry, text, edited: true } : entry)) };
    }
    case 'chat.delete':
      if (typeof data.seq !== 'number') return state;
      return { ...state, chat: state.chat.filter((entry) => entry.seq !== data.seq) };
    case 'chat.private':
      if (!isPrivateEntry(message.data)) return state;
      return { ...state, private: mergePrivate(state.private, [message.data]) };
    case 'hand.raise':
      // As on the server, raising again counts from now: the hand moves to the back of the queue.
      return { ...state, hands: [...state.hands.filter((hand) => hand.userId !== from.userId), { userId: from.userId, name: from.name, raisedAt: ts }] };
    case 'hand.lower': {
      const userId = handToLower({ userId: optionalString(data.userId) }, from.userId);
      return { ...state, hands: state.hands.filter((hand) => hand.userId !== userId) };
    }
    case 'hand.clear':
      return { ...state, hands: [] };
    case 'wb.stroke':
    case 'wb.shape':
    case 'wb.text': {
      const item = toBoardItem(message.event, data);
      const page = optionalPage(data.page);
      if (item === undefined || message.seq === undefined || page === undefined) return state;
      return withBoardEntry(state, { seq: message.seq, userId: from.userId, ...(page === 0 ? {} : { page }), item });
    }
    case 'wb.erase':
    case 'wb.undo': {
      // An undo's message names the item it took away (`id`), as an erase does.
      const page = optionalPage(data.page);
      if (typeof data.id !== 'string' || page === undefined) return state;
      return { ...state, board: state.board.filter((entry) => entry.item.id !== data.id || pageOf(entry) !== page) };
    }
    case 'wb.redo': {
      // The restored item keeps its id and its place (seq) among the others.
      const entry = data.entry as Record<string, unknown> | undefined;
      const page = optionalPage(data.page);
      if (typeof entry !== 'object' || entry === null || typeof entry.seq !== 'number' || typeof entry.item !== 'object' || entry.item === null || page === undefined) return state;
      const raw = entry.item as Record<string, unknown>;
      const item = toBoardItem(raw.type === 'stroke' ? 'wb.stroke' : raw.type === 'text' ? 'wb.text' : 'wb.shape', raw);
      if (item === undefined) return state;
      return withBoardEntry(state, { seq: entry.seq, userId: from.userId, ...(page === 0 ? {} : { page }), item });
    }
    case 'wb.clear': {
      const page = optionalPage(data.page);
      if (page === undefined) return state;
      return { ...state, board: state.board.filter((entry) => pageOf(entry) !== page) };
    }
    case 'wb.page.add':
    case 'wb.page.show':
    case 'wb.page.browse':
      return isBoardPages(data.pages) ? { ...state, pages: data.pages } : state;
    case 'wb.page.remove':
      // The page's items go with it.
      if (!isBoardPages(data.pages) || typeof data.page !== 'number') return state;
      return { ...state, pages: data.pages, board: state.board.filter((entry) => pageOf(entry) !== data.page) };
    case 'class.settings': {
      const change = { chatLocked: optionalBoolean(data.chatLocked), whiteboardLocked: optionalBoolean(data.whiteboardLocked) };
      return withControl(state, applyControlEvent(state, 'class.settings', change));
    }
    case 'class.start':
    case 'class.end':
      return withControl(state, applyControlEvent(state, message.event, {}));
    case 'moderation.mute':
      if (typeof data.userId !== 'string' || typeof data.muted !== 'boolean') return state;
      return withControl(state, applyControlEvent(state, 'moderation.mute', { userId: data.userId, muted: data.muted }));
    case 'moderation.grant':
      if (typeof data.userId !== 'string' || typeof data.granted !== 'boolean') return state;
      return withControl(state, applyControlEvent(state, 'moderation.grant', { userId: data.userId, granted: data.granted }));
    case 'moderation.remove': {
      if (typeof data.userId !== 'string') return state;
      const userId = data.userId;
      // The removed user's hand goes down with them, as on the server.
      const removed = withControl(state, applyControlEvent(state, 'moderation.remove', { userId }));
      return { ...removed, hands: removed.hands.filter((hand) => hand.userId !== userId) };
    }
    case 'timer.set':
    case 'timer.pause':
    case 'timer.resume':
    case 'timer.clear':
      // Each timer message carries the timer the server computed (null once cleared).
      return isTimer(data.timer) || data.timer === null ? { ...state, timer: data.timer } : state;
    case 'announce.pin':
      if (typeof data.id !== 'string' || typeof data.text !== 'string') return state;
      return { ...state, announcement: { id: data.id, text: data.text, from, pinnedAt: ts }, announcementSeenBy: [] };
    case 'announce.unpin':
      return { ...state, announcement: null, announcementSeenBy: [] };
    case 'announce.receipts':
      // Each batch lists every reader so far: the newest replaces the held list.
      if (state.announcement === null || data.id !== state.announcement.id || !Array.isArray(data.seenBy)) return state;
      return { ...state, announcementSeenBy: (data.seenBy as unknown[]).filter(isReader) };
    case 'chat.react':
    case 'chat.unreact': {
      const { seq: target, emoji } = data;
      if (typeof target !== 'number' || !(MESSAGE_REACTIONS as readonly unknown[]).includes(emoji)) return state;
      const on = message.event === 'chat.react';
      let changed = false;
      const chat = state.chat.map((entry) => {
        if (entry.seq !== target) return entry;
        const reactions = withMessageReaction(entry.reactions ?? [], emoji as MessageReactionEmoji, from, on);
        if (reactions === entry.reactions || (reactions.length === 0 && entry.reactions === undefined)) return entry;
        changed = true;
        const next: ChatEntry = { ...entry, reactions: [...reactions] };
        // A message nobody reacts to any more looks as it does in a snapshot: without `reactions`.
        if (reactions.length === 0) delete next.reactions;
        return next;
      });
      return changed ? { ...state, chat } : state;
    }
    case 'reaction.counts':
      return isLiveCounts(message.data) ? { ...state, liveReactions: newerCounts(state.liveReactions, message.data) } : state;
    default:
      if (message.event.startsWith('breakout.')) {
        const breakout = applyBreakoutEvent(state.breakout, message);
        return breakout === state.breakout ? state : { ...state, breakout };
      }
      return message.event.startsWith('poll.') ? applyPollEvent(state, message.event, message.data) : state;
  }
}

/** The state with the control part an accepted control event left; the same state when nothing changed. */
function withControl(state: ClassroomState, control: ClassControl): ClassroomState {
  if (control === state) return state;
  const { status, settings, muted, granted, removed } = control;
  return { ...state, status, settings, muted, granted, removed };
}

/** Batches from different nodes can cross in flight: each is the whole room's, so the newest wins. */
function newerCounts(held: LiveReactionCounts | null, incoming: LiveReactionCounts | undefined): LiveReactionCounts | null {
  if (incoming === undefined) return held;
  return held !== null && held.at > incoming.at ? held : incoming;
}

function isLiveCounts(value: unknown): value is LiveReactionCounts {
  if (typeof value !== 'object' || value === null) return false;
  const counts = value as Record<string, unknown>;
  return typeof counts.at === 'number' && typeof counts.windowMs === 'number' && typeof counts.sentAt === 'object' && counts.sentAt !== null;
}

function isReader(value: unknown): value is AnnouncementReader {
  if (typeof value !== 'object' || value === null) return false;
  const reader = value as Record<string, unknown>;
  return typeof reader.userId === 'string' && typeof reader.name === 'string';
}

function isTimer(value: unknown): value is ClassTimer {
  if (typeof value !== 'object' || value === null) return false;
  const timer = value as Record<string, unknown>;
  return typeof timer.durationMs === 'number' && typeof timer.running === 'boolean';
}

/** A page number as events carry it: absent means page 0; anything else malformed is undefined. */
function optionalPage(value: unknown): number | undefined {
  if (value === undefined) return 0;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Adds an item in seq order, unless the page already holds its id. */
function withBoardEntry(state: ClassroomState, entry: BoardEntry): ClassroomState {
  const page = pageOf(entry);
  if (state.board.some((other) => other.item.id === entry.item.id && pageOf(other) === page)) return state;
  const board = [...state.board];
  let at = board.length;
  while (at > 0 && board[at - 1]!.seq > entry.seq) at--;
  board.splice(at, 0, entry);
  return { ...state, board };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function optionalBoolean(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/** Private messages arrive live and again in a later snapshot: merged by id, oldest first, bounded. */
function mergePrivate(current: readonly PrivateEntry[], incoming: readonly PrivateEntry[]): readonly PrivateEntry[] {
  const byId = new Map(current.map((entry) => [entry.id, entry]));
  let changed = false;
  for (const entry of incoming) {
    if (byId.has(entry.id)) continue;
    byId.set(entry.id, entry);
    changed = true;
  }
  if (!changed) return current;
  return [...byId.values()].sort((a, b) => a.ts - b.ts).slice(-CLASSROOM_LIMITS.privateTail);
}

function isPrivateEntry(value: unknown): value is PrivateEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return typeof entry.id === 'string' && typeof entry.text === 'string' && typeof entry.ts === 'number' && typeof entry.from === 'object';
}

const SHAPE_KINDS: readonly ShapeKind[] = ['line', 'rect', 'ellipse'];

function toBoardItem(event: string, data: Record<string, unknown>): BoardItem | undefined {
  if (typeof data.id !== 'string' || typeof data.color !== 'string') return undefined;
  const { id, color } = data;
  if (event === 'wb.text') {
    const { x, y, text, size } = data;
    if (typeof x !== 'number' || typeof y !== 'number' || typeof text !== 'string' || typeof size !== 'number') return undefined;
    return { type: 'text', id, x, y, text, size, color };
  }
  if (typeof data.width !== 'number') return undefined;
  const { width } = data;
  if (event === 'wb.stroke') {
    if (!Array.isArray(data.points) || !data.points.every((n) => typeof n === 'number')) return undefined;
    return { type: 'stroke', id, color, width, points: data.points as number[] };
  }
  const { kind, x1, y1, x2, y2 } = data;
  if (!SHAPE_KINDS.includes(kind as ShapeKind)) return undefined;
  if (typeof x1 !== 'number' || typeof y1 !== 'number' || typeof x2 !== 'number' || typeof y2 !== 'number') return undefined;
  return { type: 'shape', id, kind: kind as ShapeKind, color, width, x1, y1, x2, y2 };
}
