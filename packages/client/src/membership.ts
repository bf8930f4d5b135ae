import { ERROR_CODES, type ClientFrame, type ErrorCode, type JoinedFrame, type LeftFrame } from '@classwire/protocol/wire';
import type { Link } from './connection.js';
import type { ClasswireError } from './errors.js';
import type { AnyRoom } from './room.js';

export interface MembershipHost {
  /** The open socket, or undefined while offline. */
  link(): Link | undefined;
  nextId(kind: string): string;
  /** The wait before joining again after a retryable refusal. */
  retryDelay(): number;
  /** A join was refused for good: whatever waits for the room fails with the same error. */
  failed(room: AnyRoom, error: ClasswireError): void;
}

/**
 * The rooms this client is in, and its join and leave requests: joins (resuming from each room's last
 * delivered seq) after every reconnect, matches `joined` and `left` replies to their requests, and retries
 * or fails refused joins.
 */
export class Membership {
  private readonly rooms = new Map<string, AnyRoom>();
  private readonly joinRequests = new Map<string, AnyRoom>();
  private readonly leaveRequests = new Map<string, () => void>();

  constructor(private readonly host: MembershipHost) {}

  get(roomId: string): AnyRoom | undefined {
    return this.rooms.get(roomId);
  }

  /** Adds a room and joins it if the connection is open (otherwise `rejoinAll` will). */
  add(room: AnyRoom): void {
    this.rooms.set(room.id, room);
    this.sendJoin(room);
  }

  /** The connection (re)opened: join every room again, resuming where each left off. */
  rejoinAll(): void {
    for (const room of this.rooms.values()) if (room.state !== 'failed' && room.state !== 'left') this.sendJoin(room);
  }

  sendJoin(room: AnyRoom): void {
    const link = this.host.link();
    if (link === undefined) return;
    const id = this.host.nextId('j');
    this.joinRequests.set(id, room);
    room.resuming = true;
    const frame: ClientFrame = { action: 'join', room: room.id, id };
    if (room.lastSeq !== undefined && room.epoch !== undefined) {
      frame.since = room.lastSeq;
      frame.epoch = room.epoch;
    }
    link.send(JSON.stringify(frame));
  }

  /** The room a `joined` answers, or undefined when it answers a room since left or joined anew. */
  joined(frame: JoinedFrame): AnyRoom | undefined {
    const room = (frame.id !== undefined ? this.joinRequests.get(frame.id) : undefined) ?? this.rooms.get(frame.room);
    if (frame.id !== undefined) this.joinRequests.delete(frame.id);
    return room !== undefined && room === this.rooms.get(frame.room) ? room : undefined;
  }

  /** Whether `id` was a join request; if so it is retried later or the room fails. */
  joinRefused(id: string | undefined, code: ErrorCode, error: ClasswireError): boolean {
    const room = id === undefined ? undefined : this.joinRequests.get(id);
    if (room === undefined) return false;
    this.joinRequests.delete(id!);
    if (ERROR_CODES[code].retryable) {
      room.resuming = false;
      setTimeout(() => {
        if (this.rooms.get(room.id) === room) this.sendJoin(room);
      }, this.host.retryDelay());
    } else {
      this.rooms.delete(room.id);
      room.fail(error);
      this.host.failed(room, error);
    }
    return true;
  }

  /** Removes the room; false when it is no longer this client's room under that name. */
  remove(room: AnyRoom): boolean {
    if (this.rooms.get(room.id) !== room) return false;
    this.rooms.delete(room.id);
    return true;
  }

  /** Tells the server the room was left; resolves on its `left` (at once while offline). */
  sendLeave(room: AnyRoom): Promise<void> {
    const link = this.host.link();
    if (link === undefined) return Promise.resolve();
    const id = this.host.nextId('l');
    const done = new Promise<void>((resolve) => this.leaveRequests.set(id, resolve));
    const frame: ClientFrame = { action: 'leave', room: room.id, id };
    link.send(JSON.stringify(frame));
    return done;
  }

  left(frame: LeftFrame): void {
    if (frame.id === undefined) return;
    this.leaveRequests.get(frame.id)?.();
    this.leaveRequests.delete(frame.id);
  }

  /** The socket was lost: its join requests will not be answered; rooms resume on the next one. */
  connectionLost(): void {
    for (const room of this.rooms.values()) room.disconnected();
    this.joinRequests.clear();
  }

  /** The client closed for good. */
  ended(error: ClasswireError): void {
    for (const room of this.rooms.values()) {
      if (room.state === 'joining') room.fail(error);
      room.closed();
    }
    for (const done of this.leaveRequests.values()) done();
    this.leaveRequests.clear();
  }
}
