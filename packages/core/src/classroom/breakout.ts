import {
  BREAKOUT_OVERVIEW_EVENT,
  MAX_BREAKOUT_CLASS_LENGTH,
  ProtocolError,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  groupJoinRefusal,
  groupRoom,
  groupSendRefusal,
  mutedInGroupByClass,
  parseGroupRoom,
  randomPlacement,
  withPlacements,
  type Actor,
  type BreakoutMode,
  type BreakoutOverview,
  type BreakoutPlacement,
  type GroupPlacement,
  type BreakoutState,
  type MessageFrame,
  type PublishFrame,
} from '@classwire/protocol';
import { checkMessageSize, senderOf } from '../frames.js';
import { STATE_FRAME, stateField, type ConnectionState, type FanOut, type PresenceStore, type StateOp, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import type { EventInput, Plan, SomeEventHandlers } from './handlers.js';
import { COLLECTIONS, parseControl, type ControlState } from './room-state.js';
import type { RoomStore } from './room-store.js';

/**
 * Breakout rooms (docs/classroom.md, "Breakout rooms"). Everything is decided in the class room: its
 * `breakout` collection holds the open breakout (`cfg`), each student's group (`u:<user id>`), the group
 * whose board is shown and the latest broadcast; every change is sequenced there, guarded on `cfg` as
 * read, so nothing lands on a breakout that was closed (or reopened) meanwhile. A group is a room of its
 * own (`<class>~g<n>`); joining it and sending in it are checked against that state (`GroupAccess`).
 */

const CONFIG_FIELD = 'cfg';
const SHOWN_FIELD = 'shown';
const BROADCAST_FIELD = 'msg';
/** Placements are stored under a prefix so that no user id can collide with the fields above (or `$` placeholders). */
const PLACEMENT_PREFIX = 'u:';

interface StoredConfig {
  groups: number;
  mode: BreakoutMode;
}

const readBreakout = (): StateQuery => ({ [COLLECTIONS.breakout]: 'all' });

/** The class room's breakout as read (null when none is open), and the stored config a change is guarded on. */
export function breakoutOf(state: StateRead): { stored: string | null; breakout: BreakoutState | null } {
  const fields = state.collections[COLLECTIONS.breakout];
  const stored = stateField(fields, CONFIG_FIELD) ?? null;
  if (stored === null || fields === undefined) return { stored, breakout: null };
  const config = JSON.parse(stored) as StoredConfig;
  const assignment: GroupPlacement[] = [];
  for (const field of Object.keys(fields)) {
    if (field.startsWith(PLACEMENT_PREFIX)) assignment.push({ userId: field.slice(PLACEMENT_PREFIX.length), group: Number(fields[field]) });
  }
  const shown = stateField(fields, SHOWN_FIELD);
  const broadcast = stateField(fields, BROADCAST_FIELD);
  const frame = broadcast === undefined ? undefined : (JSON.parse(broadcast) as MessageFrame);
  return {
    stored,
    breakout: {
      groups: config.groups,
      mode: config.mode,
      assignment: withPlacements([], assignment),
      shown: shown === undefined ? null : Number(shown),
      broadcast: frame === undefined ? null : { text: (frame.data as { text: string }).text, from: frame.from, ts: frame.ts },
    },
  };
}

/** Breakouts are run from the class room; a group cannot split again. */
function inClassRoom(room: string): void {
  if (parseGroupRoom(room) !== undefined) throw new ProtocolError('forbidden', 'breakout rooms are run from the class room');
}

function open(input: EventInput<Exclude<BreakoutEvent, 'breakout.open'>>): { stored: string; breakout: BreakoutState } {
  inClassRoom(input.room);
  const { stored, breakout } = breakoutOf(input.state);
  if (stored === null || breakout === null) throw new ProtocolError('conflict', 'no breakout rooms are open');
  return { stored, breakout };
}

function checkGroup(group: number | null, breakout: BreakoutState): void {
  if (group !== null && group > breakout.groups) throw new ProtocolError('bad_request', `this breakout has ${breakout.groups} groups`);
}

function placementOps(placements: readonly BreakoutPlacement[]): StateOp[] {
  return placements.map(({ userId, group }) =>
    group === null
      ? { op: 'delete', collection: COLLECTIONS.breakout, field: PLACEMENT_PREFIX + userId }
      : { op: 'set', collection: COLLECTIONS.breakout, field: PLACEMENT_PREFIX + userId, value: String(group) },
  );
}

/** A change of the open breakout, guarded on its config as read. */
function change(stored: string, ops: StateOp[], message?: unknown): Plan {
  return {
    guards: [{ collection: COLLECTIONS.breakout, field: CONFIG_FIELD, value: stored }],
    ops,
    guardError: new ProtocolError('conflict', 'the breakout rooms changed meanwhile; look again'),
    ...(message === undefined ? {} : { message }),
  };
}

type BreakoutEvent = 'breakout.open' | 'breakout.assign' | 'breakout.choose' | 'breakout.show' | 'breakout.broadcast' | 'breakout.close';

export const BREAKOUT_HANDLERS: SomeEventHandlers<BreakoutEvent> = {
  'breakout.open': {
    reads: readBreakout,
    plan: async ({ actor, control, data, room, state, services }) => {
      authorize('breakout.open', actor, control);
      inClassRoom(room);
      if (room.length > MAX_BREAKOUT_CLASS_LENGTH) throw new ProtocolError('bad_request', `a class name of more than ${MAX_BREAKOUT_CLASS_LENGTH} characters cannot hold breakout rooms`);
      if (breakoutOf(state).stored !== null) throw new ProtocolError('conflict', 'breakout rooms are open already; close them first');
      // A random split places the students present now; the members receive the placements in the message.
      const assignment = data.mode === 'random' ? withPlacements([], randomPlacement(await services.studentsIn(room), data.groups)) : [];
      return {
        guards: [{ collection: COLLECTIONS.breakout, field: CONFIG_FIELD, value: null }],
        ops: [
          { op: 'clear', collection: COLLECTIONS.breakout },
          { op: 'set', collection: COLLECTIONS.breakout, field: CONFIG_FIELD, value: JSON.stringify({ groups: data.groups, mode: data.mode } satisfies StoredConfig) },
          ...placementOps(assignment),
        ],
        guardError: new ProtocolError('conflict', 'breakout rooms are open already; close them first'),
        message: { ...data, assignment },
      };
    },
  },
  'breakout.assign': {
    reads: readBreakout,
    plan: (input) => {
      authorize('breakout.assign', input.actor, input.control);
      const { stored, breakout } = open(input);
      for (const { group } of input.data.assignments) checkGroup(group, breakout);
      return change(stored, placementOps(input.data.assignments));
    },
  },
  'breakout.choose': {
    reads: readBreakout,
    plan: (input) => {
      authorize('breakout.choose', input.actor, input.control);
      const { stored, breakout } = open(input);
      if (breakout.mode !== 'choose') throw new ProtocolError('forbidden', 'the teacher places students in groups in this breakout');
      checkGroup(input.data.group, breakout);
      return change(stored, placementOps([{ userId: input.actor.userId, group: input.data.group }]));
    },
  },
  'breakout.show': {
    reads: readBreakout,
    plan: (input) => {
      authorize('breakout.show', input.actor, input.control);
      const { stored, breakout } = open(input);
      const { group } = input.data;
      checkGroup(group, breakout);
      return change(stored, [
        group === null
          ? { op: 'delete', collection: COLLECTIONS.breakout, field: SHOWN_FIELD }
          : { op: 'set', collection: COLLECTIONS.breakout, field: SHOWN_FIELD, value: String(group) },
      ]);
    },
  },
  'breakout.broadcast': {
    reads: readBreakout,
    plan: (input) => {
      authorize('breakout.broadcast', input.actor, input.control);
      const { stored } = open(input);
      return change(stored, [{ op: 'set', collection: COLLECTIONS.breakout, field: BROADCAST_FIELD, value: STATE_FRAME }]);
    },
  },
  'breakout.close': {
    reads: readBreakout,
    plan: (input) => {
      authorize('breakout.close', input.actor, input.control);
      const { stored } = open(input);
      return change(stored, [{ op: 'clear', collection: COLLECTIONS.breakout }]);
    },
  },
};

/** What a class room's snapshot reads for its breakout. */
export const breakoutQuery = readBreakout;

/** The breakout part of a snapshot. */
export function breakoutSnapshot(state: StateRead): BreakoutState | null {
  return breakoutOf(state).breakout;
}

/**
 * Who may enter and send in a group room, decided on the class room's state on every runtime: the
 * class's own join rule (removed, ended), then the breakout's.
 */
export class GroupAccess {
  constructor(
    private readonly store: RoomStore,
    private readonly presence: PresenceStore,
    private readonly fanout: FanOut,
    private readonly now: () => number,
    private readonly maxFrameBytes: number,
  ) {}

  /** The class room's control and breakout state, for one user's placement. */
  private async classState(classRoom: string, userId: string): Promise<{ control: ControlState; breakout: BreakoutState | null }> {
    const state = await this.store.read(classRoom, {
      [COLLECTIONS.control]: 'all',
      [COLLECTIONS.breakout]: [CONFIG_FIELD, SHOWN_FIELD, PLACEMENT_PREFIX + userId],
    });
    return { control: parseControl(state.collections[COLLECTIONS.control]), breakout: breakoutOf(state).breakout };
  }

  /** Throws `forbidden` when `actor` may not enter the group room (the class's join rule applies first). */
  async checkJoin(actor: Actor, classRoom: string, group: number, classRefusal: (control: ControlState) => string | undefined): Promise<void> {
    const { control, breakout } = await this.classState(classRoom, actor.userId);
    const reason = classRefusal(control) ?? groupJoinRefusal(actor, group, breakout);
    if (reason !== undefined) throw new ProtocolError('forbidden', reason);
  }

  /**
   * Throws `forbidden` when `actor` may not send in the group room now: a student only in the group they
   * are placed in (reading a shown board is not taking part), and not chat while muted in the class.
   */
  async checkSend(actor: Actor, classRoom: string, group: number, event: string): Promise<void> {
    if (actor.role === 'observer') return; // Refused by the event's own rule, which says why.
    const { control, breakout } = await this.classState(classRoom, actor.userId);
    const reason = groupSendRefusal(actor, group, breakout);
    if (reason !== undefined) throw new ProtocolError('forbidden', reason);
    if (mutedInGroupByClass(actor, event, control)) throw new ProtocolError('forbidden', 'you are muted in this class');
  }

  /** `breakout.overview`: who is in each group room now, to the staff member who asked only. */
  async overview(connection: ConnectionState, frame: PublishFrame & { id: string }): Promise<'acked'> {
    const { room, id } = frame;
    inClassRoom(room);
    const state = await this.store.read(room, { [COLLECTIONS.control]: 'all', [COLLECTIONS.breakout]: [CONFIG_FIELD] });
    authorize('breakout.overview', connection, parseControl(state.collections[COLLECTIONS.control]));
    const { breakout } = breakoutOf(state);
    if (breakout === null) throw new ProtocolError('conflict', 'no breakout rooms are open');
    const overview: BreakoutOverview = { groups: [] };
    for (let group = 1; group <= breakout.groups; group++) {
      overview.groups.push({ group, userIds: (await this.presence.list(groupRoom(room, group))).map((member) => member.userId).sort() });
    }
    const body = encodeMessageBody(BREAKOUT_OVERVIEW_EVENT, overview, senderOf(connection));
    checkMessageSize(room, body, this.maxFrameBytes);
    await this.fanout.send(connection.connectionId, encodeAckFrame(id, room));
    await this.fanout.send(connection.connectionId, composePrivateMessageFrame(room, this.now(), body));
    return 'acked';
  }
}
