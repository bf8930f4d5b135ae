import type { Member } from '@classwire/protocol';
import type { PresenceStore } from '../ports.js';

interface PresentUser {
  member: Member;
  /**
   * The user's connections in the room: one id while there is one (nearly always), a Set from the
   * second on. A Set per user and room cost ~0.25 KB per idle connection (docs/performance.md).
   */
  connections: string | Set<string>;
}

/** In-process presence: per room, per user, the set of that user's connections. */
export class MemoryPresence implements PresenceStore {
  private readonly rooms = new Map<string, Map<string, PresentUser>>();

  add(room: string, member: Member, connectionId: string): Promise<boolean> {
    let users = this.rooms.get(room);
    if (users === undefined) {
      users = new Map();
      this.rooms.set(room, users);
    }
    const present = users.get(member.userId);
    if (present === undefined) {
      users.set(member.userId, { member: { ...member }, connections: connectionId });
      return Promise.resolve(true);
    }
    if (typeof present.connections === 'string') {
      if (present.connections !== connectionId) present.connections = new Set([present.connections, connectionId]);
    } else present.connections.add(connectionId);
    return Promise.resolve(false);
  }

  remove(room: string, userId: string, connectionId: string): Promise<boolean> {
    const users = this.rooms.get(room);
    const present = users?.get(userId);
    if (users === undefined || present === undefined) return Promise.resolve(false);
    const connections = present.connections;
    if (typeof connections === 'string') {
      if (connections !== connectionId) return Promise.resolve(false);
    } else {
      if (!connections.delete(connectionId)) return Promise.resolve(false);
      if (connections.size > 0) {
        // Back to one connection: its id alone again.
        if (connections.size === 1) present.connections = connections.values().next().value!;
        return Promise.resolve(false);
      }
    }
    users.delete(userId);
    if (users.size === 0) this.rooms.delete(room);
    return Promise.resolve(true);
  }

  list(room: string): Promise<Member[]> {
    const users = this.rooms.get(room);
    return Promise.resolve(users === undefined ? [] : [...users.values()].map((u) => ({ ...u.member })));
  }
}
