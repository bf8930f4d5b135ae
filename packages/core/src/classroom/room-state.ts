import { INITIAL_CONTROL, type ClassControl } from '@classwire/protocol';
import { STATE_SEQ, type StateGuard, type StateOp } from '../ports.js';

/**
 * How a classroom keeps its state next to the room log: the collections, and the fields of `control`.
 * Only this module knows the stored layout of the control state.
 */
export const COLLECTIONS = {
  control: 'control',
  hands: 'hands',
  chat: 'chat',
  board: 'board',
  private: 'private',
  /**
   * Field `n`: private messages stored in this epoch, changed with each one, so the records can tell how
   * many left the tail unrecorded.
   */
  privateCount: 'privateCount',
  /** Running totals of the board (field `bytes`), kept apart so the board holds only items. */
  boardSize: 'boardSize',
  /** Poll id → the poll (polls.ts). */
  polls: 'polls',
  /** `<poll id>|n`, `|rev` and `|c<option>`: each poll's counts, changed atomically with its answers. */
  pollTally: 'pollTally',
  /** `<poll id>|<user id>` → that student's answer: one per student and poll, whatever their connections. */
  pollAnswers: 'pollAnswers',
  /** Field `t`: the class timer (timer.ts). */
  timer: 'timer',
  /** Field `a`: the pinned announcement's frame (announcements.ts). */
  announcement: 'announcement',
  /** User id → name: the students who have seen the pinned announcement. */
  announceSeen: 'announceSeen',
  /** `<message seq>|<emoji>|<user id>` → name: one reaction on a chat message (chat-reactions.ts). */
  chatReactions: 'chatReactions',
  /** `<kind>|<user id>` → server time: a student's live reaction still counting (live-reactions.ts). */
  liveReactions: 'liveReactions',
  /** Field `p`: the board's pages, the shown one and free browsing (board.ts). */
  boardPages: 'boardPages',
  /** The open breakout: `cfg`, `shown`, `msg` and `u:<user id>` → group (breakout.ts). */
  breakout: 'breakout',
} as const;

/** The `boardSize` field holding the serialized size of the board's items. */
export const BOARD_BYTES_FIELD = 'bytes';

/** The control field holding the seq of the last control change. */
const VERSION_FIELD = 'v';

/** The control state as read, with its version: the guard of every classroom append. */
export interface ControlState extends ClassControl {
  /** Seq of the last control change (null when there was none). */
  version: string | null;
}

export const EMPTY_CONTROL: ControlState = { ...INITIAL_CONTROL, version: null };

/** Reads the control collection: fields `status`, `chatLocked`, `whiteboardLocked`, `v`, and per-user flags. */
export function parseControl(fields: Record<string, string> | undefined): ControlState {
  if (fields === undefined || Object.keys(fields).length === 0) return EMPTY_CONTROL;
  const muted: string[] = [];
  const granted: string[] = [];
  const removed: string[] = [];
  for (const field of Object.keys(fields)) {
    const colon = field.indexOf(':');
    if (colon < 0) continue;
    const kind = field.slice(0, colon);
    const userId = field.slice(colon + 1);
    if (kind === 'muted') muted.push(userId);
    else if (kind === 'granted') granted.push(userId);
    else if (kind === 'removed') removed.push(userId);
  }
  const status = fields.status;
  return {
    version: fields[VERSION_FIELD] ?? null,
    status: status === 'live' || status === 'ended' ? status : 'waiting',
    settings: { chatLocked: fields.chatLocked === '1', whiteboardLocked: fields.whiteboardLocked === '1' },
    muted,
    granted,
    removed,
  };
}

/** Holds when the control state is still the one a decision was taken on. */
export function versionGuard(control: ControlState): StateGuard {
  return { collection: COLLECTIONS.control, field: VERSION_FIELD, value: control.version };
}

/**
 * The ops that store a change of the control state, from `before` to `after` (as `applyControlEvent`
 * computed it), and move its version to the appended message's seq, so every decision taken on `before`
 * fails its version guard.
 */
export function controlChange(before: ClassControl, after: ClassControl): StateOp[] {
  const old = controlFields(before);
  const next = controlFields(after);
  const ops: StateOp[] = [];
  for (const [field, value] of next) if (old.get(field) !== value) ops.push({ op: 'set', collection: COLLECTIONS.control, field, value });
  for (const field of old.keys()) if (!next.has(field)) ops.push({ op: 'delete', collection: COLLECTIONS.control, field });
  ops.push({ op: 'set', collection: COLLECTIONS.control, field: VERSION_FIELD, value: STATE_SEQ });
  return ops;
}

function controlFields(control: ClassControl): Map<string, string> {
  const fields = new Map<string, string>([
    ['status', control.status],
    ['chatLocked', control.settings.chatLocked ? '1' : '0'],
    ['whiteboardLocked', control.settings.whiteboardLocked ? '1' : '0'],
  ]);
  for (const kind of ['muted', 'granted', 'removed'] as const) {
    for (const userId of control[kind]) fields.set(`${kind}:${userId}`, '1');
  }
  return fields;
}
