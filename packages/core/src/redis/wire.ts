import type { StateEffects } from '../ports.js';

/**
 * What travels on a room's channel. append.lua publishes `message` (its encoder lives there, next to the
 * append it must be atomic with); `unsequenced` frames (ephemeral, presence) are published by the broker.
 */
export type RoomPublication = MessagePublication | UnsequencedPublication;

/** A stored message: `${epoch}\n${seq}\n${frame}`, or `${epoch}\n${seq} ${except}\n${frame}`. */
export interface MessagePublication {
  kind: 'message';
  epoch: string;
  seq: number;
  /** A connection not to deliver it to: its sender, which asked for no echo (connection ids hold no space). */
  except: string | undefined;
  /** The frame's UTF-8 bytes, a view into the payload: written to sockets without decoding. */
  frame: Buffer;
}

/** A best-effort frame: `~${except}\n${frame}` (`except` empty for none). */
export interface UnsequencedPublication {
  kind: 'unsequenced';
  except: string | undefined;
  frame: Buffer;
}

const UNSEQUENCED_MARK = '~';
const UNSEQUENCED_MARK_BYTE = 0x7e;
const NEWLINE = 0x0a;

export function encodeUnsequencedPublication(frame: string, except: string | undefined): string {
  return `${UNSEQUENCED_MARK}${except ?? ''}\n${frame}`;
}

/** Decodes a room channel payload; throws on a malformed one. */
export function decodeRoomPublication(payload: Buffer): RoomPublication {
  const first = payload.indexOf(NEWLINE);
  if (first < 0) throw new Error('malformed room publication');
  if (payload[0] === UNSEQUENCED_MARK_BYTE) {
    const except = payload.toString('utf8', 1, first);
    return { kind: 'unsequenced', except: except === '' ? undefined : except, frame: payload.subarray(first + 1) };
  }
  const second = payload.indexOf(NEWLINE, first + 1);
  if (second < 0) throw new Error('malformed room publication');
  // `${seq}` or `${seq} ${except}`: connection ids hold no space.
  const space = payload.indexOf(SPACE, first + 1);
  const seqEnd = space >= 0 && space < second ? space : second;
  const seq = decimalAt(payload, first + 1, seqEnd);
  if (seq === undefined || seq < 1) throw new Error('malformed room publication');
  const except = seqEnd === second ? '' : payload.toString('utf8', seqEnd + 1, second);
  return { kind: 'message', epoch: payload.toString('utf8', 0, first), seq, except: except === '' ? undefined : except, frame: payload.subarray(second + 1) };
}

/**
 * The decimal number of the ASCII digits in `bytes` from `start` to `end` (exclusive), or undefined unless
 * they are 1 to 15 digits. Read from the bytes: decoding them to a string first would allocate per message.
 */
function decimalAt(bytes: Buffer, start: number, end: number): number | undefined {
  if (end <= start || end - start > 15) return undefined;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

/** Bytes of a message frame that hold its header: the room name is at most a few hundred bytes long. */
const FRAME_HEADER_BYTES = 512;
const TS_FIELD = Buffer.from(',"ts":');
const COMMA = 0x2c;
const SPACE = 0x20;

/**
 * The `ts` of a composed message frame (`composeMessageFrame`), read from its header without parsing
 * the payload. The first `,"ts":` is the header's: inside the room's JSON string every quote is escaped,
 * and the body follows the header.
 */
export function messageTimestamp(frame: Buffer): number | undefined {
  const at = frame.indexOf(TS_FIELD);
  if (at < 0 || at > FRAME_HEADER_BYTES) return undefined;
  const start = at + TS_FIELD.length;
  let end = frame.indexOf(COMMA, start);
  if (end < 0) end = frame.length;
  return decimalAt(frame, start, end);
}

/**
 * State effects as state-common.lua decodes them (cjson): collections are named by their index in the
 * script's KEYS (1-based), so every key the script touches is declared by the caller.
 */
export interface EffectsWire {
  g: GuardWire[];
  o: OpWire[];
}

/** `field` of the hash KEYS[index] equals `value` (false: is absent). */
export type GuardWire = [keyIndex: number, field: string, value: string | false];

export type OpWire = SetOpWire | DeleteOpWire | ClearOpWire | AddOpWire;
export type SetOpWire = ['s', keyIndex: number, field: string, value: string, onlyIfPresent: 0 | 1, keep: number];
export type DeleteOpWire = ['d', keyIndex: number, field: string];
export type ClearOpWire = ['c', keyIndex: number];
export type AddOpWire = ['a', keyIndex: number, field: string, by: number];

/**
 * Encodes effects for a script whose KEYS start with `keys`: each collection's key (`stateKey`) is
 * appended to `keys` once, and the effects refer to it by index.
 */
export function encodeEffects(effects: StateEffects, keys: string[], stateKey: (collection: string) => string): string {
  const indexOf = new Map<string, number>();
  const keyIndex = (collection: string): number => {
    let index = indexOf.get(collection);
    if (index === undefined) {
      keys.push(stateKey(collection));
      index = keys.length; // Lua's KEYS is 1-based
      indexOf.set(collection, index);
    }
    return index;
  };
  const wire: EffectsWire = {
    g: (effects.guards ?? []).map((g): GuardWire => [keyIndex(g.collection), g.field, g.value ?? false]),
    o: effects.ops.map((op): OpWire => {
      if (op.op === 'clear') return ['c', keyIndex(op.collection)];
      if (op.op === 'delete') return ['d', keyIndex(op.collection), op.field];
      if (op.op === 'add') return ['a', keyIndex(op.collection), op.field, op.by];
      return ['s', keyIndex(op.collection), op.field, op.value, op.onlyIfPresent === true ? 1 : 0, op.keep ?? 0];
    }),
  };
  // cjson decodes an empty JSON array as an empty table either way.
  return JSON.stringify(wire);
}
