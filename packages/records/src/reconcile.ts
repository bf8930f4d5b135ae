import type { Broker, PresenceStore } from '@classwire/core';
import { PRESENCE_EVENTS, encodeMessageBody, isRole } from '@classwire/protocol';
import type { RecorderPort } from './recording-thread.js';
import type { RecordsStore } from './store.js';

/** What one presence reconciliation did. */
export interface PresenceReconciliation {
  /** Rooms looked at and brought in line (a leave appended for each member live presence lost). */
  reconciled: number;
  /** `presence.leave` messages appended. */
  leaves: number;
  /** Rooms that failed, in the order they were looked at: to be reconciled again. */
  failed: string[];
}

export interface ReconcileDeps {
  store: Pick<RecordsStore, 'recordedPresence'>;
  recorder: Pick<RecorderPort, 'recordRoom' | 'noteActivity'>;
  broker: Pick<Broker, 'publish'>;
  presence: Pick<PresenceStore, 'list'>;
  logger: { warn(details: object, message: string): void };
  /**
   * A room failed at a step other than its recording (the recorder counts those itself): added where
   * recording failures are counted, so each failure counts once.
   */
  countFailure(room: string): void;
  /** True once the records are closing: no further room is started (the next start reconciles them). */
  stopped?: () => boolean;
}

/**
 * Members the records still count as present but the live presence no longer has (the node, or the
 * whole memory-mode server, stopped without their leave reaching the log) get a `presence.leave`
 * (`disconnected`) appended now, through the log like any other, so no interval stays open forever.
 * Rooms go in the records' order (by room); `only` limits it to those rooms (a retry). A room that fails
 * is logged and reported, and the others go on: one room the database refuses must not leave every
 * later room's members present until the next start.
 */
export async function reconcilePresence(deps: ReconcileDeps, only?: ReadonlySet<string>): Promise<PresenceReconciliation> {
  const result: PresenceReconciliation = { reconciled: 0, leaves: 0, failed: [] };
  const byRoom = new Map<string, { userId: string; name: string; role: string }[]>();
  for (const member of await deps.store.recordedPresence()) {
    if (only !== undefined && !only.has(member.room)) continue;
    const list = byRoom.get(member.room) ?? [];
    list.push(member);
    byRoom.set(member.room, list);
  }
  for (const [room, recorded] of byRoom) {
    if (deps.stopped?.() === true) break;
    try {
      // Recorded up to the log's end first: a leave still waiting there is not appended twice. A
      // failure here is counted by the recorder, which keeps the room in its backlog for a retry.
      await deps.recorder.recordRoom(room);
    } catch (error) {
      deps.logger.warn({ err: error, room }, 'presence reconciliation failed for a room; it is tried again');
      result.failed.push(room);
      continue;
    }
    try {
      const live = new Set((await deps.presence.list(room)).map((member) => member.userId));
      const current = new Set((await deps.store.recordedPresence()).filter((member) => member.room === room).map((member) => member.userId));
      for (const member of recorded) {
        if (live.has(member.userId) || !current.has(member.userId) || !isRole(member.role)) continue;
        const who = { userId: member.userId, name: member.name, role: member.role };
        await deps.broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...who, reason: 'disconnected' }, who));
        result.leaves += 1;
      }
      result.reconciled += 1;
    } catch (error) {
      deps.countFailure(room);
      deps.logger.warn({ err: error, room }, 'presence reconciliation failed for a room; it is tried again');
      result.failed.push(room);
    }
    // What was appended (all of it, or up to the failure) is recorded like any message.
    deps.recorder.noteActivity(room);
  }
  return result;
}
