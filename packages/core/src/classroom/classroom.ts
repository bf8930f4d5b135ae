import {
  CLASSROOM_LIMITS,
  DEFAULT_LIMITS,
  ProtocolError,
  composeEphemeralFrame,
  encodeAckFrame,
  encodeMessageBody,
  isClassroomEvent,
  isEphemeralClassroomEvent,
  isStaff,
  joinRefusal,
  parseGroupRoom,
  parseClassroomData,
  type Actor,
  type ClassroomEvent,
  type ClassroomEventMap,
  type EphemeralClassroomEvent,
  type PublishFrame,
  type Role,
} from '@classwire/protocol';
import { DEFAULTS } from '../config/defaults.js';
import { senderOf } from '../frames.js';
import type { Broker, ConnectionRegistry, ConnectionState, FanOut, PresenceStore, StateRead } from '../ports.js';
import { AppendedEvents } from './appended-events.js';
import { authorize } from './authorize.js';
import { BoardBudget, type BoardRate } from './board-budget.js';
import { KeyedRate } from '../keyed-rate.js';
import { ControlCache } from './control-cache.js';
import { CursorThrottle } from './cursor-throttle.js';
import type { HandlerServices } from './handlers.js';
import { PrivateMessages } from './private-messages.js';
import { PollAnswers, ownAnswersQuery, pollsQuery } from './polls.js';
import { timerQuery } from './timer.js';
import { AnnouncementReceiptsPath, announcementQuery } from './announcements.js';
import { LiveReactions, liveReactionsQuery } from './live-reactions.js';
import { GroupAccess, breakoutQuery } from './breakout.js';
import { RoomStore } from './room-store.js';
import { boardPagesOf, boardPagesQuery } from './board.js';
import { SnapshotCache, snapshotFrames, snapshotQuery, snapshotText } from './snapshot.js';

export interface ClassroomOptions {
  registry: ConnectionRegistry;
  broker: Broker;
  presence: PresenceStore;
  fanout: FanOut;
  now?: () => number;
  /** Largest frame sent, bytes; snapshots are cut into parts that fit. @default 32 KiB */
  maxFrameBytes?: number;
  /** @default CLASSROOM_LIMITS.maxBoardItems */
  maxBoardItems?: number;
  /** Serialized size of the board's items, bytes. @default DEFAULTS.maxBoardBytes (1 MiB) */
  maxBoardBytes?: number;
  /** Serialized size of all board pages together, bytes. @default 4 × maxBoardBytes */
  maxBoardRoomBytes?: number;
  /** Per user, how fast strokes and shapes may be added. @default DEFAULTS.board* (16 KiB/s, burst 64 KiB; 10 items/s, burst 40) */
  boardRate?: BoardRate;
  /** Per user, the stored events other than drawings (chat, hands, controls): sustained per second, and burst. @default DEFAULTS.classEventsPerSecond, DEFAULTS.classEventBurst */
  eventRate?: { perSecond: number; burst: number };
  /** Read receipts landing within this window reach staff as one frame, ms. @default 250 */
  receiptWindowMs?: number;
  /** Live reactions stored within this window reach staff as one frame, ms. @default 250 */
  reactionWindowMs?: number;
}

/** The room-wide board budget, in pages' worth: a late joiner's snapshot carries every page. */
const BOARD_ROOM_PAGES = 4;

const DEFAULT_BOARD_RATE: BoardRate = {
  bytesPerSecond: DEFAULTS.boardBytesPerSecond,
  bytesBurst: DEFAULTS.boardBytesBurst,
  itemsPerSecond: DEFAULTS.boardItemsPerSecond,
  itemsBurst: DEFAULTS.boardItemsBurst,
};

/** Reads a full snapshot may take while pages are being added. */
const SNAPSHOT_READS = 4;

export type ClassroomPublishOutcome = 'acked' | 'duplicate' | 'relayed';

/** Validates and normalises (trims text, rounds coordinates) one event's data; throws bad_request. */
function parseData<E extends ClassroomEvent>(event: E, frame: PublishFrame): ClassroomEventMap[E] {
  const parsed = parseClassroomData(event, frame.data);
  if (!parsed.ok) throw new ProtocolError('bad_request', parsed.message);
  const ephemeral = isEphemeralClassroomEvent(event);
  if (ephemeral !== (frame.ephemeral === true)) {
    throw new ProtocolError('bad_request', `"${event}" must be published ${ephemeral ? 'with' : 'without'} ephemeral: true`);
  }
  return parsed.data;
}

/** The frame parser requires an id on every durable publish; this states it to the type checker. */
function withId(frame: PublishFrame): PublishFrame & { id: string } {
  const { id } = frame;
  if (id === undefined) throw new ProtocolError('bad_request', `"${frame.event}" needs an id`);
  return { ...frame, id };
}

