import { ProtocolError, utf8Length, type Member, type Sender } from '@classwire/protocol';
import type { ConnectionRecord } from './ports.js';

/** Small frame and key helpers shared by the engine and the classroom. */

/** Dedup keys: length-prefixed user ids cannot collide with each other or with server publishes. */
export function userDedupKey(userId: string, id: string): string {
  return `u${userId.length}:${userId}:${id}`;
}

export function serverDedupKey(id: string): string {
  return `s:${id}`;
}

export function senderOf(connection: ConnectionRecord): Sender {
  return { userId: connection.userId, role: connection.role, name: connection.name };
}

export function memberOf(connection: ConnectionRecord): Member {
  return { userId: connection.userId, name: connection.name, role: connection.role };
}

export function ackFrame(id: string, room?: string, seq?: number): string {
  const ack: Record<string, unknown> = { type: 'ack', id };
  if (room !== undefined) ack.room = room;
  if (seq !== undefined) ack.seq = seq;
  return JSON.stringify(ack);
}

export function pongFrame(ts: number, id?: string): string {
  return JSON.stringify(id === undefined ? { type: 'pong', ts } : { type: 'pong', ts, id });
}

export function presenceFrame(room: string, action: 'join' | 'leave', member: Member): string {
  return JSON.stringify({ type: 'presence', room, action, member });
}

/** Bytes of `{"type":"message","room":"","seq":N,"ts":N,` with 16-digit seq and 13-digit ts. */
const MESSAGE_PREFIX_BYTES = 80;

/** Throws `payload_too_large` when the message frame composed from `body` would not fit in a frame. */
export function checkMessageSize(room: string, body: string, maxFrameBytes: number): void {
  if (utf8Length(body) + utf8Length(room) + MESSAGE_PREFIX_BYTES > maxFrameBytes) {
    throw new ProtocolError('payload_too_large', `the message frame would exceed ${maxFrameBytes} bytes`);
  }
}
