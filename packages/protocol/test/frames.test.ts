import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  CLIENT_ACTIONS,
  DEFAULT_LIMITS,
  composeEphemeralFrame,
  composeMessageFrame,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeClosingFrame,
  encodeDirectFrame,
  encodeErrorFrame,
  encodeJoinFrames,
  encodeJoinedFrame,
  encodeLeftFrame,
  encodeMessageBody,
  encodePongFrame,
  encodePresenceFrame,
  encodeSnapshotFrame,
  parseClientFrame,
  scanNesting,
  utf8Length,
  type ParseResult,
  type Sender,
} from '@classwire/protocol';

const json = (value: unknown): string => JSON.stringify(value);

function expectOk(result: ParseResult): Extract<ParseResult, { ok: true }>['frame'] {
  if (!result.ok) throw new Error(`expected ok, got ${result.code}: ${result.message}`);
  return result.frame;
}

function expectBadRequest(result: ParseResult): Extract<ParseResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.frame)}`);
  expect(result.code).toBe('bad_request');
  expect(typeof result.message).toBe('string');
  expect(result.message.length).toBeGreaterThan(0);
  return result;
}

describe('parseClientFrame: valid frames', () => {
  it('accepts a minimal join', () => {
    expect(expectOk(parseClientFrame(json({ action: 'join', room: 'physics-101' })))).toEqual({
      action: 'join',
      room: 'physics-101',
    });
  });

  it('accepts a join with since, epoch and id', () => {
    expect(
      expectOk(parseClientFrame(json({ action: 'join', room: 'r:1_a.b-c', since: 0, epoch: 'abcd1234', id: 'j1' }))),
    ).toEqual({ action: 'join', room: 'r:1_a.b-c', since: 0, epoch: 'abcd1234', id: 'j1' });
    expect(expectOk(parseClientFrame(json({ action: 'join', room: 'r', since: Number.MAX_SAFE_INTEGER })))).toMatchObject({
      since: Number.MAX_SAFE_INTEGER,
    });
  });

  it('accepts a leave with and without id', () => {
    expect(expectOk(parseClientFrame(json({ action: 'leave', room: 'r' })))).toEqual({ action: 'leave', room: 'r' });
    expect(expectOk(parseClientFrame(json({ action: 'leave', room: 'r', id: 'l' })))).toEqual({
      action: 'leave',
      room: 'r',
      id: 'l',
    });
  });

  it('accepts a durable publish with an id and any JSON data', () => {
    const data = { text: 'hi "there"', nested: [1, null, { a: true }] };
    expect(
      expectOk(parseClientFrame(json({ action: 'publish', room: 'r', event: 'chat.message', data, id: 'm1' }))),
    ).toEqual({ action: 'publish', room: 'r', event: 'chat.message', data, id: 'm1' });
    expect(
      expectOk(parseClientFrame(json({ action: 'publish', room: 'r', event: 'x', id: 'm2', ephemeral: false }))),
    ).toEqual({ action: 'publish', room: 'r', event: 'x', id: 'm2', ephemeral: false });
  });

  it('accepts echo on a publish as a boolean only', () => {
    for (const echo of [true, false]) {
      expect(expectOk(parseClientFrame(json({ action: 'publish', room: 'r', event: 'x', id: 'm', echo })))).toEqual({ action: 'publish', room: 'r', event: 'x', id: 'm', echo });
    }
    for (const echo of ['false', 0, null, {}]) {
      const result = parseClientFrame(json({ action: 'publish', room: 'r', event: 'x', id: 'm', echo }));
      expect(result).toMatchObject({ ok: false, code: 'bad_request', id: 'm', action: 'publish' });
    }
  });

  it('accepts an ephemeral publish without an id', () => {
    expect(
      expectOk(parseClientFrame(json({ action: 'publish', room: 'r', event: 'whiteboard.stroke', ephemeral: true, data: [1] }))),
    ).toEqual({ action: 'publish', room: 'r', event: 'whiteboard.stroke', ephemeral: true, data: [1] });
  });

  it('accepts a direct message', () => {
    expect(expectOk(parseClientFrame(json({ action: 'direct', to: 'teacher-1', event: 'hand.raise', id: 'd1' })))).toEqual({
      action: 'direct',
      to: 'teacher-1',
      event: 'hand.raise',
      id: 'd1',
    });
    expect(expectOk(parseClientFrame(json({ action: 'direct', to: 'u', event: 'e', data: 'x' })))).toEqual({
      action: 'direct',
      to: 'u',
      event: 'e',
      data: 'x',
    });
  });

  it('accepts a ping with and without id', () => {
    expect(expectOk(parseClientFrame(json({ action: 'ping' })))).toEqual({ action: 'ping' });
    expect(expectOk(parseClientFrame(json({ action: 'ping', id: 'p' })))).toEqual({ action: 'ping', id: 'p' });
  });

  it('accepts names and ids exactly at their length limits', () => {
    const room = 'r'.repeat(DEFAULT_LIMITS.maxRoomLength);
    const event = 'e'.repeat(DEFAULT_LIMITS.maxEventLength);
    const id = 'i'.repeat(DEFAULT_LIMITS.maxIdLength);
    const to = 'u'.repeat(DEFAULT_LIMITS.maxUserIdLength);
    expect(parseClientFrame(json({ action: 'publish', room, event, id })).ok).toBe(true);
    expect(parseClientFrame(json({ action: 'direct', to, event: 'e' })).ok).toBe(true);
  });

  it('ignores unknown extra fields (and drops them from the frame)', () => {
    const frame = expectOk(
      parseClientFrame(json({ action: 'publish', room: 'r', event: 'e', id: 'x', from: { userId: 'admin' }, extra: 1, v: 2 })),
    );
    expect(frame).toEqual({ action: 'publish', room: 'r', event: 'e', id: 'x' });
    expect(frame).not.toHaveProperty('from');
    expect(frame).not.toHaveProperty('extra');
  });

  it('accepts a refresh with a token and an id', () => {
    expect(expectOk(parseClientFrame(json({ action: 'refresh', token: 'a.b.c', id: 'r1' })))).toEqual({ action: 'refresh', token: 'a.b.c', id: 'r1' });
  });

  it('exposes the eight actions', () => {
    expect([...CLIENT_ACTIONS].sort()).toEqual(['direct', 'history', 'join', 'leave', 'members', 'ping', 'publish', 'refresh']);
  });

  it('parses history and members requests, bounding the page and requiring the id', () => {
    expect(parseClientFrame('{"action":"history","room":"r1","before":40,"limit":100,"id":"h"}')).toEqual({
      ok: true,
      frame: { action: 'history', room: 'r1', before: 40, limit: 100, id: 'h' },
    });
    expect(parseClientFrame('{"action":"members","room":"r1","id":"m"}')).toEqual({ ok: true, frame: { action: 'members', room: 'r1', id: 'm' } });
    for (const bad of [
      '{"action":"history","room":"r1","limit":101,"id":"h"}',
      '{"action":"history","room":"r1","limit":0,"id":"h"}',
      '{"action":"history","room":"r1","before":0,"id":"h"}',
      '{"action":"history","room":"r1","before":1.5,"id":"h"}',
      '{"action":"history","room":"r1"}',
      '{"action":"members","room":"bad room","id":"m"}',
    ]) {
      expect(parseClientFrame(bad)).toMatchObject({ ok: false, code: 'bad_request' });
    }
  });
});

describe('parseClientFrame: rejections', () => {
  it('rejects nesting deeper than maxDepth before validating, echoing the id; accepts maxDepth itself', () => {
    const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
    // The frame object is level 1, `data` holds the rest.
    const publish = (dataDepth: number): string =>
      `{"action":"publish","room":"r","event":"e","id":"deep","data":${nested(dataDepth)}}`;
    expect(DEFAULT_LIMITS.maxDepth).toBe(32);
    expectOk(parseClientFrame(publish(DEFAULT_LIMITS.maxDepth - 1)));
    for (const depth of [DEFAULT_LIMITS.maxDepth, 16_000]) {
      const result = expectBadRequest(parseClientFrame(publish(depth)));
      expect(result.message).toContain('deeper than 32');
      expect(result.id).toBe('deep');
    }
    const deepObject = `{"action":"ping","x":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    expectBadRequest(parseClientFrame(deepObject));
  });

  it('finds the nesting depth from the text alone, whatever strings hold, and the id wherever it stands', () => {
    const deep = `${'['.repeat(40)}${']'.repeat(40)}`;
    expect(scanNesting(`{"action":"publish","data":${deep},"id":"after"}`, 32)).toEqual({ tooDeep: true, id: 'after' });
    // Brackets, quotes and backslashes inside strings are text, not structure; an escaped id is unescaped.
    const quoted = JSON.stringify({ action: 'publish', data: `${'['.repeat(40)}"\\{`, id: 'a"b' });
    expect(scanNesting(quoted, 32)).toEqual({ tooDeep: false });
    expect(scanNesting(`{"id":${JSON.stringify('a"b\\')},"data":${deep}}`, 32)).toEqual({ tooDeep: true, id: 'a"b\\' });
    // Only the top-level "id" key counts, and only as a string.
    expect(scanNesting(`{"x":{"id":"inner"},"data":${deep}}`, 32)).toEqual({ tooDeep: true });
    expect(scanNesting(`{"id":7,"data":${deep}}`, 32)).toEqual({ tooDeep: true });
    expect(scanNesting(`{"data":"id","x":"no","deep":${deep}}`, 32)).toEqual({ tooDeep: true });
  });

  it('agrees with the parsed value on depth for any JSON', () => {
    const depthOf = (value: unknown): number =>
      typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 1, max: 6 }), (value, limit) => {
        expect(scanNesting(JSON.stringify(value), limit).tooDeep).toBe(depthOf(value) > limit);
      }),
    );
  });

  it('rejects invalid JSON', () => {
    for (const raw of ['', '{', '{"action":"ping"', 'not json', "{'action':'ping'}", '{"action":"ping",}']) {
      const result = expectBadRequest(parseClientFrame(raw));
      expect(result.id).toBeUndefined();
    }
  });

  it('rejects JSON that is not an object', () => {
    for (const raw of ['null', '1', '"ping"', 'true', '[]', '[{"action":"ping","id":"x"}]']) {
      const result = expectBadRequest(parseClientFrame(raw));
      expect(result.id).toBeUndefined();
    }
  });

  it('rejects a missing or non-string action, echoing the id', () => {
    expect(expectBadRequest(parseClientFrame(json({ id: 'a1' }))).id).toBe('a1');
    expect(expectBadRequest(parseClientFrame(json({ action: 1, id: 'a2' }))).id).toBe('a2');
    expect(expectBadRequest(parseClientFrame(json({ action: null, id: 'a3' }))).id).toBe('a3');
    expect(expectBadRequest(parseClientFrame(json({ action: ['join'], id: 'a4' }))).id).toBe('a4');
    expect(expectBadRequest(parseClientFrame(json({}))).id).toBeUndefined();
  });

  it('rejects unknown actions, including inherited property names', () => {
    for (const action of ['subscribe', 'JOIN', '', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const result = expectBadRequest(parseClientFrame(json({ action, id: 'u1', room: 'r' })));
      expect(result.id).toBe('u1');
    }
  });

  it('rejects wrong field types with the action and id echoed', () => {
    const cases: Record<string, unknown>[] = [
      { action: 'join', room: 5 },
      { action: 'join', room: 'r', since: '3' },
      { action: 'join', room: 'r', since: -1 },
      { action: 'join', room: 'r', since: 1.5 },
      { action: 'join', room: 'r', since: Number.MAX_SAFE_INTEGER + 2 },
      { action: 'join', room: 'r', epoch: 7 },
      { action: 'join', room: 'r', epoch: '' },
      { action: 'join', room: 'r', epoch: 'e'.repeat(65) },
      { action: 'join' },
      { action: 'leave' },
      { action: 'leave', room: null },
      { action: 'publish', room: 'r', event: 7 },
      { action: 'publish', room: 'r' },
      { action: 'publish', room: 'r', event: 'e', ephemeral: 'yes' },
      { action: 'direct', event: 'e' },
      { action: 'direct', to: '', event: 'e' },
      { action: 'direct', to: 'u'.repeat(DEFAULT_LIMITS.maxUserIdLength + 1), event: 'e' },
      { action: 'direct', to: 42, event: 'e' },
      { action: 'direct', to: 'u' },
    ];
    for (const frame of cases) {
      const result = expectBadRequest(parseClientFrame(json({ ...frame, id: 'w1' })));
      expect(result.id, JSON.stringify(frame)).toBe('w1');
      expect(result.action, JSON.stringify(frame)).toBe(frame.action);
    }
  });

  it('rejects a refresh without an id, without a token, or with an over-long token', () => {
    expect(expectBadRequest(parseClientFrame(json({ action: 'refresh', token: 'a.b.c' }))).action).toBe('refresh');
    expect(expectBadRequest(parseClientFrame(json({ action: 'refresh', id: 'r' }))).id).toBe('r');
    expectBadRequest(parseClientFrame(json({ action: 'refresh', token: '', id: 'r' })));
    expectBadRequest(parseClientFrame(json({ action: 'refresh', token: 7, id: 'r' })));
    expectBadRequest(parseClientFrame(json({ action: 'refresh', token: 't'.repeat(DEFAULT_LIMITS.maxTokenLength + 1), id: 'r' })));
  });

  it('rejects a non-string id (and does not echo it)', () => {
    const result = expectBadRequest(parseClientFrame(json({ action: 'ping', id: 5 })));
    expect(result.id).toBeUndefined();
    expect(result.action).toBe('ping');
    expect(expectBadRequest(parseClientFrame(json({ action: 'ping', id: '' }))).action).toBe('ping');
  });

  it('rejects bad room names', () => {
    const rooms = [
      '',
      'r'.repeat(DEFAULT_LIMITS.maxRoomLength + 1),
      '-starts-with-dash',
      '.dot',
      'has space',
      'slash/room',
      'new\nline',
      'é',
      'room*',
    ];
    for (const room of rooms) {
      for (const action of ['join', 'leave']) {
        const result = expectBadRequest(parseClientFrame(json({ action, room, id: 'r1' })));
        expect(result.id).toBe('r1');
        expect(result.action).toBe(action);
      }
      expectBadRequest(parseClientFrame(json({ action: 'publish', room, event: 'e', id: 'r2' })));
    }
  });

  it('rejects bad event names', () => {
    const events = [
      '',
      'Chat',
      'chat.',
      '.chat',
      'chat..message',
      '1chat',
      'chat message',
      'chat.Message',
      'e'.repeat(DEFAULT_LIMITS.maxEventLength + 1),
    ];
    for (const event of events) {
      const result = expectBadRequest(parseClientFrame(json({ action: 'publish', room: 'r', event, id: 'e1' })));
      expect(result.id).toBe('e1');
      expect(result.action).toBe('publish');
      expect(expectBadRequest(parseClientFrame(json({ action: 'direct', to: 'u', event, id: 'e2' }))).id).toBe('e2');
    }
  });

  it('rejects a durable publish without an id', () => {
    const result = expectBadRequest(parseClientFrame(json({ action: 'publish', room: 'r', event: 'chat.message' })));
    expect(result.action).toBe('publish');
    expect(result.id).toBeUndefined();
    expectBadRequest(parseClientFrame(json({ action: 'publish', room: 'r', event: 'chat.message', ephemeral: false })));
  });

  it('rejects ids longer than the limit without echoing them', () => {
    const id = 'i'.repeat(DEFAULT_LIMITS.maxIdLength + 1);
    for (const frame of [
      { action: 'ping', id },
      { action: 'join', room: 'r', id },
      { action: 'leave', room: 'r', id },
      { action: 'publish', room: 'r', event: 'e', id },
      { action: 'direct', to: 'u', event: 'e', id },
      { action: 'refresh', token: 'a.b.c', id },
    ]) {
      const result = expectBadRequest(parseClientFrame(json(frame)));
      expect(result.id).toBeUndefined();
      expect(result.action).toBe(frame.action);
    }
    // An over-long id is not echoed on any other rejection either.
    expect(expectBadRequest(parseClientFrame(json({ action: 'nope', id }))).id).toBeUndefined();
  });
});