/**
 * The classroom policy on top of generic rooms (docs/classroom.md): dispatches each classroom event to
 * its path (relayed, private, or appended through its handler in `handlers.ts`), checks joins, and builds
 * the snapshot late joiners receive. Runtime neutral: it only uses the ports.
 */
export class Classroom {
  private readonly registry: ConnectionRegistry;
  private readonly presence: PresenceStore;
  private readonly fanout: FanOut;
  private readonly now: () => number;
  private readonly maxFrameBytes: number;
  private readonly store: RoomStore;
  private readonly cursors: CursorThrottle;
  private readonly appended: AppendedEvents;
  private readonly privateMessages: PrivateMessages;
  private readonly pollAnswers: PollAnswers;
  private readonly receipts: AnnouncementReceiptsPath;
  private readonly liveReactions: LiveReactions;
  private readonly groups: GroupAccess;
  private readonly broker: Broker;
  private readonly boardBudget: BoardBudget;
  private readonly eventRate: KeyedRate;
  /** The serialized chat and board of recently joined rooms, shared by every joiner at the same seq. */
  readonly snapshots = new SnapshotCache();

  constructor(options: ClassroomOptions) {
    this.registry = options.registry;
    this.presence = options.presence;
    this.fanout = options.fanout;
    this.now = options.now ?? Date.now;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
    this.broker = options.broker;
    this.store = new RoomStore(options.broker);
    this.cursors = new CursorThrottle(CLASSROOM_LIMITS.cursorsPerSecond, this.now);
    this.boardBudget = new BoardBudget(options.boardRate ?? DEFAULT_BOARD_RATE, this.now);
    const eventRate = options.eventRate ?? { perSecond: DEFAULTS.classEventsPerSecond, burst: DEFAULTS.classEventBurst };
    this.eventRate = new KeyedRate(eventRate.perSecond, eventRate.burst, this.now);
    const maxBoardBytes = options.maxBoardBytes ?? DEFAULTS.maxBoardBytes;
    const services: HandlerServices = {
      maxBoardItems: options.maxBoardItems ?? CLASSROOM_LIMITS.maxBoardItems,
      maxBoardBytes,
      maxBoardRoomBytes: options.maxBoardRoomBytes ?? BOARD_ROOM_PAGES * maxBoardBytes,
      now: this.now,
      readState: (room, query) => this.store.read(room, query),
      roleInRoom: (room, userId) => this.roleInRoom(room, userId),
      studentsIn: async (room) => (await this.presence.list(room)).filter((m) => m.role === 'student').map((m) => m.userId),
      closeRoom: (room, code, reason) => this.closeRoom(room, code, reason),
      closeUser: (room, userId, code, reason) => this.closeUser(room, userId, code, reason),
    };
    this.appended = new AppendedEvents(this.store, new ControlCache(), this.fanout, services, this.maxFrameBytes);
    this.privateMessages = new PrivateMessages(this.store, this.registry, this.presence, this.fanout, this.now);
    this.pollAnswers = new PollAnswers(this.store, this.registry, this.presence, this.fanout, this.now);
    this.receipts = new AnnouncementReceiptsPath(this.store, this.registry, this.presence, this.fanout, this.now, options.receiptWindowMs ?? 250);
    this.liveReactions = new LiveReactions(this.store, this.registry, this.presence, this.fanout, this.now, options.reactionWindowMs ?? 250);
    this.groups = new GroupAccess(this.store, this.presence, this.fanout, this.now, this.maxFrameBytes);
  }
  /** Forgets refilled event-rate buckets (see `Engine.sweep`). */
  sweep(): void {
    this.eventRate.sweep();
  }


  /**
   * Throws `forbidden` when the user may not join: removed from the class, or a student after it ended;
   * a breakout group's room also by the class room's breakout (docs/classroom.md, "Breakout rooms").
   */
  async checkJoin(actor: Actor, room: string): Promise<void> {
    const group = parseGroupRoom(room);
    if (group !== undefined) {
      await this.groups.checkJoin(actor, group.classRoom, group.group, (classControl) => joinRefusal(actor, classControl));
    }
    const reason = joinRefusal(actor, await this.store.readControl(room));
    if (reason !== undefined) throw new ProtocolError('forbidden', reason);
  }

  /** Throws `forbidden` when the sender may not send `event` in this breakout group's room now. */
  async checkGroupSend(connection: ConnectionState, room: string, event: string): Promise<void> {
    const group = parseGroupRoom(room);
    if (group === undefined) return;
    if (event === 'class.start' || event === 'class.end') throw new ProtocolError('forbidden', 'the class is started and ended in its class room');
    await this.groups.checkSend(connection, group.classRoom, group.group, event);
  }

