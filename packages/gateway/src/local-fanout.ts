import type { DeliveryOptions, FanOut, RoomDelivery } from '@classwire/core';
import { type Connection, DELIVERY } from './connection.js';
import { framePayload, textFrame } from './ws-frame.js';

/**
 * The sockets this node holds: FanOut for the engine (one connection at a time), and the broker's
 * RoomDelivery (a room's frames to its members here). A room frame is encoded to bytes once and the same
 * buffer is written to every member.
 */
export class LocalFanOut implements FanOut, RoomDelivery {
  readonly connections = new Map<string, Connection>();
  private readonly rooms = new Map<string, Set<Connection>>();
  /** Room frames delivered here since the room got its first local member (the ops console's rates). */
  private readonly roomMessages = new Map<string, number>();

  constructor(
    private readonly onDeliveries: (count: number) => void = () => {},
    /** Frames and payload bytes written, counted once per broadcast rather than per member. */
    private readonly onFramesOut: (count: number, bytes: number) => void = () => {},
  ) {}

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Distinct users with a connection on this node (a scan: for metrics scrapes, not hot paths). */
  userCount(): number {
    return new Set(Array.from(this.connections.values(), (connection) => connection.userId)).size;
  }

  /** Members on this node of each room that has any. */
  *roomSizes(): IterableIterator<[string, number]> {
    for (const [room, members] of this.rooms) yield [room, members.size];
  }

  roomMessageCounts(): ReadonlyMap<string, number> {
    return this.roomMessages;
  }

  /** Whether any connection on this node is in the room. */
  hasMembers(room: string): boolean {
    return this.rooms.has(room);
  }

  closeMembers(room: string, code: number, reason: string): void {
    for (const connection of [...(this.rooms.get(room) ?? [])]) connection.close(code, reason);
  }

  send(connectionId: string, frame: string): Promise<boolean> {
    const connection = this.connections.get(connectionId);
    return Promise.resolve(connection !== undefined && connection.send(frame));
  }

  sendMany(connectionId: string, frames: readonly string[]): Promise<boolean> {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return Promise.resolve(false);
    return connection.sendStream(frames);
  }

  /** A frame as text, or already encoded (e.g. straight from a Redis pub/sub payload). */
  deliver(room: string, frame: string | Buffer, options?: DeliveryOptions): void {
    const members = this.rooms.get(room);
    if (members === undefined) return;
    this.roomMessages.set(room, (this.roomMessages.get(room) ?? 0) + 1);
    // Framed once: every member gets the same bytes.
    const wire = textFrame(frame);
    const seq = options?.seq;
    const except = options?.except;
    let delivered = 0;
    let written = 0;
    for (const connection of members) {
      if (connection.id === except) continue;
      const outcome = connection.deliver(room, wire, seq);
      if (outcome !== DELIVERY.dropped) delivered += 1;
      if (outcome === DELIVERY.written) written += 1;
    }
    this.onDeliveries(delivered);
    if (written > 0) this.onFramesOut(written, written * framePayload(wire).length);
  }

  subscribe(connectionId: string, room: string, held: boolean): Promise<void> {
    const connection = this.connections.get(connectionId);
    if (connection !== undefined) {
      connection.subscribe(room, held);
      let members = this.rooms.get(room);
      if (members === undefined) {
        members = new Set();
        this.rooms.set(room, members);
      }
      members.add(connection);
    }
    return Promise.resolve();
  }

  release(connectionId: string, room: string, seq: number): Promise<void> {
    this.connections.get(connectionId)?.release(room, seq);
    return Promise.resolve();
  }

  unsubscribe(connectionId: string, room: string): Promise<void> {
    const connection = this.connections.get(connectionId);
    const members = this.rooms.get(room);
    if (members !== undefined) {
      for (const member of members) {
        if (member.id === connectionId) members.delete(member);
      }
      if (members.size === 0) {
        this.rooms.delete(room);
        this.roomMessages.delete(room);
      }
    }
    connection?.unsubscribe(room);
    return Promise.resolve();
  }

  close(connectionId: string, code: number, reason: string): Promise<void> {
    this.connections.get(connectionId)?.close(code, reason);
    return Promise.resolve();
  }
}
