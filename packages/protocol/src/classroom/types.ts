import type { Sender } from '../types.js';
import type { ClassTimer, TimerSetData } from './timer.js';
import type { AnnouncePinData, AnnounceSeenData, Announcement, AnnouncementReader, AnnouncementReceipts } from './announcements.js';
import type { LiveReactionCounts, LiveReactionData, MessageReaction, MessageReactionData } from './reactions.js';
import type { BoardPages, PageBrowseData, PageData, PageIdData, TextData } from './board.js';
import type { BreakoutOverview, BreakoutAssignData, BreakoutBroadcastData, BreakoutChooseData, BreakoutOpenData, BreakoutShowData, BreakoutState } from './breakout.js';
import type { OwnPollAnswer, PollAnswerData, PollCreateData, PollIdData, PollOpenData, PollTally, PollView } from './polls.js';

/**
 * The classroom's events and room state (docs/classroom.md). Types and limits only, so browser code can
 * import them from `@classwire/protocol/wire`; the validating schemas are in `schemas.ts`.
 */

export const CLASSROOM_LIMITS = {
  /** Longest chat or private message, characters after trimming. */
  maxChatText: 1000,
  /** Chat messages kept in the room state (and sent to late joiners). */
  chatTail: 100,
  /** Private messages kept per room. */
  privateTail: 100,
  /** Whiteboard items kept; more are refused until some are erased or the board is cleared. */
  maxBoardItems: 1000,
  /** Numbers in one stroke's `points` (x, y pairs): 500 points; longer strokes are sent in segments. */
  maxStrokePoints: 1000,
  /** Longest whiteboard item id. */
  maxItemId: 64,
  /** Cursor updates relayed per connection per second; more are dropped. */
  cursorsPerSecond: 25,
} as const;

/**
 * Names a whiteboard item id may not be: they mean something to JavaScript objects. Ids starting with `$`
 * are refused too: the room state reserves them for its placeholders.
 */
export const RESERVED_ITEM_IDS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/** Undefined when `id` may name a whiteboard item, otherwise why not. */
export function itemIdRefusal(id: string): string | undefined {
  if (id.startsWith('$')) return 'an id may not start with "$"';
  if (RESERVED_ITEM_IDS.includes(id)) return `"${id}" is a reserved name`;
  return undefined;
}

/** Namespaces whose events the classroom policy owns; unknown events in them are refused. */
export const CLASSROOM_NAMESPACES = ['chat', 'hand', 'wb', 'class', 'moderation', 'poll', 'timer', 'announce', 'reaction', 'breakout'] as const;

export type ClassStatus = 'waiting' | 'live' | 'ended';

export interface ClassSettings {
  chatLocked: boolean;
  whiteboardLocked: boolean;
}

