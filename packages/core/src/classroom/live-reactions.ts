import {
  LIVE_REACTION_COUNTS_EVENT,
  REACTION_LIMITS,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  isStaff,
  type Actor,
  type LiveReactionCounts,
  type LiveReactionData,
  type LiveReactionKind,
  type PublishFrame,
} from '@classwire/protocol';
import { senderOf } from '../frames.js';
import { stateField, type ConnectionRegistry, type ConnectionState, type FanOut, type PresenceStore, type StateOp, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import { RoomWindows, sendToStaff } from './staff-delivery.js';
import { COLLECTIONS, parseControl } from './room-state.js';
import type { RoomStore } from './room-store.js';

/**
 * Live reactions (docs/classroom.md, "Reactions"): `reaction.send` is neither sequenced nor relayed. A
 * student's reaction is stored once per kind in the room state (`<kind>|<user id>` → server time) and
 * counts for `windowMs`; a repeat inside the window is acknowledged and changes nothing, so a student
 * costs at most one write per kind and window. Staff learn the counts from `reaction.counts`: the
 * first reaction stored in a room opens a coalescing window on that node, whose end reads every
 * reaction still counting (all nodes' alike, since they share the state) and sends them to the staff's
 * connections once. A class of any size costs each node at most one read and one frame per staff
 * connection per coalescing window; the counts fade on the staff's screens from the times they carry.
 */
export class LiveReactions {
  /** Reactions stored within a room's coalescing window reach staff as one frame. */
  private readonly windows: RoomWindows;

  constructor(
    private readonly store: RoomStore,
    private readonly registry: ConnectionRegistry,
    private readonly presence: PresenceStore,
    private readonly fanout: FanOut,
    private readonly now: () => number,
    /** The coalescing window, ms. */
    coalesceMs: number,
    /** How long a reaction counts, ms. */
    private readonly windowMs: number = REACTION_LIMITS.liveWindowMs,
  ) {
    this.windows = new RoomWindows(coalesceMs, (room, connection) => this.flush(room, connection));
  }

  async publish(connection: ConnectionState, frame: PublishFrame & { id: string }, data: LiveReactionData): Promise<'acked' | 'duplicate'> {
    const { room, id: publishId } = frame;
    const field = liveField(data.kind, connection.userId);
    const state = await this.store.read(room, { [COLLECTIONS.control]: 'all', [COLLECTIONS.liveReactions]: [field] });
    authorize('reaction.send', connection, parseControl(state.collections[COLLECTIONS.control]));
    const stored = stateField(state.collections[COLLECTIONS.liveReactions], field);
    const now = this.now();
    if (stored !== undefined && now - Number(stored) < this.windowMs) {
      await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
      return 'duplicate';
    }
    // Guarded on what was read: the same student's other tab pressing at once stores one reaction.
    const failed = await this.store.updateGuarded(room, {
      guards: [{ collection: COLLECTIONS.liveReactions, field, value: stored ?? null }],
      ops: [{ op: 'set', collection: COLLECTIONS.liveReactions, field, value: String(now) }],
    });
    await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
    if (failed !== undefined) return 'duplicate';
    this.windows.schedule(room, connection);
    return 'acked';
  }

  private async flush(room: string, connection: ConnectionState): Promise<void> {
    const state = await this.store.read(room, { [COLLECTIONS.liveReactions]: 'all' });
    const now = this.now();
    const counts = countsOf(state, now, this.windowMs);
    // Reactions out of their window are forgotten here, so the collection holds at most kinds × students.
    const expired: StateOp[] = counts.expired.map((field) => ({ op: 'delete', collection: COLLECTIONS.liveReactions, field }));
    if (expired.length > 0) await this.store.update(room, expired);
    const frame = composePrivateMessageFrame(room, now, encodeMessageBody(LIVE_REACTION_COUNTS_EVENT, counts.live, senderOf(connection)));
    await sendToStaff({ presence: this.presence, registry: this.registry, fanout: this.fanout }, room, frame);
  }
}

function liveField(kind: LiveReactionKind, userId: string): string {
  return `${kind}|${userId}`;
}

/** The reactions still counting at `now` (newest first per kind), and the fields of those that no longer do. */
function countsOf(state: StateRead, now: number, windowMs: number): { live: LiveReactionCounts; expired: string[] } {
  const fields = state.collections[COLLECTIONS.liveReactions] ?? {};
  const sentAt: Partial<Record<LiveReactionKind, number[]>> = {};
  const expired: string[] = [];
  for (const field of Object.keys(fields)) {
    const at = Number(fields[field]);
    const kind = field.slice(0, field.indexOf('|')) as LiveReactionKind;
    if (!(now - at < windowMs)) {
      expired.push(field);
      continue;
    }
    (sentAt[kind] ??= []).push(at);
  }
  for (const times of Object.values(sentAt)) times.sort((a, b) => b - a);
  return { live: { at: now, windowMs, sentAt }, expired };
}

/** What a snapshot reads for the live reactions: staff only. */
export function liveReactionsQuery(viewer: Actor): StateQuery {
  return isStaff(viewer.role) ? { [COLLECTIONS.liveReactions]: 'all' } : {};
}

/** The live reactions part of a staff member's snapshot. */
export function liveReactionsSnapshot(state: StateRead, viewer: Actor, now: number | undefined): { liveReactions?: LiveReactionCounts } {
  if (!isStaff(viewer.role) || now === undefined) return {};
  return { liveReactions: countsOf(state, now, REACTION_LIMITS.liveWindowMs).live };
}
