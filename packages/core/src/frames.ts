import { ProtocolError, utf8Length, type Member, type Sender } from '@classwire/protocol';
import type { ConnectionRecord } from './ports.js';

/** Small helpers shared by the engine and the classroom: dedup keys, who a connection is, the message size check. */

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

/** Bytes of `{"type":"message","room":"","seq":N,"ts":N,` with 16-digit seq and 13-digit ts. */
const MESSAGE_PREFIX_BYTES = 80;

/** Throws `payload_too_large` when the message frame composed from `body` would not fit in a frame. */
export function checkMessageSize(room: string, body: string, maxFrameBytes: number): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most messages are far below the limit, and need no count.
  if ((body.length + room.length) * 3 + MESSAGE_PREFIX_BYTES <= maxFrameBytes) return;
  if (utf8Length(body) + utf8Length(room) + MESSAGE_PREFIX_BYTES > maxFrameBytes) {
    throw new ProtocolError('payload_too_large', `the message frame would exceed ${maxFrameBytes} bytes`);
  }
}