export interface ChatMessageData {
  text: string;
}
export interface ChatEditData {
  seq: number;
  text: string;
}
export interface ChatDeleteData {
  seq: number;
}
export interface ChatPrivateData {
  /** A user id; omitted by a student to reach every staff member. */
  to?: string | undefined;
  text: string;
}
export interface HandLowerData {
  userId?: string | undefined;
}
export interface StrokeData {
  id: string;
  /** The board page (absent: page 0). */
  page?: number | undefined;
  color: string;
  width: number;
  /** Flat list of normalised coordinates: x0, y0, x1, y1, … */
  points: number[];
}
export type ShapeKind = 'line' | 'rect' | 'ellipse';
export interface ShapeData {
  id: string;
  page?: number | undefined;
  kind: ShapeKind;
  color: string;
  width: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export interface EraseData {
  id: string;
  page?: number | undefined;
}
export interface CursorData {
  x: number;
  y: number;
  /** The page the pointer is over (absent: page 0), so others show it only on that page. */
  page?: number | undefined;
}
export interface SettingsData {
  chatLocked?: boolean | undefined;
  whiteboardLocked?: boolean | undefined;
}
export interface MuteData {
  userId: string;
  muted: boolean;
}
export interface GrantData {
  userId: string;
  granted: boolean;
}
export interface RemoveData {
  userId: string;
}

/** Event name → its `data`. */
export interface ClassroomEventMap {
  'chat.message': ChatMessageData;
  'chat.edit': ChatEditData;
  'chat.delete': ChatDeleteData;
  'chat.private': ChatPrivateData;
  'chat.typing': Record<string, never>;
  'hand.raise': Record<string, never>;
  'hand.lower': HandLowerData;
  'hand.clear': Record<string, never>;
  'wb.stroke': StrokeData;
  'wb.shape': ShapeData;
  'wb.erase': EraseData;
  'wb.clear': PageData;
  'wb.cursor': CursorData;
  'wb.text': TextData;
  'wb.undo': PageData;
  'wb.redo': PageData;
  'wb.page.add': Record<string, never>;
  'wb.page.remove': PageIdData;
  'wb.page.show': PageIdData;
  'wb.page.browse': PageBrowseData;
  'class.settings': SettingsData;
  'class.start': Record<string, never>;
  'class.end': Record<string, never>;
  'moderation.mute': MuteData;
  'moderation.grant': GrantData;
  'moderation.remove': RemoveData;
  'poll.create': PollCreateData;
  'poll.open': PollOpenData;
  'poll.close': PollIdData;
  'poll.share': PollIdData;
  'poll.answer': PollAnswerData;
  'timer.set': TimerSetData;
  'timer.pause': Record<string, never>;
  'timer.resume': Record<string, never>;
  'timer.clear': Record<string, never>;
  'announce.pin': AnnouncePinData;
  'announce.unpin': Record<string, never>;
  'announce.seen': AnnounceSeenData;
  'chat.react': MessageReactionData;
  'chat.unreact': MessageReactionData;
  'reaction.send': LiveReactionData;
  'breakout.open': BreakoutOpenData;
  'breakout.assign': BreakoutAssignData;
  'breakout.choose': BreakoutChooseData;
  'breakout.show': BreakoutShowData;
  'breakout.broadcast': BreakoutBroadcastData;
  'breakout.close': Record<string, never>;
  'breakout.overview': Record<string, never>;
}
export type ClassroomEvent = keyof ClassroomEventMap;

/**
 * Events the server alone sends in a classroom (to staff, unsequenced): a `Room`'s `on` receives them
 * beside the `ClassroomEventMap`'s, its `publish` does not offer them.
 */
export interface ClassroomServerEventMap {
  'poll.tally': PollTally;
  'announce.receipts': AnnouncementReceipts;
  'reaction.counts': LiveReactionCounts;
  'breakout.where': BreakoutOverview;
}

/** Ephemeral events: relayed, never stored. */
export type EphemeralClassroomEvent = 'chat.typing' | 'wb.cursor';

export function isEphemeralClassroomEvent(event: ClassroomEvent): event is EphemeralClassroomEvent {
  return event === 'chat.typing' || event === 'wb.cursor';
}

export interface ChatEntry {
  seq: number;
  ts: number;
  /** The publish id the author chose. */
  id?: string | undefined;
  from: Sender;
  text: string;
  edited: boolean;
  /** Its reactions (emoji in catalogue order); absent when it has none. */
  reactions?: MessageReaction[];
}

export interface PrivateEntry {
  id: string;
  ts: number;
  from: Sender;
  /** The recipient's user id, or null for "every staff member". */
  to: string | null;
  text: string;
}

export type BoardItem = ({ type: 'stroke' } & Omit<StrokeData, 'page'>) | ({ type: 'shape' } & Omit<ShapeData, 'page'>) | ({ type: 'text' } & Omit<TextData, 'page'>);

export interface BoardEntry {
  seq: number;
  userId: string;
  /** The page it is on (absent: page 0). */
  page?: number | undefined;
  item: BoardItem;
}

export interface RaisedHand {
  userId: string;
  name: string;
  raisedAt: number;
}

export interface ClassroomSnapshot {
  /** False on a resumed join: `chat` and `whiteboard` are omitted (the replayed messages carry them). */
  full: boolean;
  seq: number;
  status: ClassStatus;
  settings: ClassSettings;
  muted: string[];
  granted: string[];
  removed: string[];
  hands: RaisedHand[];
  chat?: ChatEntry[];
  /** Every page's items, in seq order (`page` absent on page 0's). */
  whiteboard?: BoardEntry[];
  /** The board's pages, the shown one and free browsing (absent from older servers: page 0 only). */
  boardPages?: BoardPages;
  /** Only what the viewer may see. */
  private: PrivateEntry[];
  /** The room's polls, oldest first (a quiz's answers only for staff, or once shared). */
  polls?: PollView[];
  /** Staff only: each poll's tally. */
  pollTallies?: PollTally[];
  /** Students: their own answers. */
  pollAnswers?: OwnPollAnswer[];
  /** The class timer, or null when none is set. */
  timer?: ClassTimer | null;
  /** The pinned announcement, or null. */
  announcement?: Announcement | null;
  /** Staff only: who has seen the pinned announcement. */
  announcementSeenBy?: AnnouncementReader[];
  /** Staff only: the live reactions still inside their window. */
  liveReactions?: LiveReactionCounts;
  /** Open breakout rooms (the class room's snapshot), or null. */
  breakout?: BreakoutState | null;
  /** The server's clock when the snapshot was built (ms): a joiner's first estimate of server time. */
  serverTime?: number;
}

/** One slice of a snapshot's JSON text; parts 0 … parts-1 concatenated form the snapshot. */
export interface SnapshotFrame {
  type: 'snapshot';
  room: string;
  seq: number;
  part: number;
  parts: number;
  data: string;
}
