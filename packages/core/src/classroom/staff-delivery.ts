import { isStaff } from '@classwire/protocol';
import type { ConnectionRegistry, ConnectionState, FanOut, PresenceStore } from '../ports.js';

/** What sending to a room's staff needs: who is present, their connections, and a way to write to them. */
export interface StaffAudience {
  presence: PresenceStore;
  registry: ConnectionRegistry;
  fanout: FanOut;
}

/**
 * Sends `frame` to every connection of the room's staff that is joined to the room (none to students):
 * poll tallies, announcement receipts, live reaction counts.
 */
export async function sendToStaff(audience: StaffAudience, room: string, frame: string): Promise<void> {
  const staff = new Set((await audience.presence.list(room)).filter((m) => isStaff(m.role)).map((m) => m.userId));
  for (const userId of staff) {
    for (const target of await audience.registry.connectionsOfUser(userId)) {
      if (target.joined.has(room)) await audience.fanout.send(target.connectionId, frame);
    }
  }
}

/**
 * One flush per room per window on this node: the first `schedule` for a room opens its window, those
 * inside it ride along, and `flush` runs once when it ends (with the connection that opened it, whose
 * name the resulting frame carries as its sender). Failures are the flush's to report; a lost flush is
 * made good by the next window.
 */
export class RoomWindows {
  private readonly pending = new Set<string>();

  constructor(
    private readonly windowMs: number,
    private readonly flush: (room: string, connection: ConnectionState) => Promise<void>,
  ) {}

  schedule(room: string, connection: ConnectionState): void {
    if (this.pending.has(room)) return;
    this.pending.add(room);
    setTimeout(() => {
      this.pending.delete(room);
      this.flush(room, connection).catch(() => undefined);
    }, this.windowMs).unref?.();
  }
}
