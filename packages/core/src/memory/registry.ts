import { SLOT_RESERVATION_MS, type ConnectionRecord, type ConnectionRegistry, type ConnectionState } from '../ports.js';

interface Entry extends ConnectionRecord {
  joined: Set<string>;
}

/** A registered connection's slot: it never lapses. */
const REGISTERED = Number.POSITIVE_INFINITY;

/**
 * A registry entry built field by field: a spread (`{ ...record, joined }`) gave every entry a hidden
 * class of its own, about 0.6 KB per connection of maps, descriptors and out-of-object properties
 * (docs/performance.md, idle memory).
 */
function entryOf(record: ConnectionRecord): Entry {
  return {
    connectionId: record.connectionId,
    userId: record.userId,
    name: record.name,
    role: record.role,
    rooms: record.rooms,
    expiresAt: record.expiresAt,
    connectedAt: record.connectedAt,
    node: record.node,
    joined: new Set(),
  };
}

/** In-process connection registry for a single node. */
export class MemoryRegistry implements ConnectionRegistry {
  private readonly connections = new Map<string, Entry>();
  private readonly byRoom = new Map<string, Set<string>>();
  /**
   * user -> connection -> when its slot lapses: never (Infinity) once registered, so it is also the index
   * of each user's connections (a second Set per user cost ~150 B per connection).
   */
  private readonly slots = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  add(record: ConnectionRecord): Promise<void> {
    this.connections.set(record.connectionId, entryOf(record));
    this.slotsOf(record.userId).set(record.connectionId, REGISTERED);
    return Promise.resolve();
  }

  get(connectionId: string): Promise<ConnectionState | undefined> {
    return Promise.resolve(this.connections.get(connectionId));
  }

  remove(connectionId: string): Promise<ConnectionState | undefined> {
    const entry = this.connections.get(connectionId);
    if (entry === undefined) return Promise.resolve(undefined);
    this.connections.delete(connectionId);
    this.releaseSlotNow(entry.userId, connectionId);
    for (const room of entry.joined) removeFrom(this.byRoom, room, connectionId);
    return Promise.resolve(entry);
  }

  setExpiry(connectionId: string, expiresAt: number): Promise<boolean> {
    const entry = this.connections.get(connectionId);
    if (entry !== undefined) entry.expiresAt = expiresAt;
    return Promise.resolve(entry !== undefined);
  }

  joinRoom(connectionId: string, room: string): Promise<void> {
    const entry = this.connections.get(connectionId);
    if (entry !== undefined) {
      entry.joined.add(room);
      addTo(this.byRoom, room, connectionId);
    }
    return Promise.resolve();
  }

  leaveRoom(connectionId: string, room: string): Promise<void> {
    const entry = this.connections.get(connectionId);
    if (entry !== undefined) {
      entry.joined.delete(room);
      removeFrom(this.byRoom, room, connectionId);
    }
    return Promise.resolve();
  }

  members(room: string): Promise<string[]> {
    return Promise.resolve([...(this.byRoom.get(room) ?? [])]);
  }

  connectionsOfUser(userId: string): Promise<ConnectionState[]> {
    const states: ConnectionState[] = [];
    for (const [id, lapsesAt] of this.slots.get(userId) ?? []) {
      const entry = lapsesAt === REGISTERED ? this.connections.get(id) : undefined;
      if (entry !== undefined) states.push(entry);
    }
    return Promise.resolve(states);
  }

  countForUser(userId: string): Promise<number> {
    let count = 0;
    for (const lapsesAt of this.slots.get(userId)?.values() ?? []) if (lapsesAt === REGISTERED) count += 1;
    return Promise.resolve(count);
  }

  reserveSlot(userId: string, connectionId: string, max: number): Promise<boolean> {
    const slots = this.slotsOf(userId);
    const now = this.now();
    for (const [id, lapsesAt] of slots) if (lapsesAt <= now) slots.delete(id);
    if (!slots.has(connectionId)) {
      if (slots.size >= max) return Promise.resolve(false);
      slots.set(connectionId, now + SLOT_RESERVATION_MS);
    }
    return Promise.resolve(true);
  }

  releaseSlot(userId: string, connectionId: string): Promise<void> {
    this.releaseSlotNow(userId, connectionId);
    return Promise.resolve();
  }

  private slotsOf(userId: string): Map<string, number> {
    let slots = this.slots.get(userId);
    if (slots === undefined) {
      slots = new Map();
      this.slots.set(userId, slots);
    }
    return slots;
  }

  private releaseSlotNow(userId: string, connectionId: string): void {
    const slots = this.slots.get(userId);
    slots?.delete(connectionId);
    if (slots?.size === 0) this.slots.delete(userId);
  }

}

export function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

export function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
