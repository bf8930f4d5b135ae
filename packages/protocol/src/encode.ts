import type { ErrorCode } from './errors.js';
import type { Sender } from './types.js';

/**
 * Sequenced message frames are built in two halves so that a store can assign `seq` and `ts` without
 * re-serializing the payload: the body (event, data, from, id) is serialized once by the publisher, and
 * `composeMessageFrame` prefixes the fields the room log assigns. Stores (including Redis scripts) keep
 * the composed frame, so replays and live deliveries send identical bytes.
 */
export function encodeMessageBody(event: string, data: unknown, from: Sender, id?: string): string {
  const tail = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  return `"event":${JSON.stringify(event)},"data":${JSON.stringify(data ?? null)},"from":${JSON.stringify(from)}${tail}}`;
}

export function composeMessageFrame(room: string, seq: number, ts: number, body: string): string {
  return `{"type":"message","room":${JSON.stringify(room)},"seq":${seq},"ts":${ts},${body}`;
}

export function composeEphemeralFrame(room: string, ts: number, body: string): string {
  return `{"type":"message","room":${JSON.stringify(room)},"ephemeral":true,"ts":${ts},${body}`;
}

export function encodeErrorFrame(
  code: ErrorCode,
  message: string,
  extra?: { id?: string | undefined; action?: string | undefined; room?: string | undefined },
): string {
  const frame: Record<string, unknown> = { type: 'error', code, message };
  if (extra?.id !== undefined) frame.id = extra.id;
  if (extra?.action !== undefined) frame.action = extra.action;
  if (extra?.room !== undefined) frame.room = extra.room;
  return JSON.stringify(frame);
}

/** UTF-8 byte length without allocating a buffer. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
