import {
  CLASSROOM_LIMITS,
  CLOSE_CODES,
  DEFAULT_LIMITS,
  EPHEMERAL_CLASSROOM_EVENTS,
  ProtocolError,
  composeEphemeralFrame,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  encodeSnapshotFrame,
  isClassroomEvent,
  parseClassroomData,
  utf8Length,
  type BoardEntry,
  type ChatEntry,
  type ClassroomEvent,
  type ClassroomEventMap,
  type ClassroomSnapshot,
  type MessageFrame,
  type PrivateEntry,
  type PublishFrame,
  type RaisedHand,
  type Role,
} from '@classwire/protocol';
import { checkMessageSize, senderOf, userDedupKey } from '../frames.js';
import {
  STATE_FRAME,
  STATE_SEQ,
  stateSeqField,
  type ConnectionRegistry,
  type ConnectionState,
  type FanOut,
  type PresenceStore,
  type RoomLog,
  type StateGuard,
  type StateOp,
  type StateQuery,
  type StateRead,
} from '../ports.js';
import { EMPTY_CONTROL, isStaff, joinRefusal, refusal, type Actor, type ControlState, type Target } from './permissions.js';

/** The state collections of a classroom (see docs/classroom.md). */
export const COLLECTIONS = {
  control: 'control',
  hands: 'hands',
  chat: 'chat',
  board: 'board',
  private: 'private',
} as const;

export interface ClassroomOptions {
  registry: ConnectionRegistry;
  roomLog: RoomLog;
  presence: PresenceStore;
  fanout: FanOut;
  now?: () => number;
  /** Largest frame sent, bytes; snapshots are cut into parts that fit. @default 32 KiB */
  maxFrameBytes?: number;
  /** @default CLASSROOM_LIMITS.maxBoardItems */
  maxBoardItems?: number;
}

export type ClassroomPublishOutcome = 'acked' | 'duplicate' | 'relayed';

/** A decision taken against one read of the state: what to guard, what to change, what to do after. */
interface Plan {
  guards: StateGuard[];
  ops: StateOp[];
  /** Why a guard after the version guard failed. */
  guardError?: ProtocolError;
  after?: () => Promise<void>;
}

/** How often a decision is retaken when control events keep landing in between. */
const MAX_ATTEMPTS = 8;
/** Rooms whose control state is remembered; past this many the memory starts over. */
const MAX_REMEMBERED_CONTROLS = 10_000;
/** The state planEvent gets when only the control state was needed (and it was remembered). */
const NO_STATE: StateRead = { epoch: '', seq: 0, collections: {}, counts: {} };
/** Room and framing overhead of a snapshot part around its `data` string. */
const SNAPSHOT_PART_OVERHEAD = 256;
const VERSION = 'v';

/**
 * The classroom policy on top of generic rooms: validates the classroom events, authorizes each against
 * the room's state at the moment it is sequenced, keeps that state next to the room log, and builds the
 * snapshot late joiners receive. Runtime neutral: it only uses the ports.
 */
export class Classroom {
  private readonly registry: ConnectionRegistry;
  private readonly roomLog: RoomLog;
  private readonly presence: PresenceStore;
  private readonly fanout: FanOut;
  private readonly now: () => number;
  private readonly maxFrameBytes: number;
  private readonly maxBoardItems: number;
  private readonly minCursorIntervalMs = 1000 / CLASSROOM_LIMITS.cursorsPerSecond;
  private readonly lastCursor = new Map<string, number>();
  /**
   * The control state last read per room. A decision taken on it is appended under its version guard, so
   * a stale one costs a retry, never a wrong acceptance; a refusal is confirmed on a fresh read.
   */
  private readonly controls = new Map<string, ControlState>();

  constructor(options: ClassroomOptions) {
    this.registry = options.registry;
    this.roomLog = options.roomLog;
    this.presence = options.presence;
    this.fanout = options.fanout;
    this.now = options.now ?? Date.now;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
    this.maxBoardItems = options.maxBoardItems ?? CLASSROOM_LIMITS.maxBoardItems;
  }

  /** Throws `forbidden` when the user may not join: removed from the class, or a student after it ended. */
  async checkJoin(actor: Actor, room: string): Promise<void> {
    const control = await this.readControl(room);
    const reason = joinRefusal(actor, control);
    if (reason !== undefined) throw new ProtocolError('forbidden', reason);
  }

