import { describe, expect, it } from 'vitest';
import { composeMessageFrame } from '@classwire/protocol';
import { decodeRoomPublication, encodeEffects, encodeUnsequencedPublication, messageTimestamp } from '../src/redis/wire.js';

describe('room channel wire', () => {
  it('decodes an unsequenced frame as the broker encodes it, with and without except', () => {
    const frame = '{"type":"presence","room":"r"}\n';
    const decoded = decodeRoomPublication(Buffer.from(encodeUnsequencedPublication(frame, 'c1=')));
    expect(decoded).toMatchObject({ kind: 'unsequenced', except: 'c1=' });
    expect(decoded.frame.toString()).toBe(frame);
    expect(decodeRoomPublication(Buffer.from(encodeUnsequencedPublication(frame, undefined)))).toMatchObject({ except: undefined });
  });

  it('decodes a message as append.lua publishes it: epoch, seq, frame', () => {
    const decoded = decodeRoomPublication(Buffer.from('ab12cd34\n42\n{"type":"message","seq":42}'));
    expect(decoded).toEqual({ kind: 'message', epoch: 'ab12cd34', seq: 42, except: undefined, frame: expect.any(Buffer) as unknown });
    expect(decoded.frame.toString()).toBe('{"type":"message","seq":42}');
  });

  it('decodes the connection a message is not for (a sender without echo) after its seq', () => {
    const decoded = decodeRoomPublication(Buffer.from('ab12cd34\n42 Ks3n0Yq1aZ_8cQw=\n{"type":"message","seq":42}'));
    expect(decoded).toMatchObject({ kind: 'message', epoch: 'ab12cd34', seq: 42, except: 'Ks3n0Yq1aZ_8cQw=' });
    expect(decoded.frame.toString()).toBe('{"type":"message","seq":42}');
  });

  it('refuses a malformed payload', () => {
    expect(() => decodeRoomPublication(Buffer.from('no newline'))).toThrow();
    expect(() => decodeRoomPublication(Buffer.from('epoch\nnot-a-seq\n{}'))).toThrow();
    for (const seq of ['', '0', '-1', '1.5', ' 7', '1e3', '0x10', '1234567890123456']) {
      expect(() => decodeRoomPublication(Buffer.from(`epoch\n${seq}\n{}`)), seq).toThrow('malformed room publication');
    }
    expect(() => decodeRoomPublication(Buffer.from('epoch\n7'))).toThrow('malformed room publication');
    expect(decodeRoomPublication(Buffer.from('epoch\n999999999999999\n{}'))).toMatchObject({ seq: 999_999_999_999_999 });
    expect(() => decodeRoomPublication(Buffer.from('epoch\n\n{}'))).toThrow();
    expect(() => decodeRoomPublication(Buffer.from('epoch\n x\n{}'))).toThrow();
    expect(() => decodeRoomPublication(Buffer.from('epoch\n42{}'))).toThrow();
  });

  it('reads the ts of a composed frame from its header, whatever the room name and body hold', () => {
    const body = '"event":"chat.message","data":{"text":",\\"ts\\":1"},"from":{"userId":"u"}}';
    for (const room of ['r', 'a,"ts":5', 'ünïcode ,"ts":', 'x'.repeat(300)]) {
      expect(messageTimestamp(Buffer.from(composeMessageFrame(room, 3, 1_733_000_000_123, body))), room).toBe(1_733_000_000_123);
    }
    expect(messageTimestamp(Buffer.from('{"type":"message","seq":1}'))).toBeUndefined();
    expect(messageTimestamp(Buffer.from('{"type":"message","seq":1,"ts":,"x":1}'))).toBeUndefined();
    expect(messageTimestamp(Buffer.from('{"type":"message","seq":1,"ts":12a,"x":1}'))).toBeUndefined();
    // A frame whose header would be longer than any room name makes it: not looked for further.
    expect(messageTimestamp(Buffer.from(`{"room":"${'y'.repeat(600)}","ts":5,`))).toBeUndefined();
  });
});

describe('state effects wire', () => {
  it('names each collection by its index in KEYS, declaring each key once after the fixed ones', () => {
    const keys = ['meta', 'stream'];
    const encoded = encodeEffects(
      {
        guards: [{ collection: 'control', field: 'v', value: null }],
        ops: [
          { op: 'set', collection: 'chat', field: '$seq', value: '$frame', keep: 3 },
          { op: 'delete', collection: 'control', field: 'muted:u' },
          { op: 'clear', collection: 'hands' },
        ],
      },
      keys,
      (collection) => `s:${collection}`,
    );
    expect(keys).toEqual(['meta', 'stream', 's:control', 's:chat', 's:hands']);
    expect(JSON.parse(encoded)).toEqual({
      g: [[3, 'v', false]],
      o: [
        ['s', 4, '$seq', '$frame', 0, 3],
        ['d', 3, 'muted:u'],
        ['c', 5],
      ],
    });
  });
});