describe('parseClientFrame never throws', () => {
  const keyArb = fc.oneof(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'action', 'room', 'id', 'event', 'since', 'toString', 'valueOf'),
    fc.string(),
  );
  const actionArb = fc.oneof(
    fc.constantFrom(...CLIENT_ACTIONS, '__proto__', 'constructor', 'toString', 'hasOwnProperty', ''),
    fc.jsonValue(),
  );
  // JSON text built by hand, so `__proto__` appears as a literal key (JSON.stringify cannot emit one from a literal).
  const objectText = fc
    .record({
      action: fc.option(actionArb, { nil: undefined }),
      entries: fc.array(fc.tuple(keyArb, fc.jsonValue({ maxDepth: 3 })), { maxLength: 6 }),
      protoAt: fc.constantFrom('none', 'first', 'last'),
    })
    .map(({ action, entries, protoAt }) => {
      const parts = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
      if (action !== undefined) parts.push(`"action":${JSON.stringify(action)}`);
      const proto = '"__proto__":{"polluted":true,"action":"join","room":"r"}';
      const ctor = '"constructor":{"prototype":{"polluted":true}}';
      const all = protoAt === 'none' ? parts : protoAt === 'first' ? [proto, ctor, ...parts] : [...parts, proto, ctor];
      return `{${all.join(',')}}`;
    });
  // Frames close to valid ones, so the property also exercises the accepting paths.
  const nearValid = fc
    .record(
      {
        action: fc.constantFrom(...CLIENT_ACTIONS),
        room: fc.oneof(fc.constantFrom('r', 'physics-101', 'a:b.c_d', '', ' r', 'r'.repeat(129)), fc.string()),
        event: fc.constantFrom('chat.message', 'class.start', 'Bad', ''),
        to: fc.constantFrom('u1', ''),
        id: fc.oneof(fc.string({ maxLength: 130 }), fc.integer()),
        since: fc.oneof(fc.nat(), fc.integer(), fc.double()),
        epoch: fc.string({ maxLength: 70 }),
        ephemeral: fc.boolean(),
        data: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: ['action'] },
    )
    .map((frame) => JSON.stringify(frame));
  const frameText = fc.oneof(
    nearValid,
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string(),
    fc.string({ unit: 'binary' }),
    objectText,
  );

  it('returns ok or bad_request for every input and leaves Object.prototype alone', () => {
    const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
    const protoDescriptors = Object.getOwnPropertyDescriptors(Object.prototype);
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(frameText, (raw) => {
        let result: ParseResult | undefined;
        expect(() => {
          result = parseClientFrame(raw);
        }).not.toThrow();
        if (result === undefined) throw new Error('no result');
        if (result.ok) {
          accepted += 1;
          expect(CLIENT_ACTIONS).toContain(result.frame.action);
        } else {
          rejected += 1;
          expect(result.code).toBe('bad_request');
          expect(typeof result.message).toBe('string');
          if (result.id !== undefined) {
            expect(typeof result.id).toBe('string');
            expect(result.id.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxIdLength);
          }
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 2000, seed: 42 },
    );
    // Both outcomes were exercised (the generators are not all trivially rejected).
    expect(accepted).toBeGreaterThan(20);
    expect(rejected).toBeGreaterThan(20);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
    expect(Object.getOwnPropertyDescriptors(Object.prototype)).toEqual(protoDescriptors);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('does not take fields from a __proto__ key', () => {
    const result = parseClientFrame('{"__proto__":{"action":"ping"}}');
    expectBadRequest(result);
    const join = expectOk(parseClientFrame('{"action":"join","room":"r","__proto__":{"since":5,"id":"x"}}'));
    expect(join).toEqual({ action: 'join', room: 'r' });
    expect(({} as Record<string, unknown>).since).toBeUndefined();
  });
});

describe('utf8Length', () => {
  it('matches Buffer.byteLength on fixed examples', () => {
    for (const text of ['', 'a', 'é', '€', '😀', 'a😀b', '\u07ff', '\u0800', '\uffff', '\u{10ffff}']) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });

  it('counts lone surrogates as 3 bytes, like Buffer (U+FFFD)', () => {
    for (const text of ['\ud800', '\udc00', '\udfff', 'a\ud800', '\ud800a', '\udc00\ud800', '\ud800\ud800\udc00', '\ud83d', '😀\ud83d']) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });

  it('matches Buffer.byteLength for random strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => utf8Length(text) === Buffer.byteLength(text, 'utf8')),
      { numRuns: 1000 },
    );
  });

  it('matches Buffer.byteLength for random UTF-16 code units, lone surrogates included', () => {
    const codeUnit = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd800, max: 0xdfff }));
    fc.assert(
      fc.property(fc.array(codeUnit, { maxLength: 40 }), (units) => {
        const text = String.fromCharCode(...units);
        return utf8Length(text) === Buffer.byteLength(text, 'utf8');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('message frame encoding', () => {
  const anyString = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom('"', '\\', '\\"', '"}', '\u0000', '\n\r\t', '\u2028\u2029', '😀', '\ud800', 'a\udc00b', '</script>'),
  );
  const senderArb = fc.record({
    userId: anyString,
    name: anyString,
    role: fc.constantFrom('teacher', 'assistant', 'student', 'observer', 'server') as fc.Arbitrary<Sender['role']>,
  });

  it('composeMessageFrame(encodeMessageBody(...)) round-trips through JSON.parse', () => {
    fc.assert(
      fc.property(
        anyString,
        anyString,
        fc.nat(),
        fc.nat(),
        fc.jsonValue(),
        senderArb,
        fc.option(anyString, { nil: undefined }),
        (room, event, seq, ts, data, from, id) => {
          const frame = composeMessageFrame(room, seq, ts, encodeMessageBody(event, data, from, id));
          const expected: Record<string, unknown> = {
            type: 'message',
            room,
            seq,
            ts,
            event,
            data: JSON.parse(JSON.stringify(data)) as unknown,
            from,
          };
          if (id !== undefined) expected.id = id;
          expect(JSON.parse(frame)).toEqual(expected);
          expect(Object.keys(JSON.parse(frame) as object)).toEqual(Object.keys(expected));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('composeEphemeralFrame round-trips and has no seq', () => {
    fc.assert(
      fc.property(anyString, anyString, fc.nat(), fc.jsonValue(), senderArb, (room, event, ts, data, from) => {
        const parsed = JSON.parse(composeEphemeralFrame(room, ts, encodeMessageBody(event, data, from))) as Record<string, unknown>;
        expect(parsed).toEqual({
          type: 'message',
          room,
          ephemeral: true,
          ts,
          event,
          data: JSON.parse(JSON.stringify(data)) as unknown,
          from,
        });
        expect(parsed).not.toHaveProperty('seq');
      }),
      { numRuns: 200 },
    );
  });

  it('encodes missing data as null and omits a missing id', () => {
    const from: Sender = { userId: 'u', role: 'student', name: 'U' };
    const parsed = JSON.parse(composeMessageFrame('r', 1, 2, encodeMessageBody('e', undefined, from))) as Record<string, unknown>;
    expect(parsed).toEqual({ type: 'message', room: 'r', seq: 1, ts: 2, event: 'e', data: null, from });
    expect(parsed).not.toHaveProperty('id');
  });

  it('encodeErrorFrame includes only the given context', () => {
    expect(JSON.parse(encodeErrorFrame('forbidden', 'no'))).toEqual({ type: 'error', code: 'forbidden', message: 'no' });
    expect(JSON.parse(encodeErrorFrame('not_joined', 'm', { id: 'i', action: 'publish', room: 'r' }))).toEqual({
      type: 'error',
      code: 'not_joined',
      message: 'm',
      id: 'i',
      action: 'publish',
      room: 'r',
    });
    expect(JSON.parse(encodeErrorFrame('internal', 'm', { id: undefined, action: 'x' }))).toEqual({
      type: 'error',
      code: 'internal',
      message: 'm',
      action: 'x',
    });
  });
});

describe('encodeJoinFrames', () => {
  const joined = (count: number) => ({
    room: 'big',
    connectionId: 'c',
    seq: 3,
    epoch: 'e',
    recovered: false,
    presence: Array.from({ length: count }, (_, i) => ({ userId: `user-${i}-${'u'.repeat(100)}`, role: 'student' as const, name: `Ünïcödé "${i}" ${'n'.repeat(50)}` })),
    id: 'j',
  });

  it('sends one joined frame while the members fit', () => {
    const frames = encodeJoinFrames(joined(3), DEFAULT_LIMITS.maxFrameBytes);
    expect(frames).toEqual([encodeJoinedFrame(joined(3))]);
  });

  it('pages 1,000 members with long names into members frames that each fit, then an empty joined', () => {
    const input = joined(1000);
    expect(utf8Length(encodeJoinedFrame(input))).toBeGreaterThan(DEFAULT_LIMITS.maxFrameBytes);
    const frames = encodeJoinFrames(input, DEFAULT_LIMITS.maxFrameBytes).map((f) => {
      expect(utf8Length(f)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxFrameBytes);
      return JSON.parse(f) as Record<string, unknown>;
    });
    const last = frames.at(-1)!;
    const parts = frames.slice(0, -1);
    expect(last).toMatchObject({ type: 'joined', room: 'big', presence: [], presenceParts: parts.length, id: 'j' });
    expect(parts.map((p) => [p.type, p.part, p.parts])).toEqual(parts.map((_, i) => ['members', i, parts.length]));
    expect(parts.flatMap((p) => p.members as unknown[])).toEqual(input.presence);
  });
});

describe('server frame encoders', () => {
  const from: Sender = { userId: 'u1', role: 'teacher', name: 'Ms "Gray"' };
  const member = { userId: 'u1', name: 'Ms "Gray"', role: 'teacher' as const };

  /** The frame as JSON text, keys in the documented order. */
  const expectFrame = (encoded: string, expected: Record<string, unknown>) => {
    expect(JSON.parse(encoded)).toEqual(expected);
    expect(Object.keys(JSON.parse(encoded) as object)).toEqual(Object.keys(expected));
  };

  it('encodes joined, with the id only when given', () => {
    const joined = { room: 'r', connectionId: 'Ks3n0Yq1aZ_8cQw=', seq: 42, epoch: 'e1', recovered: true, presence: [member] };
    expectFrame(encodeJoinedFrame(joined), { type: 'joined', ...joined });
    expectFrame(encodeJoinedFrame({ ...joined, id: 'j1' }), { type: 'joined', ...joined, id: 'j1' });
    expectFrame(encodeJoinedFrame({ ...joined, id: 'j1', keepAliveMs: 540_000 }), { type: 'joined', ...joined, id: 'j1', keepAliveMs: 540_000 });
    // The keep-alive stays on the joined frame when the member list goes ahead in members frames.
    const big = { ...joined, presence: Array.from({ length: 400 }, (_, i) => ({ ...member, userId: `u${i}` })), keepAliveMs: 60_000 };
    expect(JSON.parse(encodeJoinFrames(big, 4096).at(-1)!)).toMatchObject({ type: 'joined', presence: [], keepAliveMs: 60_000 });
  });

  it('encodes left, ack and pong with their optional fields only when given', () => {
    expectFrame(encodeLeftFrame('r'), { type: 'left', room: 'r' });
    expectFrame(encodeLeftFrame('r', 'l1'), { type: 'left', room: 'r', id: 'l1' });
    expectFrame(encodeAckFrame('d1'), { type: 'ack', id: 'd1' });
    expectFrame(encodeAckFrame('p1', 'r'), { type: 'ack', id: 'p1', room: 'r' });
    expectFrame(encodeAckFrame('p1', 'r', 0), { type: 'ack', id: 'p1', room: 'r', seq: 0 });
    expectFrame(encodePongFrame(5), { type: 'pong', ts: 5 });
    expectFrame(encodePongFrame(5, 'x'), { type: 'pong', ts: 5, id: 'x' });
    expectFrame(encodePongFrame(5, undefined, 540_000), { type: 'pong', ts: 5, keepAliveMs: 540_000 });
    // The ack of a publish sent with echo: false carries the message's ts, epoch and sender.
    expectFrame(encodeAckFrame('p1', 'r', 3, { ts: 9, epoch: 'e1', from }), { type: 'ack', id: 'p1', room: 'r', seq: 3, ts: 9, epoch: 'e1', from });
  });

  it('encodes presence, direct, snapshot and closing', () => {
    expectFrame(encodePresenceFrame('r', 'leave', member), { type: 'presence', room: 'r', action: 'leave', member });
    expectFrame(encodeDirectFrame(7, 'chat.private', undefined, from), { type: 'direct', ts: 7, event: 'chat.private', data: null, from });
    expectFrame(encodeDirectFrame(7, 'e', { a: 1 }, from, 'd1'), { type: 'direct', ts: 7, event: 'e', data: { a: 1 }, from, id: 'd1' });
    expectFrame(encodeSnapshotFrame('r', 3, 0, 2, '{"a'), { type: 'snapshot', room: 'r', seq: 3, part: 0, parts: 2, data: '{"a' });
    expectFrame(encodeClosingFrame(4502, 'removed'), { type: 'closing', code: 4502, reason: 'removed' });
  });

  it('composes a private message: no seq, not ephemeral', () => {
    expectFrame(composePrivateMessageFrame('r', 9, encodeMessageBody('chat.private', { text: 'hi' }, from, 'p1')), {
      type: 'message',
      room: 'r',
      ts: 9,
      event: 'chat.private',
      data: { text: 'hi' },
      from,
      id: 'p1',
    });
  });
});