  /** Handles a publish of an event in a classroom namespace; replies (ack) itself, throws ProtocolErrors. */
  async publish(connection: ConnectionState, frame: PublishFrame): Promise<ClassroomPublishOutcome> {
    const { event } = frame;
    if (!isClassroomEvent(event)) throw new ProtocolError('bad_request', `unknown classroom event "${event}"`);
    const parsed = parseClassroomData(event, frame.data);
    if (!parsed.ok) throw new ProtocolError('bad_request', parsed.message);
    const ephemeral = EPHEMERAL_CLASSROOM_EVENTS.has(event);
    if (ephemeral !== (frame.ephemeral === true)) {
      throw new ProtocolError('bad_request', `"${event}" must be published ${ephemeral ? 'with' : 'without'} ephemeral: true`);
    }
    if (ephemeral) return this.relay(connection, frame, event, parsed.data);
    if (event === 'chat.private') return this.privateMessage(connection, frame, parsed.data as ClassroomEventMap['chat.private']);
    return this.append(connection, frame, event, parsed.data);
  }

  /**
   * The snapshot frames for a join, and the seq and epoch they correspond to. A full snapshot (first join,
   * or history not recovered) carries chat and board; a resumed join only the control state and private
   * messages, since the replayed messages carry the rest.
   */
  async snapshot(connection: ConnectionState, room: string, full: boolean): Promise<{ seq: number; epoch: string; frames: string[] }> {
    const query: StateQuery = { [COLLECTIONS.control]: 'all', [COLLECTIONS.hands]: 'all', [COLLECTIONS.private]: 'all' };
    if (full) {
      query[COLLECTIONS.chat] = 'all';
      query[COLLECTIONS.board] = 'all';
    }
    const state = await this.roomLog.readState(room, query);
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
        .filter((entry) => isStaff(connection.role) || entry.from.userId === connection.userId || entry.to === connection.userId),
    };
    if (full) {
      snapshot.chat = sortedValues(state.collections[COLLECTIONS.chat]).map(chatEntryOf);
      snapshot.whiteboard = Object.values(state.collections[COLLECTIONS.board] ?? {})
        .map(boardEntryOf)
        .sort((a, b) => a.seq - b.seq);
    }
    return { seq: state.seq, epoch: state.epoch, frames: this.snapshotFrames(room, state.seq, JSON.stringify(snapshot)) };
  }

  /** Forgets per-connection throttling state. */
  forget(connectionId: string): void {
    this.lastCursor.delete(connectionId);
  }

  private async relay(
    connection: ConnectionState,
    frame: PublishFrame,
    event: ClassroomEvent,
    data: unknown,
  ): Promise<ClassroomPublishOutcome> {
    const { room, id } = frame;
    if (event === 'wb.cursor') {
      const now = this.now();
      const last = this.lastCursor.get(connection.connectionId);
      if (last !== undefined && now - last < this.minCursorIntervalMs) {
        // Cursors are a stream: dropping one is harmless, the next one supersedes it.
        if (id !== undefined) throw new ProtocolError('rate_limited', `at most ${CLASSROOM_LIMITS.cursorsPerSecond} cursor updates per second`);
        return 'relayed';
      }
      this.lastCursor.set(connection.connectionId, now);
    }
    const control = await this.readControl(room);
    this.authorize(event, connection, control);
    const body = encodeMessageBody(event, data, senderOf(connection), id);
    await this.fanout.broadcast(room, composeEphemeralFrame(room, this.now(), body), { except: connection.connectionId });
    if (id !== undefined) await this.fanout.send(connection.connectionId, encodeAckFrame(id, room));
    return 'relayed';
  }

  private async append(
    connection: ConnectionState,
    frame: PublishFrame,
    event: ClassroomEvent,
    data: unknown,
  ): Promise<ClassroomPublishOutcome> {
    const { room } = frame;
    // The parser requires an id on every durable publish.
    const id = frame.id as string;
    const body = encodeMessageBody(event, data, senderOf(connection), id);
    checkMessageSize(room, body, this.maxFrameBytes);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // After a stale guard the remembered control state is not used again.
      const { control, plan } = await this.plan(connection, room, event, data, attempt === 0);
      const versionGuard: StateGuard = { collection: COLLECTIONS.control, field: VERSION, value: control.version };
      const result = await this.roomLog.append(room, body, userDedupKey(connection.userId, id), {
        guards: [versionGuard, ...plan.guards],
        ops: plan.ops,
      });
      // The control state changed between the read and the append: decide again on the new state.
      if (result.staleGuard === 0) continue;
      if (result.staleGuard !== undefined) throw plan.guardError ?? new ProtocolError('conflict', 'the room state changed');
      if (result.conflict) throw new ProtocolError('conflict', 'this id was already used for a different message');
      if (!result.duplicate) await this.fanout.broadcast(room, result.frame, { seq: result.seq });
      // Acked before the effects, which may close the sender's own socket (class.end).
      await this.fanout.send(connection.connectionId, encodeAckFrame(id, room, result.seq));
      if (!result.duplicate) await plan.after?.();
      return result.duplicate ? 'duplicate' : 'acked';
    }
    throw new ProtocolError('unavailable', 'the class settings kept changing; retry with the same id');
  }

  /**
   * Reads what the event's rule needs, checks it, and plans the state change. An event whose rule needs
   * only the control state may be decided on the one remembered for the room (`remembered`): the append's
   * version guard catches a stale one, and a refusal is taken again on a fresh read.
   */
  private async plan(
    connection: ConnectionState,
    room: string,
    event: ClassroomEvent,
    data: unknown,
    remembered: boolean,
  ): Promise<{ control: ControlState; plan: Plan }> {
    const query: StateQuery = { [COLLECTIONS.control]: 'all' };
    if (event === 'chat.edit' || event === 'chat.delete') {
      query[COLLECTIONS.chat] = [stateSeqField((data as { seq: number }).seq)];
    } else if (event === 'wb.erase') {
      query[COLLECTIONS.board] = [(data as { id: string }).id];
    } else if (event === 'wb.stroke' || event === 'wb.shape') {
      query[COLLECTIONS.board] = 'count';
    }
    const known = remembered && Object.keys(query).length === 1 ? this.controls.get(room) : undefined;
    if (known !== undefined) {
      try {
        return { control: known, plan: await this.planEvent(connection, room, event, data, known, NO_STATE) };
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }
    const state = await this.roomLog.readState(room, query);
    const control = parseControl(state.collections[COLLECTIONS.control]);
    this.remember(room, control);
    const plan = await this.planEvent(connection, room, event, data, control, state);
    return { control, plan };
  }

  private remember(room: string, control: ControlState): void {
    if (this.controls.size >= MAX_REMEMBERED_CONTROLS && !this.controls.has(room)) this.controls.clear();
    this.controls.set(room, control);
  }

  private async planEvent(
    connection: ConnectionState,
    room: string,
    event: ClassroomEvent,
    data: unknown,
    control: ControlState,
    state: StateRead,
  ): Promise<Plan> {
    const actor: Actor = connection;
    const controlChange = (ops: StateOp[]): StateOp[] => [
      ...ops,
      { op: 'set', collection: COLLECTIONS.control, field: VERSION, value: STATE_SEQ },
    ];
    switch (event) {
      case 'chat.message':
        this.authorize(event, actor, control);
        return {
          guards: [],
          ops: [{ op: 'set', collection: COLLECTIONS.chat, field: STATE_SEQ, value: STATE_FRAME, keep: CLASSROOM_LIMITS.chatTail }],
        };
      case 'chat.edit':
      case 'chat.delete': {
        const { seq } = data as { seq: number };
        const field = stateSeqField(seq);
        const stored = state.collections[COLLECTIONS.chat]?.[field];
        if (stored === undefined) throw new ProtocolError('not_found', `no chat message with seq ${seq} in the recent chat`);
        const original = JSON.parse(stored) as MessageFrame & { edited?: boolean };
        this.authorize(event, actor, control, { authorId: original.from.userId });
        if (event === 'chat.delete') return { guards: [], ops: [{ op: 'delete', collection: COLLECTIONS.chat, field }] };
        const edited = JSON.stringify({ ...original, data: { text: (data as { text: string }).text }, edited: true });
        return { guards: [], ops: [{ op: 'set', collection: COLLECTIONS.chat, field, value: edited, onlyIfPresent: true }] };
      }
      case 'hand.raise':
        this.authorize(event, actor, control);
        return { guards: [], ops: [{ op: 'set', collection: COLLECTIONS.hands, field: actor.userId, value: STATE_FRAME }] };
      case 'hand.lower': {
        const target = (data as { userId?: string }).userId ?? actor.userId;
        this.authorize(event, actor, control, { userId: target });
        return { guards: [], ops: [{ op: 'delete', collection: COLLECTIONS.hands, field: target }] };
      }
      case 'hand.clear':
        this.authorize(event, actor, control);
        return { guards: [], ops: [{ op: 'clear', collection: COLLECTIONS.hands }] };
      case 'wb.stroke':
      case 'wb.shape': {
        this.authorize(event, actor, control);
        if ((state.counts[COLLECTIONS.board] ?? 0) >= this.maxBoardItems) {
          throw new ProtocolError('payload_too_large', `the whiteboard holds ${this.maxBoardItems} items; erase some or clear it`);
        }
        const { id } = data as { id: string };
        return {
          guards: [{ collection: COLLECTIONS.board, field: id, value: null }],
          ops: [{ op: 'set', collection: COLLECTIONS.board, field: id, value: STATE_FRAME }],
          guardError: new ProtocolError('conflict', `the whiteboard already has an item "${id}"`),
        };
      }
      case 'wb.erase': {
        const { id } = data as { id: string };
        const stored = state.collections[COLLECTIONS.board]?.[id];
        if (stored === undefined) throw new ProtocolError('not_found', `no whiteboard item "${id}"`);
        this.authorize(event, actor, control, { authorId: (JSON.parse(stored) as MessageFrame).from.userId });
        return { guards: [], ops: [{ op: 'delete', collection: COLLECTIONS.board, field: id }] };
      }
      case 'wb.clear':
        this.authorize(event, actor, control);
        return { guards: [], ops: [{ op: 'clear', collection: COLLECTIONS.board }] };
      case 'class.settings': {
        this.authorize(event, actor, control);
        const settings = data as ClassroomEventMap['class.settings'];
        const ops: StateOp[] = [];
        for (const key of ['chatLocked', 'whiteboardLocked'] as const) {
          const value = settings[key];
          if (value !== undefined) ops.push({ op: 'set', collection: COLLECTIONS.control, field: key, value: value ? '1' : '0' });
        }
        return { guards: [], ops: controlChange(ops) };
      }
      case 'class.start':
      case 'class.end': {
        this.authorize(event, actor, control);
        const status = event === 'class.start' ? 'live' : 'ended';
        const plan: Plan = { guards: [], ops: controlChange([{ op: 'set', collection: COLLECTIONS.control, field: 'status', value: status }]) };
        if (event === 'class.end') plan.after = () => this.closeRoom(room, CLOSE_CODES.classEnded, 'the class has ended');
        return plan;
      }
      case 'moderation.mute':
      case 'moderation.grant': {
        const { userId } = data as { userId: string };
        this.authorize(event, actor, control, { userId, userRole: await this.roleInRoom(room, userId) });
        const on = event === 'moderation.mute' ? (data as { muted: boolean }).muted : (data as { granted: boolean }).granted;
        const field = `${event === 'moderation.mute' ? 'muted' : 'granted'}:${userId}`;
        const op: StateOp = on
          ? { op: 'set', collection: COLLECTIONS.control, field, value: '1' }
          : { op: 'delete', collection: COLLECTIONS.control, field };
        return { guards: [], ops: controlChange([op]) };
      }
      case 'moderation.remove': {
        const { userId } = data as { userId: string };
        const userRole = await this.roleInRoom(room, userId);
        // Only someone in the class can be removed: a typo must not bar a user (or a teacher) for good.
        if (userRole === undefined) throw new ProtocolError('not_found', `user "${userId}" is not in this class`);
        this.authorize(event, actor, control, { userId, userRole });
        return {
          guards: [],
          ops: controlChange([
            { op: 'set', collection: COLLECTIONS.control, field: `removed:${userId}`, value: '1' },
            { op: 'delete', collection: COLLECTIONS.hands, field: userId },
          ]),
          after: () => this.closeUser(room, userId, CLOSE_CODES.removed, 'removed from the class by a teacher'),
        };
      }
      case 'chat.private':
      case 'chat.typing':
      case 'wb.cursor':
        throw new Error(`${event} is not appended`);
    }
  }

  private async privateMessage(
    connection: ConnectionState,
    frame: PublishFrame,
    data: ClassroomEventMap['chat.private'],
  ): Promise<ClassroomPublishOutcome> {
    const { room } = frame;
    const publishId = frame.id as string;
    if (isStaff(connection.role) && data.to === undefined) {
      throw new ProtocolError('bad_request', 'a private message from a teacher needs `to`');
    }
    const members = await this.presence.list(room);
    const recipient = data.to === undefined ? undefined : members.find((m) => m.userId === data.to);
    if (data.to !== undefined && recipient === undefined) throw new ProtocolError('not_found', `user "${data.to}" is not in this class`);
    const state = await this.roomLog.readState(room, { [COLLECTIONS.control]: 'all', [COLLECTIONS.private]: 'all' });
    this.authorize('chat.private', connection, parseControl(state.collections[COLLECTIONS.control]), {
      userId: data.to,
      userRole: recipient?.role,
    });
    const entryId = userDedupKey(connection.userId, publishId);
    const stored = Object.values(state.collections[COLLECTIONS.private] ?? {}).find(
      (value) => (JSON.parse(value) as PrivateEntry).id === entryId,
    );
    if (stored !== undefined) {
      // A retry whose ack was lost: stored and delivered already.
      await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
      return 'duplicate';
    }
    const ts = this.now();
    const entry: PrivateEntry = { id: entryId, ts, from: senderOf(connection), to: data.to ?? null, text: data.text };
    await this.roomLog.updateState(room, {
      ops: [
        {
          op: 'set',
          collection: COLLECTIONS.private,
          field: `${stateSeqField(ts)}:${entryId}`,
          value: JSON.stringify(entry),
          keep: CLASSROOM_LIMITS.privateTail,
        },
      ],
    });
    const message = composePrivateMessageFrame(room, ts, encodeMessageBody('chat.private', entry, entry.from, publishId));
    const audience = new Set(members.filter((m) => isStaff(m.role)).map((m) => m.userId));
    audience.add(connection.userId);
    if (data.to !== undefined) audience.add(data.to);
    for (const userId of audience) {
      for (const target of await this.registry.connectionsOfUser(userId)) {
        if (target.joined.has(room)) await this.fanout.send(target.connectionId, message);
      }
    }
    await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
    return 'acked';
  }

  private authorize(event: ClassroomEvent, actor: Actor, control: ControlState, target?: Target): void {
    const reason = refusal(event, actor, control, target);
    if (reason !== undefined) throw new ProtocolError('forbidden', reason);
  }

  private async readControl(room: string): Promise<ControlState> {
    const state = await this.roomLog.readState(room, { [COLLECTIONS.control]: 'all' });
    return parseControl(state.collections[COLLECTIONS.control]);
  }

  private async roleInRoom(room: string, userId: string): Promise<Role | undefined> {
    return (await this.presence.list(room)).find((m) => m.userId === userId)?.role;
  }

  private async closeRoom(room: string, code: number, reason: string): Promise<void> {
    for (const connectionId of await this.registry.members(room)) await this.fanout.close(connectionId, code, reason);
  }

  private async closeUser(room: string, userId: string, code: number, reason: string): Promise<void> {
    for (const target of await this.registry.connectionsOfUser(userId)) {
      if (target.joined.has(room)) await this.fanout.close(target.connectionId, code, reason);
    }
  }

  /** Cuts the snapshot's JSON text into `snapshot` frames that each fit in a frame. */
  private snapshotFrames(room: string, seq: number, text: string): string[] {
    const budget = this.maxFrameBytes - SNAPSHOT_PART_OVERHEAD - utf8Length(JSON.stringify(room));
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
}

/** Reads the control collection: fields `status`, `chatLocked`, `whiteboardLocked`, `v`, and per-user flags. */
export function parseControl(fields: Record<string, string> | undefined): ControlState {
  if (fields === undefined || Object.keys(fields).length === 0) return EMPTY_CONTROL;
  const muted = new Set<string>();
  const granted = new Set<string>();
  const removed = new Set<string>();
  for (const field of Object.keys(fields)) {
    const colon = field.indexOf(':');
    if (colon < 0) continue;
    const kind = field.slice(0, colon);
    const userId = field.slice(colon + 1);
    if (kind === 'muted') muted.add(userId);
    else if (kind === 'granted') granted.add(userId);
    else if (kind === 'removed') removed.add(userId);
  }
  const status = fields.status;
  return {
    version: fields[VERSION] ?? null,
    status: status === 'live' || status === 'ended' ? status : 'waiting',
    settings: { chatLocked: fields.chatLocked === '1', whiteboardLocked: fields.whiteboardLocked === '1' },
    muted,
    granted,
    removed,
  };
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
