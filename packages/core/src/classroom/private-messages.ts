import {
  CLASSROOM_LIMITS,
  ProtocolError,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  isStaff,
  type Actor,
  type ChatPrivateData,
  type PrivateEntry,
  type PublishFrame,
} from '@classwire/protocol';
import { senderOf, userDedupKey } from '../frames.js';
import { stateField, stateSeqField, type Broker, type ConnectionRegistry, type ConnectionState, type FanOut, type PresenceStore, type StateEffects, type StateOp } from '../ports.js';
import { authorize } from './authorize.js';
import { COLLECTIONS, parseControl } from './room-state.js';
import type { RoomStore } from './room-store.js';

/** Who sees a private message: staff, its author and its recipient. */
export function mayRead(entry: PrivateEntry, viewer: Actor): boolean {
  return isStaff(viewer.role) || entry.from.userId === viewer.userId || entry.to === viewer.userId;
}

/**
 * `chat.private`: kept in the room's state (so a late joiner's snapshot carries the ones they may read)
 * but never in its log, and delivered only to the connections of the people who may read it.
 */
export class PrivateMessages {
  constructor(
    private readonly store: RoomStore,
    private readonly registry: ConnectionRegistry,
    private readonly presence: PresenceStore,
    private readonly fanout: FanOut,
    private readonly now: () => number,
  ) {}

  async publish(connection: ConnectionState, frame: PublishFrame & { id: string }, data: ChatPrivateData): Promise<'acked' | 'duplicate'> {
    const { room, id: publishId } = frame;
    // The permission table refuses this too; it is checked first so that the answer stays bad_request.
    if (isStaff(connection.role) && data.to === undefined) {
      throw new ProtocolError('bad_request', 'a private message from a teacher needs `to`');
    }
    const members = await this.presence.list(room);
    const recipient = data.to === undefined ? undefined : members.find((m) => m.userId === data.to);
    if (data.to !== undefined && recipient === undefined) throw new ProtocolError('not_found', `user "${data.to}" is not in this class`);
    const state = await this.store.read(room, { [COLLECTIONS.control]: 'all', [COLLECTIONS.private]: 'all' });
    authorize('chat.private', connection, parseControl(state.collections[COLLECTIONS.control]), {
      userId: data.to,
      userRole: recipient?.role,
    });
    const entryId = userDedupKey(connection.userId, publishId);
    const stored = Object.values(state.collections[COLLECTIONS.private] ?? {}).some((value) => (JSON.parse(value) as PrivateEntry).id === entryId);
    if (stored) {
      // A retry whose ack was lost: stored and delivered already.
      await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
      return 'duplicate';
    }
    const ts = this.now();
    const entry: PrivateEntry = { id: entryId, ts, from: senderOf(connection), to: data.to ?? null, text: data.text };
    await this.store.update(room, storePrivateOps(entry));
    const message = composePrivateMessageFrame(room, ts, encodeMessageBody('chat.private', entry, entry.from, publishId));
    // Those who may read it (`mayRead`): every staff member here, the author and the recipient.
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
}

/** The state change that stores a private message: into the room's tail (the last 100), counted. */
export function storePrivateOps(entry: PrivateEntry): StateOp[] {
  return [
    { op: 'set', collection: COLLECTIONS.private, field: `${stateSeqField(entry.ts)}:${entry.id}`, value: JSON.stringify(entry), keep: CLASSROOM_LIMITS.privateTail },
    { op: 'add', collection: COLLECTIONS.privateCount, field: 'n', by: 1 },
  ];
}

/** True when a state change stores a private message: the records then copy the room's private tail. */
export function storesPrivateMessage(effects: StateEffects): boolean {
  return effects.ops.some((op) => op.collection === COLLECTIONS.private);
}

/**
 * The private messages a room's state still holds (the last `CLASSROOM_LIMITS.privateTail`), oldest
 * first, with the epoch they belong to: what the class records copy, since these never enter the log.
 */
export async function readPrivateTail(broker: Pick<Broker, 'readState'>, room: string): Promise<PrivateTail> {
  const state = await broker.readState(room, { [COLLECTIONS.private]: 'all', [COLLECTIONS.privateCount]: ['n'] });
  const entries = Object.values(state.collections[COLLECTIONS.private] ?? {}).map((value) => JSON.parse(value) as PrivateEntry);
  entries.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const count = stateField(state.collections[COLLECTIONS.privateCount], 'n');
  return { epoch: state.epoch, entries, stored: count === undefined ? undefined : Number(count) };
}

/** A room's private tail, read at once with how many private messages the epoch has stored in all. */
export interface PrivateTail {
  epoch: string;
  entries: PrivateEntry[];
  /** Undefined for a room whose state predates the count. */
  stored: number | undefined;
}
