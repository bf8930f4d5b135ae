import {
  ANNOUNCEMENT_RECEIPTS_EVENT,
  ProtocolError,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  isStaff,
  type Actor,
  type AnnounceSeenData,
  type Announcement,
  type AnnouncementReader,
  type MessageFrame,
  type PublishFrame,
} from '@classwire/protocol';
import { senderOf } from '../frames.js';
import { STATE_FRAME, stateField, type ConnectionRegistry, type ConnectionState, type FanOut, type PresenceStore, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import { RoomWindows, sendToStaff } from './staff-delivery.js';
import type { SomeEventHandlers } from './handlers.js';
import { COLLECTIONS, parseControl } from './room-state.js';
import type { RoomStore } from './room-store.js';

/**
 * Announcements with read receipts (docs/classroom.md, "Announcements"). Pinning and unpinning are
 * sequenced like the other staff events. A receipt (`announce.seen`) is not: it is stored once per
 * student, and staff learn the readers from a coalesced `announce.receipts` (every reader so far), at
 * most one per room and coalescing window on each node, never one frame per receipt to every member.
 */

/** The `announcement` collection's one field: the pinning message's frame. */
const PINNED_FIELD = 'a';

const readPinned = (): StateQuery => ({ [COLLECTIONS.announcement]: [PINNED_FIELD] });

function pinnedOf(stored: string | undefined): Announcement | null {
  if (stored === undefined) return null;
  const frame = JSON.parse(stored) as MessageFrame;
  const data = frame.data as { id: string; text: string };
  return { id: data.id, text: data.text, from: frame.from, pinnedAt: frame.ts };
}

export const ANNOUNCEMENT_HANDLERS: SomeEventHandlers<'announce.pin' | 'announce.unpin'> = {
  'announce.pin': {
    reads: readPinned,
    plan: ({ actor, control }) => {
      authorize('announce.pin', actor, control);
      // A new announcement starts with no readers.
      return {
        guards: [],
        ops: [
          { op: 'set', collection: COLLECTIONS.announcement, field: PINNED_FIELD, value: STATE_FRAME },
          { op: 'clear', collection: COLLECTIONS.announceSeen },
        ],
      };
    },
  },
  'announce.unpin': {
    reads: readPinned,
    plan: ({ actor, control, state }) => {
      authorize('announce.unpin', actor, control);
      const stored = stateField(state.collections[COLLECTIONS.announcement], PINNED_FIELD);
      if (stored === undefined) throw new ProtocolError('conflict', 'no announcement is pinned');
      return {
        guards: [{ collection: COLLECTIONS.announcement, field: PINNED_FIELD, value: stored }],
        ops: [
          { op: 'delete', collection: COLLECTIONS.announcement, field: PINNED_FIELD },
          { op: 'clear', collection: COLLECTIONS.announceSeen },
        ],
        guardError: new ProtocolError('conflict', 'the announcement changed meanwhile'),
      };
    },
  },
};

/** `announce.seen`: one receipt per student, then a coalesced update to staff. */
export class AnnouncementReceiptsPath {
  /** Receipts landing within a room's window reach staff as one frame. */
  private readonly windows: RoomWindows;

  constructor(
    private readonly store: RoomStore,
    private readonly registry: ConnectionRegistry,
    private readonly presence: PresenceStore,
    private readonly fanout: FanOut,
    private readonly now: () => number,
    /** The coalescing window, ms. */
    windowMs: number,
  ) {
    this.windows = new RoomWindows(windowMs, (room, connection) => this.flush(room, connection));
  }

  async publish(connection: ConnectionState, frame: PublishFrame & { id: string }, data: AnnounceSeenData): Promise<'acked' | 'duplicate'> {
    const { room, id: publishId } = frame;
    const state = await this.store.read(room, {
      [COLLECTIONS.control]: 'all',
      ...readPinned(),
      [COLLECTIONS.announceSeen]: [connection.userId],
    });
    authorize('announce.seen', connection, parseControl(state.collections[COLLECTIONS.control]));
    const stored = stateField(state.collections[COLLECTIONS.announcement], PINNED_FIELD);
    if (pinnedOf(stored)?.id !== data.id) throw new ProtocolError('not_found', `announcement "${data.id}" is not the one pinned`);
    if (stateField(state.collections[COLLECTIONS.announceSeen], connection.userId) !== undefined) {
      await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
      return 'duplicate';
    }
    const failed = await this.store.updateGuarded(room, {
      // Only while this announcement is the pinned one: a receipt never lands on its successor.
      guards: [{ collection: COLLECTIONS.announcement, field: PINNED_FIELD, value: stored ?? null }],
      ops: [{ op: 'set', collection: COLLECTIONS.announceSeen, field: connection.userId, value: connection.name }],
    });
    if (failed !== undefined) throw new ProtocolError('not_found', `announcement "${data.id}" is not the one pinned`);
    await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
    this.windows.schedule(room, connection);
    return 'acked';
  }

  private async flush(room: string, connection: ConnectionState): Promise<void> {
    const state = await this.store.read(room, { ...readPinned(), [COLLECTIONS.announceSeen]: 'all' });
    const pinned = pinnedOf(stateField(state.collections[COLLECTIONS.announcement], PINNED_FIELD));
    if (pinned === null) return;
    const receipts = { id: pinned.id, seenBy: readersOf(state) };
    const frame = composePrivateMessageFrame(room, this.now(), encodeMessageBody(ANNOUNCEMENT_RECEIPTS_EVENT, receipts, senderOf(connection)));
    await sendToStaff({ presence: this.presence, registry: this.registry, fanout: this.fanout }, room, frame);
  }
}

function readersOf(state: StateRead): AnnouncementReader[] {
  const seen = state.collections[COLLECTIONS.announceSeen] ?? {};
  return Object.keys(seen)
    .sort()
    .map((userId) => ({ userId, name: seen[userId]! }));
}

/** What a snapshot reads for the announcement (and, for staff, its readers). */
export function announcementQuery(viewer: Actor): StateQuery {
  return isStaff(viewer.role) ? { ...readPinned(), [COLLECTIONS.announceSeen]: 'all' } : readPinned();
}

/** The announcement part of a viewer's snapshot. */
export function announcementSnapshot(state: StateRead, viewer: Actor): { announcement: Announcement | null; announcementSeenBy?: AnnouncementReader[] } {
  const announcement = pinnedOf(stateField(state.collections[COLLECTIONS.announcement], PINNED_FIELD));
  return isStaff(viewer.role) ? { announcement, announcementSeenBy: announcement === null ? [] : readersOf(state) } : { announcement };
}