  /** Handles a publish of an event in a classroom namespace; replies (ack) itself, throws ProtocolErrors. */
  async publish(connection: ConnectionState, frame: PublishFrame): Promise<ClassroomPublishOutcome> {
    const { event } = frame;
    if (!isClassroomEvent(event)) throw new ProtocolError('bad_request', `unknown classroom event "${event}"`);
    if (isEphemeralClassroomEvent(event)) return this.relay(connection, frame, event, parseData(event, frame));
    // A stored event reaches every member; drawings have their own budget below (a stroke is a segment
    // every 150 ms, erases are bounded by what was drawn).
    if ((!event.startsWith('wb.') || event.startsWith('wb.page.')) && !this.eventRate.admit(connection.userId)) {
      throw new ProtocolError('rate_limited', `at most ${this.eventRate.perSecond} class events per second after a burst; retry later`);
    }
    if (event === 'chat.private') return this.privateMessages.publish(connection, withId(frame), parseData(event, frame));
    if (event === 'poll.answer') return this.pollAnswers.publish(connection, withId(frame), parseData(event, frame));
    if (event === 'announce.seen') return this.receipts.publish(connection, withId(frame), parseData(event, frame));
    if (event === 'reaction.send') return this.liveReactions.publish(connection, withId(frame), parseData(event, frame));
    if (event === 'breakout.overview') {
      parseData(event, frame);
      return this.groups.overview(connection, withId(frame));
    }
    const appended = withId(frame);
    const data = parseData(event, frame);
    // Stored drawings reach every member: the drawer's rate is bounded before anything is read or stored.
    // Undo and redo cost an item of the drawer's rate too (their bytes were charged when drawn): each
    // reads the page's index or the author's stack, and reaches every member.
    if (event === 'wb.stroke' || event === 'wb.shape' || event === 'wb.text' || event === 'wb.undo' || event === 'wb.redo') {
      this.boardBudget.charge(connection.userId, data);
    }
    return this.appended.publish(connection, appended, event, data);
  }

  /** The snapshot frames for a join, and the seq and epoch they correspond to (see `snapshotText`). */
  async snapshot(connection: ConnectionState, room: string, full: boolean): Promise<{ seq: number; epoch: string; frames: string[] }> {
    const state = await this.readSnapshotState(connection, room, full);
    // A student's own answers are read apart: naming them needs the poll ids, and they are not in the log anyway.
    const own = isStaff(connection.role) ? undefined : await this.store.read(room, ownAnswersQuery(state, connection));
    const text = snapshotText(room, state, connection, full, this.snapshots, own, this.now());
    return { seq: state.seq, epoch: state.epoch, frames: snapshotFrames(room, state.seq, text, this.maxFrameBytes) };
  }

  /**
   * The state a snapshot is built from. A full one reads every page's items, so it needs the pages
   * first: read again when a page was added in between (pages change rarely; a few tries suffice).
   */
  private async readSnapshotState(connection: ConnectionState, room: string, full: boolean): Promise<StateRead> {
    const others = { ...pollsQuery(connection), ...timerQuery(), ...announcementQuery(connection), ...liveReactionsQuery(connection), ...breakoutQuery() };
    let pages = full ? boardPagesOf(await this.store.read(room, boardPagesQuery())) : undefined;
    for (let attempt = 0; attempt < SNAPSHOT_READS; attempt++) {
      const state = await this.store.read(room, { ...snapshotQuery(full, pages), ...others });
      const now = boardPagesOf(state);
      if (pages === undefined || now.pages.every((page) => pages!.pages.includes(page))) return state;
      pages = now;
    }
    throw new ProtocolError('unavailable', 'the board pages kept changing; join again');
  }

  /** Forgets per-connection throttling state. */
  forget(connectionId: string): void {
    this.cursors.forget(connectionId);
  }

  /** Typing indicators and cursors: authorized, relayed to everyone else, never stored. */
  private async relay<E extends EphemeralClassroomEvent>(
    connection: ConnectionState,
    frame: PublishFrame,
    event: E,
    data: ClassroomEventMap[E],
  ): Promise<ClassroomPublishOutcome> {
    const { room, id } = frame;
    if (event === 'wb.cursor' && !this.cursors.admit(connection.connectionId)) {
      // Cursors are a stream: dropping one is harmless, the next one supersedes it.
      if (id !== undefined) throw new ProtocolError('rate_limited', `at most ${this.cursors.perSecond} cursor updates per second`);
      return 'relayed';
    }
    authorize(event, connection, await this.store.readControl(room));
    const body = encodeMessageBody(event, data, senderOf(connection), id);
    await this.broker.broadcast(room, composeEphemeralFrame(room, this.now(), body), { except: connection.connectionId });
    if (id !== undefined) await this.fanout.send(connection.connectionId, encodeAckFrame(id, room));
    return 'relayed';
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
}
