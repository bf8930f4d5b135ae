import {
  CLASSROOM_LIMITS,
  CLOSE_CODES,
  ProtocolError,
  applyControlEvent,
  handToLower,
  type Actor,
  type ClassroomEvent,
  type ClassroomEventMap,
  type EphemeralClassroomEvent,
  type MessageFrame,
  type Role,
  type Sender,
} from '@classwire/protocol';
import { STATE_FRAME, STATE_SEQ, stateField, stateSeqField, type StateGuard, type StateOp, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import { COLLECTIONS, controlChange, type ControlState } from './room-state.js';
import { POLL_HANDLERS } from './polls.js';
import { TIMER_HANDLERS } from './timer.js';
import { ANNOUNCEMENT_HANDLERS } from './announcements.js';
import { CHAT_REACTION_HANDLERS } from './chat-reactions.js';
import { BOARD_HANDLERS } from './board.js';
import { BREAKOUT_HANDLERS } from './breakout.js';

/** Events sequenced into the room log, each with a handler below. */
export type AppendedEvent = Exclude<ClassroomEvent, EphemeralClassroomEvent | 'chat.private' | 'poll.answer' | 'announce.seen' | 'reaction.send' | 'breakout.overview'>;

/** A decision taken against one read of the state: what to guard, what to change, what to do after. */
export interface Plan {
  guards: StateGuard[];
  ops: StateOp[];
  /** Why a guard after the version guard failed. */
  guardError?: ProtocolError;
  /** Runs once the message is stored, delivered and acked. */
  after?: () => Promise<void>;
  /** The data the room receives instead of the sender's (a poll without its quiz answers); same input, same data. */
  message?: unknown;
  /** A failed guard after the version guard means the state moved on (the board): decide again on a fresh read. */
  retryOnStale?: boolean;
}

/** What the handlers need beyond the state: the room's members and closing their connections. */
export interface HandlerServices {
  /** Per board page. */
  maxBoardItems: number;
  maxBoardBytes: number;
  /** All pages together (items and what their authors may redo). */
  maxBoardRoomBytes: number;
  /** Server time (ms): poll openings and time limits. */
  now(): number;
  /** A read of the room's state beyond the handler's `reads` (a poll's tally when sharing it). */
  readState(room: string, query: StateQuery): Promise<StateRead>;
  roleInRoom(room: string, userId: string): Promise<Role | undefined>;
  /** The user ids of the students present in the room (a random breakout split). */
  studentsIn(room: string): Promise<string[]>;
  closeRoom(room: string, code: number, reason: string): Promise<void>;
  closeUser(room: string, userId: string, code: number, reason: string): Promise<void>;
}

export interface EventInput<E extends AppendedEvent> {
  actor: Actor;
  /** The actor as messages name them (with their display name). */
  sender: Sender;
  room: string;
  data: ClassroomEventMap[E];
  control: ControlState;
  /** What `reads` asked for (empty when the decision is taken on the remembered control state). */
  state: StateRead;
  services: HandlerServices;
}

export interface EventHandler<E extends AppendedEvent> {
  /** The state the rule needs beyond the control state (always read); some depends on who sends it. */
  reads?: (data: ClassroomEventMap[E], actor: Actor) => StateQuery;
  /** Authorizes the event (throws ProtocolErrors) and plans its state change. */
  plan(input: EventInput<E>): Plan | Promise<Plan>;
}

type EventHandlers = { [E in AppendedEvent]: EventHandler<E> };
/** The handlers of the events other modules own (`polls.ts`). */
export type SomeEventHandlers<K extends AppendedEvent> = { [E in K]: EventHandler<E> };

const chatMessageAt = (data: { seq: number }): StateQuery => ({ [COLLECTIONS.chat]: [stateSeqField(data.seq)] });

/** The stored chat message an edit or delete refers to. */
function storedChat(state: StateRead, seq: number): { field: string; frame: MessageFrame & { edited?: boolean } } {
  const field = stateSeqField(seq);
  const stored = stateField(state.collections[COLLECTIONS.chat], field);
  if (stored === undefined) throw new ProtocolError('not_found', `no chat message with seq ${seq} in the recent chat`);
  return { field, frame: JSON.parse(stored) as MessageFrame & { edited?: boolean } };
}

/** Per event: what it reads, who may send it, what it changes. */
export const EVENT_HANDLERS: EventHandlers = {
  ...POLL_HANDLERS,
  ...TIMER_HANDLERS,
  ...ANNOUNCEMENT_HANDLERS,
  ...CHAT_REACTION_HANDLERS,
  ...BOARD_HANDLERS,
  ...BREAKOUT_HANDLERS,
  'chat.message': {
    plan: ({ actor, control }) => {
      authorize('chat.message', actor, control);
      return {
        guards: [],
        ops: [{ op: 'set', collection: COLLECTIONS.chat, field: STATE_SEQ, value: STATE_FRAME, keep: CLASSROOM_LIMITS.chatTail }],
      };
    },
  },
  'chat.edit': {
    reads: chatMessageAt,
    plan: ({ actor, control, data, state }) => {
      const { field, frame } = storedChat(state, data.seq);
      authorize('chat.edit', actor, control, { authorId: frame.from.userId });
      const edited = JSON.stringify({ ...frame, data: { text: data.text }, edited: true });
      return { guards: [], ops: [{ op: 'set', collection: COLLECTIONS.chat, field, value: edited, onlyIfPresent: true }] };
    },
  },
  'chat.delete': {
    reads: chatMessageAt,
    plan: ({ actor, control, data, state }) => {
      const { field, frame } = storedChat(state, data.seq);
      authorize('chat.delete', actor, control, { authorId: frame.from.userId });
      return { guards: [], ops: [{ op: 'delete', collection: COLLECTIONS.chat, field }] };
    },
  },
  'hand.raise': {
    plan: ({ actor, control }) => {
      authorize('hand.raise', actor, control);
      return { guards: [], ops: [{ op: 'set', collection: COLLECTIONS.hands, field: actor.userId, value: STATE_FRAME }] };
    },
  },
  'hand.lower': {
    plan: ({ actor, control, data }) => {
      const userId = handToLower(data, actor.userId);
      authorize('hand.lower', actor, control, { userId });
      return { guards: [], ops: [{ op: 'delete', collection: COLLECTIONS.hands, field: userId }] };
    },
  },
  'hand.clear': {
    plan: ({ actor, control }) => {
      authorize('hand.clear', actor, control);
      return { guards: [], ops: [{ op: 'clear', collection: COLLECTIONS.hands }] };
    },
  },
  'class.settings': {
    plan: ({ actor, control, data }) => {
      authorize('class.settings', actor, control);
      return { guards: [], ops: controlChange(control, applyControlEvent(control, 'class.settings', data)) };
    },
  },
  'class.start': {
    plan: ({ actor, control, data }) => {
      authorize('class.start', actor, control);
      return { guards: [], ops: controlChange(control, applyControlEvent(control, 'class.start', data)) };
    },
  },
  'class.end': {
    plan: ({ actor, control, data, room, services }) => {
      authorize('class.end', actor, control);
      return {
        guards: [],
        ops: controlChange(control, applyControlEvent(control, 'class.end', data)),
        after: () => services.closeRoom(room, CLOSE_CODES.classEnded, 'the class has ended'),
      };
    },
  },
  'moderation.mute': {
    plan: async ({ actor, control, data, room, services }) => {
      authorize('moderation.mute', actor, control, { userId: data.userId, userRole: await services.roleInRoom(room, data.userId) });
      return { guards: [], ops: controlChange(control, applyControlEvent(control, 'moderation.mute', data)) };
    },
  },
  'moderation.grant': {
    plan: async ({ actor, control, data, room, services }) => {
      authorize('moderation.grant', actor, control, { userId: data.userId, userRole: await services.roleInRoom(room, data.userId) });
      return { guards: [], ops: controlChange(control, applyControlEvent(control, 'moderation.grant', data)) };
    },
  },
  'moderation.remove': {
    plan: async ({ actor, control, data, room, services }) => {
      const { userId } = data;
      const userRole = await services.roleInRoom(room, userId);
      // Only someone in the class can be removed: a typo must not bar a user (or a teacher) for good.
      if (userRole === undefined) throw new ProtocolError('not_found', `user "${userId}" is not in this class`);
      authorize('moderation.remove', actor, control, { userId, userRole });
      return {
        guards: [],
        ops: [
          ...controlChange(control, applyControlEvent(control, 'moderation.remove', data)),
          { op: 'delete', collection: COLLECTIONS.hands, field: userId },
        ],
        after: () => services.closeUser(room, userId, CLOSE_CODES.removed, 'removed from the class by a teacher'),
      };
    },
  },
};
