import type { Member } from '@classwire/protocol';
import type { PresenceStore } from '../ports.js';

interface PresentUser {
  member: Member;
  connections: Set<string>;
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
      users.set(member.userId, { member: { ...member }, connections: new Set([connectionId]) });
      return Promise.resolve(true);
    }
    present.connections.add(connectionId);
    return Promise.resolve(false);
  }

  remove(room: string, userId: string, connectionId: string): Promise<boolean> {
    const users = this.rooms.get(room);
    const present = users?.get(userId);
    if (users === undefined || present === undefined || !present.connections.delete(connectionId)) {
      return Promise.resolve(false);
    }
    if (present.connections.size > 0) return Promise.resolve(false);
    users.delete(userId);
    if (users.size === 0) this.rooms.delete(room);
    return Promise.resolve(true);
  }

  list(room: string): Promise<Member[]> {
    const users = this.rooms.get(room);
    return Promise.resolve(users === undefined ? [] : [...users.values()].map((u) => ({ ...u.member })));
  }
}
