import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { CLOSE_CODES, DEFAULT_LIMITS, ProtocolError, utf8Length, type Member, type Role } from '@classwire/protocol';
import {
  Engine,
  JwtAuthorizer,
  MemoryPresence,
  MemoryRateLimiter,
  MemoryRegistry,
  MemoryBroker,
  StoreUnavailableError,
  type ConnectionRecord,
  type EngineOptions,
  type MemoryRoomLogOptions,
  type PresenceStore,
  type RateLimiter,
} from '@classwire/core';

import { RecordingFanOut, type Frame } from './recording-fanout.js';

const START = 1_700_000_000_000;

interface ClientSpec {
  userId?: string;
  name?: string;
  role?: Role;
  rooms?: string[];
}

interface SetupOptions extends Partial<Omit<EngineOptions, 'broker'>> {
  roomLogOptions?: MemoryRoomLogOptions;
  /** A MemoryBroker subclass, to inject failures. */
  Broker?: typeof MemoryBroker;
}

function setup(options: SetupOptions = {}) {
  const clock = { value: START };
  const now = (): number => clock.value;
  const registry = new MemoryRegistry();
  const { roomLogOptions, Broker = MemoryBroker, ...engineOptions } = options;
  const presence = options.presence ?? new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new Broker({ now, ...roomLogOptions, delivery: fanout });
  const engine = new Engine({ registry, broker, presence, fanout, now, ...engineOptions });
  let counter = 0;

  async function connect(connectionId: string, spec: ClientSpec = {}): Promise<ConnectionRecord> {
    const record: ConnectionRecord = {
      connectionId,
      userId: spec.userId ?? `user-${++counter}`,
      name: spec.name ?? `Name ${connectionId}`,
      role: spec.role ?? 'student',
      rooms: spec.rooms ?? ['*'],
      expiresAt: START + 3_600_000,
      connectedAt: now(),
      node: 'test-node',
    };
    await engine.connect(record);
    return record;
  }

  const send = (connectionId: string, frame: Record<string, unknown>): Promise<unknown> =>
    engine.handleFrame(connectionId, JSON.stringify(frame));

  async function join(connectionId: string, room: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    await send(connectionId, { action: 'join', room, ...extra });
    const joined = fanout.last(connectionId);
    expect(joined, `join ${room} by ${connectionId}`).toMatchObject({ type: 'joined', room });
    return joined!;
  }

  const messages = (connectionId: string, room?: string): Frame[] =>
    fanout.ofType(connectionId, 'message').filter((f) => room === undefined || f.room === room);

  return { clock, now, registry, broker, presence, fanout, engine, connect, send, join, messages };
}

const memberOf = (r: ConnectionRecord): Member => ({ userId: r.userId, name: r.name, role: r.role });

describe('Engine: join', () => {
  it('answers a join with a joined frame', async () => {
    const t = setup();
    const rec = await t.connect('c1', { userId: 'ada', name: 'Ada', role: 'teacher' });
    await t.send('c1', { action: 'join', room: 'physics-101', id: 'j1' });
    const frames = t.fanout.frames('c1');
    expect(frames).toHaveLength(1);
    const joined = frames[0]!;
    expect(joined).toEqual({
      type: 'joined',
      room: 'physics-101',
      connectionId: 'c1',
      seq: 0,
      epoch: expect.any(String) as unknown,
      recovered: false,
      presence: [memberOf(rec)],
      id: 'j1',
    });
    expect((joined.epoch as string).length).toBeGreaterThan(0);
    expect((await t.registry.get('c1'))!.joined.has('physics-101')).toBe(true);
    expect(await t.presence.list('physics-101')).toEqual([memberOf(rec)]);
  });

  it('advertises its keep-alive in every joined and pong when configured, and nothing otherwise', async () => {
    const t = setup({ keepAliveMs: 540_000 });
    await t.connect('a');
    expect(await t.join('a', 'r')).toMatchObject({ keepAliveMs: 540_000 });
    await t.send('a', { action: 'ping', id: 'p' });
    expect(t.fanout.last('a')).toEqual({ type: 'pong', ts: START, id: 'p', keepAliveMs: 540_000 });

    const plain = setup();
    await plain.connect('a');
    expect(await plain.join('a', 'r')).not.toHaveProperty('keepAliveMs');
    await plain.send('a', { action: 'ping', id: 'p' });
    expect(plain.fanout.last('a')).toEqual({ type: 'pong', ts: START, id: 'p' });
  });

  it('reports the latest seq and lists current members', async () => {
    const t = setup();
    const teacher = await t.connect('t', { role: 'teacher', userId: 'teach' });
    const student = await t.connect('s', { userId: 'stud' });
    await t.join('t', 'r');
    await t.send('t', { action: 'publish', room: 'r', event: 'chat.message', data: 1, id: 'a' });
    await t.send('t', { action: 'publish', room: 'r', event: 'chat.message', data: 2, id: 'b' });
    const joined = await t.join('s', 'r');
    expect(joined.seq).toBe(2);
    expect(joined).not.toHaveProperty('id');
    expect(
      [...(joined.presence as Member[])].sort((a, b) => a.userId.localeCompare(b.userId)),
    ).toEqual([memberOf(student), memberOf(teacher)].sort((a, b) => a.userId.localeCompare(b.userId)));
  });

  it('refuses a room the claims do not allow: forbidden', async () => {
    const t = setup();
    await t.connect('c1', { rooms: ['math-*', 'lobby'] });
    await t.send('c1', { action: 'join', room: 'physics-101', id: 'j' });
    expect(t.fanout.frames('c1')).toEqual([
      { type: 'error', code: 'forbidden', message: expect.any(String) as unknown, id: 'j', action: 'join', room: 'physics-101' },
    ]);
    expect((await t.registry.get('c1'))!.joined.size).toBe(0);
    expect(await t.registry.members('physics-101')).toEqual([]);
    expect(await t.presence.list('physics-101')).toEqual([]);
    await t.join('c1', 'math-7');
    await t.join('c1', 'lobby');
  });

  it('limits the rooms per connection; rejoining a room does not count', async () => {
    const t = setup({ maxRoomsPerConnection: 2 });
    await t.connect('c1');
    await t.join('c1', 'a');
    await t.join('c1', 'b');
    await t.send('c1', { action: 'join', room: 'c', id: 'x' });
    expect(t.fanout.last('c1')).toMatchObject({ type: 'error', code: 'forbidden', id: 'x', room: 'c' });
    await t.join('c1', 'a');
  });

  it('answers frames from a connection the registry lost with unavailable (retryable)', async () => {
    const t = setup();
    await t.send('ghost', { action: 'join', room: 'r', id: 'g' });
    expect(t.fanout.frames('ghost')).toEqual([
      { type: 'error', code: 'unavailable', message: expect.any(String) as unknown, id: 'g', action: 'join', room: 'r' },
    ]);
  });
});

describe('Engine: publish', () => {
  it('acks with the seq and delivers the message to every member, sender included, with a server-set from', async () => {
    const t = setup();
    const ada = await t.connect('a', { userId: 'ada', name: 'Ada', role: 'student' });
    await t.connect('b', { userId: 'bob', role: 'teacher' });
    await t.connect('outsider', { userId: 'eve' });
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();

    t.clock.value = START + 42;
    await t.send('a', {
      action: 'publish',
      room: 'r',
      event: 'chat.message',
      data: { text: 'hello', from: 'nested is data' },
      id: 'm1',
      from: { userId: 'bob', role: 'teacher', name: 'Impostor' },
    });

    const expected = {
      type: 'message',
      room: 'r',
      seq: 1,
      ts: START + 42,
      event: 'chat.message',
      data: { text: 'hello', from: 'nested is data' },
      from: { userId: 'ada', role: 'student', name: 'Ada' },
      id: 'm1',
    };
    expect(t.fanout.frames('b')).toEqual([expected]);
    expect(t.fanout.frames('a')).toEqual([expected, { type: 'ack', id: 'm1', room: 'r', seq: 1 }]);
    expect(t.fanout.frames('outsider')).toEqual([]);
    expect((t.fanout.frames('a')[0]!.from as Member).userId).toBe(ada.userId);

    await t.send('b', { action: 'publish', room: 'r', event: 'chat.message', data: 'second', id: 'm2' });
    expect(t.fanout.last('b')).toEqual({ type: 'ack', id: 'm2', room: 'r', seq: 2 });
    expect(t.messages('a').map((m) => m.seq)).toEqual([1, 2]);
  });

  it('without an echo (echo: false), leaves the sender out and acks with what the echo would have told it', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada', name: 'Ada', role: 'student' });
    await t.connect('a2', { userId: 'ada', name: 'Ada', role: 'student' });
    await t.connect('b', { userId: 'bob', role: 'teacher' });
    for (const id of ['a', 'a2', 'b']) await t.join(id, 'r');
    t.fanout.clear();
    t.clock.value = START + 7;
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: { text: 'quiet' }, id: 'q1', echo: false });
    const epoch = (await t.broker.read('r')).epoch;
    const from = { userId: 'ada', role: 'student', name: 'Ada' };
    expect(t.fanout.frames('a')).toEqual([{ type: 'ack', id: 'q1', room: 'r', seq: 1, ts: START + 7, epoch, from }]);
    // Only the sending connection is left out: the same user's other connection and everyone else get it.
    const message = { type: 'message', room: 'r', seq: 1, ts: START + 7, event: 'chat.message', data: { text: 'quiet' }, from, id: 'q1' };
    expect(t.fanout.frames('a2')).toEqual([message]);
    expect(t.fanout.frames('b')).toEqual([message]);

    // A retry gets the same ack (the original's seq and ts) and delivers nothing; echo: true is the default.
    t.clock.value = START + 99;
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: { text: 'quiet' }, id: 'q1', echo: false });
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'loud', id: 'q2', echo: true });
    expect(t.fanout.frames('a').slice(1)).toEqual([
      { type: 'ack', id: 'q1', room: 'r', seq: 1, ts: START + 7, epoch, from },
      expect.objectContaining({ type: 'message', seq: 2, id: 'q2' }),
      { type: 'ack', id: 'q2', room: 'r', seq: 2 },
    ]);
    expect(t.messages('b').map((m) => m.seq)).toEqual([1, 2]);
    // The history keeps the message for everyone, its sender's resume included.
    expect((await t.broker.read('r', 0)).messages.map((m) => m.seq)).toEqual([1, 2]);
  });

  it('refuses an echo that is not a boolean: bad_request, nothing stored', async () => {
    const t = setup();
    await t.connect('a');
    await t.join('a', 'r');
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 1, id: 'x', echo: 'no' });
    expect(t.fanout.last('a')).toMatchObject({ type: 'error', code: 'bad_request', id: 'x' });
    expect((await t.broker.read('r')).seq).toBe(0);
  });

  it('refuses publishing to a room not joined: not_joined', async () => {
    const t = setup();
    await t.connect('a');
    await t.connect('b');
    await t.join('b', 'r');
    t.fanout.clear();
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', id: 'p1' });
    expect(t.fanout.frames('a')).toEqual([
      { type: 'error', code: 'not_joined', message: expect.any(String) as unknown, id: 'p1', action: 'publish', room: 'r' },
    ]);
    expect(t.fanout.frames('b')).toEqual([]);
    expect((await t.broker.read('r', 0)).messages).toEqual([]);
  });

  it('refuses a student publishing class.start: forbidden, id echoed, nothing stored', async () => {
    const t = setup();
    await t.connect('s', { role: 'student' });
    await t.connect('t', { role: 'teacher' });
    await t.join('s', 'r');
    await t.join('t', 'r');
    t.fanout.clear();
    await t.send('s', { action: 'publish', room: 'r', event: 'class.start', id: 'start-1' });
    expect(t.fanout.frames('s')).toEqual([
      { type: 'error', code: 'forbidden', message: expect.any(String) as unknown, id: 'start-1', action: 'publish', room: 'r' },
    ]);
    expect(t.fanout.frames('t')).toEqual([]);
    expect((await t.broker.read('r', 0)).seq).toBe(0);

    await t.send('t', { action: 'publish', room: 'r', event: 'class.start', id: 'start-2' });
    expect(t.fanout.last('t')).toEqual({ type: 'ack', id: 'start-2', room: 'r', seq: 1 });
  });

  it('observers may not publish', async () => {
    const t = setup();
    await t.connect('o', { role: 'observer' });
    await t.join('o', 'r');
    await t.send('o', { action: 'publish', room: 'r', event: 'chat.message', id: 'x' });
    expect(t.fanout.last('o')).toMatchObject({ type: 'error', code: 'forbidden', id: 'x' });
  });

  it('delivers an ephemeral publish without seq and does not store it', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada', name: 'Ada' });
    await t.connect('b');
    await t.join('a', 'r');
    await t.join('b', 'r');
    const { epoch } = await t.broker.read('r');
    t.fanout.clear();

    await t.send('a', { action: 'publish', room: 'r', event: 'whiteboard.stroke', data: [1, 2], ephemeral: true, id: 'e1' });
    await t.send('a', { action: 'publish', room: 'r', event: 'cursor.move', data: 'x', ephemeral: true });
    const received = t.fanout.frames('b');
    expect(received).toEqual([
      {
        type: 'message',
        room: 'r',
        ephemeral: true,
        ts: START,
        event: 'whiteboard.stroke',
        data: [1, 2],
        from: { userId: 'ada', role: 'student', name: 'Ada' },
        id: 'e1',
      },
      {
        type: 'message',
        room: 'r',
        ephemeral: true,
        ts: START,
        event: 'cursor.move',
        data: 'x',
        from: { userId: 'ada', role: 'student', name: 'Ada' },
      },
    ]);
    for (const f of received) expect(f).not.toHaveProperty('seq');
    // The sender gets the message too, and an ack without seq only for the frame with an id.
    expect(t.fanout.ofType('a', 'ack')).toEqual([{ type: 'ack', id: 'e1', room: 'r' }]);
    expect(t.messages('a')).toHaveLength(2);

    expect((await t.broker.read('r', 0, epoch)).seq).toBe(0);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'durable', id: 'd1' });
    expect(t.fanout.last('a')).toEqual({ type: 'ack', id: 'd1', room: 'r', seq: 1 });

    // A later resume replays only the durable message.
    await t.connect('late');
    const joined = await t.join('late', 'r', { since: 0, epoch });
    expect(joined).toMatchObject({ recovered: true, seq: 1 });
    expect(t.messages('late')).toEqual([expect.objectContaining({ seq: 1, data: 'durable' })]);
  });

  it('makes retries idempotent: same id acks the original seq and delivers nothing new', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada' });
    await t.connect('b');
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();
    const frame = { action: 'publish', room: 'r', event: 'chat.message', data: { text: 'once' }, id: 'retry-1' };
    await t.send('a', frame);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'other', id: 'retry-2' });
    await t.send('a', frame);
    expect(t.fanout.ofType('a', 'ack')).toEqual([
      { type: 'ack', id: 'retry-1', room: 'r', seq: 1 },
      { type: 'ack', id: 'retry-2', room: 'r', seq: 2 },
      { type: 'ack', id: 'retry-1', room: 'r', seq: 1 },
    ]);
    expect(t.messages('b').map((m) => m.seq)).toEqual([1, 2]);
    expect((await t.broker.read('r', 0)).seq).toBe(2);
  });

  it('answers a reused id with different content: conflict', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada' });
    await t.connect('b');
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'v1', id: 'same' });
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'v2', id: 'same' });
    expect(t.fanout.last('a')).toEqual({
      type: 'error',
      code: 'conflict',
      message: expect.any(String) as unknown,
      id: 'same',
      action: 'publish',
      room: 'r',
    });
    expect(t.messages('b').map((m) => m.data)).toEqual(['v1']);
  });

  it('scopes publish ids per user: two users may use the same id', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada' });
    await t.connect('b', { userId: 'bob' });
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'same', id: '1' });
    await t.send('b', { action: 'publish', room: 'r', event: 'chat.message', data: 'same', id: '1' });
    expect(t.fanout.ofType('a', 'ack')).toEqual([{ type: 'ack', id: '1', room: 'r', seq: 1 }]);
    expect(t.fanout.ofType('b', 'ack')).toEqual([{ type: 'ack', id: '1', room: 'r', seq: 2 }]);
    expect(t.messages('a').map((m) => (m.from as Member).userId)).toEqual(['ada', 'bob']);
  });

  it('does not let one user\'s publish ids collide with another\'s (user ids may contain ":")', async () => {
    // User "a" publishing id "b:c" and user "a:b" publishing id "c" are unrelated messages.
    const t = setup();
    await t.connect('c1', { userId: 'a' });
    await t.connect('c2', { userId: 'a:b' });
    await t.join('c1', 'r');
    await t.join('c2', 'r');
    t.fanout.clear();
    await t.send('c1', { action: 'publish', room: 'r', event: 'chat.message', data: 'hi', id: 'b:c' });
    await t.send('c2', { action: 'publish', room: 'r', event: 'chat.message', data: 'hi', id: 'c' });
    expect(t.fanout.frames('c2').filter((f) => f.type !== 'message')).toEqual([{ type: 'ack', id: 'c', room: 'r', seq: 2 }]);
    expect(t.messages('c1').map((m) => (m.from as Member).userId)).toEqual(['a', 'a:b']);
  });

  it('does not let a user\'s publish ids collide with server publish ids (a user may be called "server")', async () => {
    const t = setup();
    await t.connect('c1', { userId: 'server', name: 'Not the server' });
    await t.join('c1', 'r');
    t.fanout.clear();
    await t.send('c1', { action: 'publish', room: 'r', event: 'chat.message', data: 'x', id: 'announce-1' });
    const result = await t.engine.publishAsServer('r', { event: 'class.announcement', data: 'y', id: 'announce-1' });
    expect(result).toEqual({ seq: 2, duplicate: false });
    expect(t.messages('c1').map((m) => m.event)).toEqual(['chat.message', 'class.announcement']);
  });

  it('refuses a message frame larger than maxFrameBytes: payload_too_large', async () => {
    const t = setup({ maxFrameBytes: 1024 });
    await t.connect('a');
    await t.connect('b');
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'x'.repeat(2000), id: 'big' });
    expect(t.fanout.frames('a')).toEqual([
      { type: 'error', code: 'payload_too_large', message: expect.any(String) as unknown, id: 'big', action: 'publish', room: 'r' },
    ]);
    expect(t.fanout.frames('b')).toEqual([]);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'x'.repeat(100), id: 'small' });
    expect(t.fanout.last('a')).toEqual({ type: 'ack', id: 'small', room: 'r', seq: 1 });
    for (const raw of t.fanout.raw('b')) expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(1024);
  });
});

describe('Engine: resume', () => {
  it('replays exactly the missed frames, before joined, then resumes live delivery', async () => {
    const t = setup();
    await t.connect('pub', { role: 'teacher' });
    await t.join('pub', 'r');
    for (let i = 1; i <= 3; i++) await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', data: i, id: `m${i}` });

    await t.connect('c1', { userId: 'student' });
    const first = await t.join('c1', 'r');
    expect(first).toMatchObject({ seq: 3, recovered: false });
    const epoch = first.epoch as string;
    await t.engine.disconnect('c1');

    for (let i = 4; i <= 6; i++) await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', data: i, id: `m${i}` });
    const storedFrames = (await t.broker.read('r', 3, epoch)).messages.map((m) => m.frame);

    await t.connect('c2', { userId: 'student' });
    await t.send('c2', { action: 'join', room: 'r', since: 3, epoch, id: 'resume' });
    const frames = t.fanout.frames('c2');
    expect(frames.map((f) => f.type)).toEqual(['message', 'message', 'message', 'joined']);
    expect(frames.slice(0, 3).map((f) => f.seq)).toEqual([4, 5, 6]);
    // Replays are the stored bytes.
    expect(t.fanout.raw('c2').slice(0, 3)).toEqual(storedFrames);
    expect(frames[3]).toMatchObject({ type: 'joined', room: 'r', seq: 6, epoch, recovered: true, id: 'resume' });

    await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', data: 7, id: 'm7' });
    expect(t.messages('c2').map((m) => m.seq)).toEqual([4, 5, 6, 7]);
  });

  it('replays nothing when the epoch differs or since is ahead: recovered false', async () => {
    const t = setup();
    await t.connect('pub', { role: 'teacher' });
    await t.join('pub', 'r');
    await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', id: 'm1' });
    const { epoch } = await t.broker.read('r');

    await t.connect('c1');
    await t.send('c1', { action: 'join', room: 'r', since: 0, epoch: 'stale-epoch' });
    expect(t.fanout.frames('c1')).toEqual([expect.objectContaining({ type: 'joined', recovered: false, seq: 1, epoch })]);

    await t.connect('c2');
    await t.send('c2', { action: 'join', room: 'r', since: 9, epoch });
    expect(t.fanout.frames('c2')).toEqual([expect.objectContaining({ type: 'joined', recovered: false, seq: 1 })]);
  });

  it('replays nothing when the gap is no longer kept (never a partial replay)', async () => {
    const t = setup({ roomLogOptions: { maxMessages: 2 } });
    await t.connect('pub', { role: 'teacher' });
    await t.join('pub', 'r');
    for (let i = 1; i <= 5; i++) await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', id: `m${i}` });
    const { epoch } = await t.broker.read('r');
    await t.connect('c1');
    await t.send('c1', { action: 'join', room: 'r', since: 1, epoch });
    expect(t.fanout.frames('c1')).toEqual([expect.objectContaining({ type: 'joined', recovered: false, seq: 5 })]);
  });

  it('a rejoin with since replays without a second presence announcement', async () => {
    const t = setup();
    await t.connect('pub', { role: 'teacher', userId: 'teach' });
    await t.connect('c1', { userId: 'stud' });
    await t.join('pub', 'r');
    const { epoch } = await t.join('c1', 'r');
    await t.send('pub', { action: 'publish', room: 'r', event: 'chat.message', id: 'm1' });
    t.fanout.clear();
    await t.send('c1', { action: 'join', room: 'r', since: 0, epoch });
    const frames = t.fanout.frames('c1');
    expect(frames.map((f) => f.type)).toEqual(['message', 'joined']);
    expect(frames[1]).toMatchObject({ recovered: true, seq: 1 });
    expect(t.fanout.frames('pub')).toEqual([]);
  });
});

describe('Engine: leave and presence', () => {
  it('announces presence per user on join, leave and disconnect', async () => {
    const t = setup();
    const ada = await t.connect('a', { userId: 'ada', name: 'Ada', role: 'teacher' });
    const bob1 = await t.connect('b1', { userId: 'bob', name: 'Bob', role: 'student' });
    await t.connect('b2', { userId: 'bob', name: 'Bob', role: 'student' });
    await t.join('a', 'r');
    t.fanout.clear();

    await t.join('b1', 'r');
    expect(t.fanout.frames('a')).toEqual([{ type: 'presence', room: 'r', action: 'join', member: memberOf(bob1) }]);
    // The joiner is not told about itself, other than in the joined frame's presence list.
    expect(t.fanout.ofType('b1', 'presence')).toEqual([]);
    expect(t.fanout.last('b1')!.presence).toEqual(expect.arrayContaining([memberOf(ada), memberOf(bob1)]));

    // A second connection of the same user is not a new member.
    await t.join('b2', 'r');
    expect(t.fanout.ofType('a', 'presence')).toHaveLength(1);
    expect(t.fanout.ofType('b1', 'presence')).toEqual([]);
    expect((t.fanout.last('b2')!.presence as Member[]).filter((m) => m.userId === 'bob')).toHaveLength(1);

    // Leaving with one of two connections: still present.
    t.fanout.clear();
    await t.send('b1', { action: 'leave', room: 'r', id: 'bye' });
    expect(t.fanout.frames('b1')).toEqual([{ type: 'left', room: 'r', id: 'bye' }]);
    expect(t.fanout.frames('a')).toEqual([]);
    expect(t.fanout.frames('b2')).toEqual([]);

    // The last connection disconnecting: a leave for everyone still there.
    await t.engine.disconnect('b2');
    expect(t.fanout.frames('a')).toEqual([{ type: 'presence', room: 'r', action: 'leave', member: memberOf(bob1) }]);
    expect(await t.presence.list('r')).toEqual([memberOf(ada)]);
    expect(t.fanout.isSubscribed('b2', 'r')).toBe(false);
  });

  it('an explicit leave announces presence and stops delivery', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada', role: 'teacher' });
    const bob = await t.connect('b', { userId: 'bob' });
    await t.join('a', 'r');
    await t.join('b', 'r');
    t.fanout.clear();
    await t.send('b', { action: 'leave', room: 'r' });
    expect(t.fanout.frames('b')).toEqual([{ type: 'left', room: 'r' }]);
    expect(t.fanout.frames('a')).toEqual([{ type: 'presence', room: 'r', action: 'leave', member: memberOf(bob) }]);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', id: 'after' });
    expect(t.fanout.frames('b')).toEqual([{ type: 'left', room: 'r' }]);
    expect(await t.registry.members('r')).toEqual(['a']);
  });

  it('refuses leaving a room not joined: not_joined', async () => {
    const t = setup();
    await t.connect('a');
    await t.send('a', { action: 'leave', room: 'r', id: 'l1' });
    expect(t.fanout.frames('a')).toEqual([
      { type: 'error', code: 'not_joined', message: expect.any(String) as unknown, id: 'l1', action: 'leave', room: 'r' },
    ]);
  });

  it('disconnect is safe to call twice and leaves every room', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada' });
    const bob = await t.connect('b', { userId: 'bob' });
    await t.join('a', 'r1');
    await t.join('a', 'r2');
    await t.join('b', 'r1');
    await t.join('b', 'r2');
    t.fanout.clear();
    await t.engine.disconnect('b');
    await t.engine.disconnect('b');
    expect(t.fanout.frames('a')).toEqual([
      { type: 'presence', room: 'r1', action: 'leave', member: memberOf(bob) },
      { type: 'presence', room: 'r2', action: 'leave', member: memberOf(bob) },
    ]);
    expect(await t.registry.get('b')).toBeUndefined();
  });

  it('connect with a room makes the connection a member at once', async () => {
    const t = setup();
    await t.connect('a', { userId: 'ada' });
    await t.join('a', 'r');
    t.fanout.clear();
    const record: ConnectionRecord = {
      connectionId: 'api',
      userId: 'bob',
      name: 'Bob',
      role: 'student',
      rooms: ['r'],
      expiresAt: START + 1000,
      connectedAt: START,
      node: 'lambda',
    };
    await t.engine.connect(record, 'r');
    expect(t.fanout.frames('a')).toEqual([{ type: 'presence', room: 'r', action: 'join', member: memberOf(record) }]);
    expect(t.fanout.frames('api')).toEqual([]);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', id: 'm' });
    expect(t.messages('api').map((m) => m.seq)).toEqual([1]);
  });

  it('a join that fails after announcing presence leaves no ghost member behind', async () => {
    // The presence store fails once, after the user was added and announced.
    class FlakyPresence extends MemoryPresence {
      failNextList = false;
      override list(room: string): Promise<Member[]> {
        if (this.failNextList) {
          this.failNextList = false;
          return Promise.reject(new StoreUnavailableError('presence store down'));
        }
        return super.list(room);
      }
    }
    const presence = new FlakyPresence();
    const t = setup({ presence: presence as PresenceStore });
    await t.connect('a', { userId: 'ada', role: 'teacher' });
    await t.connect('b', { userId: 'bob' });
    await t.join('a', 'r');
    presence.failNextList = true;
    await t.send('b', { action: 'join', room: 'r', id: 'j' });
    expect(t.fanout.last('b')).toMatchObject({ type: 'error', code: 'unavailable', id: 'j' });
    expect((await t.registry.get('b'))!.joined.has('r')).toBe(false);

    await t.engine.disconnect('b');
    // Whatever was announced, bob must not stay listed as present, and a join seen by others gets a leave.
    expect((await presence.list('r')).map((m) => m.userId)).toEqual(['ada']);
    const seen = t.fanout.ofType('a', 'presence').filter((f) => (f.member as Member).userId === 'bob');
    expect(seen.filter((f) => f.action === 'join').length).toBe(seen.filter((f) => f.action === 'leave').length);
  });
});

describe('Engine: a failed rejoin', () => {
  it('keeps the membership and resumes live delivery instead of holding frames forever', async () => {
    class FlakyBroker extends MemoryBroker {
      failNextRead = false;
      override read(room: string, since?: number, epoch?: string) {
        if (this.failNextRead) {
          this.failNextRead = false;
          return Promise.reject(new StoreUnavailableError('log down'));
        }
        return super.read(room, since, epoch);
      }
    }
    const t = setup({ Broker: FlakyBroker });
    const broker = t.broker as FlakyBroker;
    await t.connect('a', { userId: 'ada', role: 'teacher' });
    await t.connect('b', { userId: 'bob' });
    await t.join('a', 'r');
    await t.join('b', 'r');
    broker.failNextRead = true;
    await t.send('b', { action: 'join', room: 'r', since: 0, id: 'again' });
    expect(t.fanout.last('b')).toMatchObject({ type: 'error', code: 'unavailable', id: 'again' });
    expect((await t.registry.get('b'))!.joined.has('r')).toBe(true);
    await t.send('a', { action: 'publish', room: 'r', event: 'chat.message', data: 'live', id: 'm1' });
    expect(t.fanout.ofType('b', 'message').map((f) => f.data)).toEqual(['live']);
  });
});

describe('Engine: direct messages', () => {
  async function classroom() {
    const t = setup();
    const teacher = await t.connect('t', { userId: 'teach', name: 'Ms T', role: 'teacher' });
    const s1 = await t.connect('s1', { userId: 'stu1', name: 'Sam', role: 'student' });
    await t.connect('s2', { userId: 'stu2', role: 'student' });
    await t.connect('far', { userId: 'stu3', role: 'student' });
    await t.join('t', 'r');
    await t.join('s1', 'r');
    await t.join('s2', 'r');
    await t.join('far', 'elsewhere');
    t.fanout.clear();
    return { ...t, teacher, s1 };
  }

  it('lets a student message a teacher who shares a room', async () => {
    const t = await classroom();
    t.clock.value = START + 5;
    await t.send('s1', { action: 'direct', to: 'teach', event: 'hand.raise', data: { q: 'help' }, id: 'd1' });
    expect(t.fanout.frames('t')).toEqual([
      {
        type: 'direct',
        ts: START + 5,
        event: 'hand.raise',
        data: { q: 'help' },
        from: { userId: 'stu1', role: 'student', name: 'Sam' },
        id: 'd1',
      },
    ]);
    expect(t.fanout.frames('s1')).toEqual([{ type: 'ack', id: 'd1' }]);
    expect(t.fanout.frames('s2')).toEqual([]);
  });

  it('delivers to every connection of the recipient that shares a room', async () => {
    const t = await classroom();
    await t.connect('t2', { userId: 'teach', name: 'Ms T', role: 'teacher' });
    await t.join('t2', 'r');
    await t.connect('t3', { userId: 'teach', name: 'Ms T', role: 'teacher' });
    t.fanout.clear();
    await t.send('s1', { action: 'direct', to: 'teach', event: 'hand.raise' });
    expect(t.fanout.ofType('t', 'direct')).toHaveLength(1);
    expect(t.fanout.ofType('t2', 'direct')).toHaveLength(1);
    expect(t.fanout.ofType('t3', 'direct')).toEqual([]);
    expect(t.fanout.ofType('t', 'direct')[0]!.data).toBeNull();
    // No id, no ack.
    expect(t.fanout.frames('s1')).toEqual([]);
  });

  it('lets a teacher message a student', async () => {
    const t = await classroom();
    await t.send('t', { action: 'direct', to: 'stu2', event: 'note', data: 'see me', id: 'd2' });
    expect(t.fanout.ofType('s2', 'direct')).toEqual([expect.objectContaining({ data: 'see me', from: expect.objectContaining({ userId: 'teach' }) as unknown })]);
    expect(t.fanout.last('t')).toEqual({ type: 'ack', id: 'd2' });
  });

  /** The answer to a direct message from `from` to `to`, without its id. */
  async function directAnswer(t: Awaited<ReturnType<typeof classroom>>, from: string, to: string): Promise<unknown> {
    t.fanout.clear();
    await t.send(from, { action: 'direct', to, event: 'note', id: 'probe' });
    return t.fanout.last(from);
  }

  it('refuses student to student exactly as an offline user: who is online does not leak', async () => {
    const t = await classroom();
    const offline = await directAnswer(t, 's1', 'nobody');
    expect(offline).toEqual({ type: 'error', code: 'not_found', message: expect.any(String) as unknown, id: 'probe', action: 'direct' });
    expect(await directAnswer(t, 's1', 'stu2')).toEqual(offline);
    expect(t.fanout.frames('s2')).toEqual([]);
  });

  it('refuses messaging staff who share no room exactly as an offline user', async () => {
    const t = await classroom();
    expect(await directAnswer(t, 'far', 'teach')).toEqual(await directAnswer(t, 'far', 'nobody'));
    expect(t.fanout.frames('t')).toEqual([]);
  });

  it('forbids observers sending direct messages', async () => {
    const t = await classroom();
    await t.connect('o', { userId: 'obs', role: 'observer' });
    await t.join('o', 'r');
    t.fanout.clear();
    await t.send('o', { action: 'direct', to: 'teach', event: 'note', id: 'd5' });
    expect(t.fanout.last('o')).toMatchObject({ type: 'error', code: 'forbidden', id: 'd5' });
    expect(t.fanout.frames('t')).toEqual([]);
  });

  it('answers an unknown recipient with not_found', async () => {
    const t = await classroom();
    await t.send('s1', { action: 'direct', to: 'nobody', event: 'note', id: 'd6' });
    expect(t.fanout.frames('s1')).toEqual([
      { type: 'error', code: 'not_found', message: expect.any(String) as unknown, id: 'd6', action: 'direct' },
    ]);
  });
});

describe('Engine: joined with many members', () => {
  it('pages 1,000 members with long names into members frames before joined: every frame fits', async () => {
    const presence = new MemoryPresence();
    const t = setup({ presence });
    for (let i = 0; i < 1000; i++) {
      await presence.add('big', { userId: `member-${i}-${'x'.repeat(100)}`, role: 'student', name: `Student ${i} ${'y'.repeat(50)}` }, `conn-${i}`);
    }
    await t.connect('joiner');
    await t.send('joiner', { action: 'join', room: 'big', id: 'j' });
    const raw = t.fanout.raw('joiner');
    for (const frame of raw) expect(utf8Length(frame)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxFrameBytes);
    const frames = t.fanout.frames('joiner');
    const joined = frames.at(-1)!;
    const parts = frames.filter((f) => f.type === 'members');
    expect(parts.length).toBeGreaterThan(1);
    expect(joined).toMatchObject({ type: 'joined', id: 'j', presence: [], presenceParts: parts.length });
    const members = parts.flatMap((p) => p.members as { userId: string }[]);
    expect(members).toHaveLength(1001);
    expect(new Set(members.map((m) => m.userId)).size).toBe(1001);
  });
});

describe('Engine: rate limiting', () => {
  it("turns 'limited' into rate_limited errors and 'abusive' into a 4002 close", async () => {
    const clock = { value: START };
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 2, abusiveAfter: 2, now: () => clock.value });
    const t = setup({ rateLimiter: limiter });
    await t.connect('c');
    await t.send('c', { action: 'ping', id: 'p1' });
    await t.send('c', { action: 'ping', id: 'p2' });
    expect(t.fanout.frames('c')).toEqual([
      { type: 'pong', ts: START, id: 'p1' },
      { type: 'pong', ts: START, id: 'p2' },
    ]);
    t.fanout.clear();

    await t.send('c', { action: 'ping', id: 'p3' });
    await t.send('c', { action: 'ping', id: 'p4' });
    // The refusal echoes the frame's id, so the sender knows what to retry.
    expect(t.fanout.frames('c')).toEqual([
      { type: 'error', code: 'rate_limited', message: expect.any(String) as unknown, id: 'p3', action: 'ping' },
      { type: 'error', code: 'rate_limited', message: expect.any(String) as unknown, id: 'p4', action: 'ping' },
    ]);
    expect(t.fanout.closed).toEqual([]);

    await t.send('c', { action: 'ping', id: 'p5' });
    expect(t.fanout.closed).toEqual([{ connectionId: 'c', code: CLOSE_CODES.rateLimited, reason: expect.any(String) as unknown }]);
    expect(CLOSE_CODES.rateLimited).toBe(4002);
    expect(t.fanout.frames('c')).toHaveLength(2);
  });

  it('charges the byte bucket with each frame\'s UTF-8 size, refusing with rate_limited', async () => {
    const clock = { value: START };
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1000, burst: 1000, bytesPerSecond: 1024, bytesBurst: 4096, now: () => clock.value });
    const t = setup({ rateLimiter: limiter });
    await t.connect('c');
    // 700 two-byte characters: about 1,440 bytes a frame, but only 740 UTF-16 units.
    const ping = (id: string) => t.send('c', { action: 'ping', id, pad: 'é'.repeat(700) });
    await ping('b1');
    await ping('b2');
    await ping('b3');
    expect(t.fanout.frames('c').map((f) => f.type)).toEqual(['pong', 'pong', 'error']);
    expect(t.fanout.last('c')).toMatchObject({ code: 'rate_limited', id: 'b3' });
    clock.value += 2000;
    await ping('b4');
    expect(t.fanout.last('c')).toMatchObject({ type: 'pong', id: 'b4' });
  });

  it('limits joins per user across connections with rate_limited, refilling over time (a rejoin loop slows down)', async () => {
    const t = setup({ joinRate: { perSecond: 0.5, burst: 3 } });
    await t.connect('a', { userId: 'looper' });
    await t.connect('b', { userId: 'looper' });
    await t.connect('other', { userId: 'calm' });
    const join = async (connectionId: string, id: string) => {
      await t.send(connectionId, { action: 'join', room: 'r', id });
      return t.fanout.frames(connectionId).find((f) => f.id === id);
    };
    expect(await join('a', 'j1')).toMatchObject({ type: 'joined' });
    expect(await join('a', 'j2')).toMatchObject({ type: 'joined' });
    expect(await join('b', 'j3')).toMatchObject({ type: 'joined' });
    expect(await join('b', 'j4')).toMatchObject({ type: 'error', code: 'rate_limited', id: 'j4', action: 'join' });
    // Other users are not affected.
    expect(await join('other', 'j5')).toMatchObject({ type: 'joined' });
    t.clock.value += 2000;
    expect(await join('b', 'j6')).toMatchObject({ type: 'joined' });
    expect(await join('a', 'j7')).toMatchObject({ type: 'error', code: 'rate_limited' });
  });

  it('limits history pages per user across connections (each may be a database query), refilling over time', async () => {
    const t = setup({ historyRate: { perSecond: 1, burst: 2 } });
    await t.connect('a', { userId: 'reader' });
    await t.connect('b', { userId: 'reader' });
    await t.connect('other', { userId: 'calm' });
    for (const id of ['a', 'b', 'other']) await t.join(id, 'r');
    const page = async (connectionId: string, id: string) => {
      await t.send(connectionId, { action: 'history', room: 'r', id });
      return t.fanout.frames(connectionId).find((f) => f.id === id);
    };
    expect(await page('a', 'h1')).toMatchObject({ type: 'history' });
    expect(await page('b', 'h2')).toMatchObject({ type: 'history' });
    expect(await page('a', 'h3')).toMatchObject({ type: 'error', code: 'rate_limited', id: 'h3', action: 'history' });
    expect(await page('other', 'h4')).toMatchObject({ type: 'history' });
    t.clock.value += 1000;
    expect(await page('b', 'h5')).toMatchObject({ type: 'history' });
  });

  it('consults the limiter before parsing, and forgets the connection on disconnect', async () => {
    const decisions: string[] = [];
    const forgotten: string[] = [];
    const limiter: RateLimiter = {
      take: (id) => {
        decisions.push(id);
        return 'limited';
      },
      delayMs: () => 250,
      sweep: () => undefined,
      forget: (id) => {
        forgotten.push(id);
      },
    };
    const t = setup({ rateLimiter: limiter });
    await t.connect('c');
    expect(await t.engine.handleFrame('c', 'not json')).toBe('limited');
    expect(decisions).toEqual(['c']);
    expect(t.engine.admissionDelayMs('c', 10)).toBe(250);
    expect(t.fanout.frames('c')).toEqual([{ type: 'error', code: 'rate_limited', message: expect.any(String) as unknown }]);
    await t.engine.disconnect('c');
    expect(forgotten).toEqual(['c']);
  });
});

describe('Engine: publishAsServer', () => {
  it('sequences server messages with the server sender and delivers them', async () => {
    const t = setup();
    await t.connect('a');
    await t.join('a', 'r');
    t.fanout.clear();
    t.clock.value = START + 9;
    expect(await t.engine.publishAsServer('r', { event: 'class.announcement', data: { text: 'hi' } })).toEqual({
      seq: 1,
      duplicate: false,
    });
    expect(await t.engine.publishAsServer('r', { event: 'class.announcement', data: 'two', id: 's-2' })).toEqual({
      seq: 2,
      duplicate: false,
    });
    expect(t.messages('a')).toEqual([
      {
        type: 'message',
        room: 'r',
        seq: 1,
        ts: START + 9,
        event: 'class.announcement',
        data: { text: 'hi' },
        from: { userId: 'server', role: 'server', name: 'Server' },
      },
      {
        type: 'message',
        room: 'r',
        seq: 2,
        ts: START + 9,
        event: 'class.announcement',
        data: 'two',
        from: { userId: 'server', role: 'server', name: 'Server' },
        id: 's-2',
      },
    ]);
  });

  it('deduplicates by id and reports a conflict for different content', async () => {
    const t = setup();
    await t.connect('a');
    await t.join('a', 'r');
    t.fanout.clear();
    expect(await t.engine.publishAsServer('r', { event: 'e', data: 1, id: 'x' })).toEqual({ seq: 1, duplicate: false });
    expect(await t.engine.publishAsServer('r', { event: 'e', data: 1, id: 'x' })).toEqual({ seq: 1, duplicate: true });
    expect(t.messages('a')).toHaveLength(1);
    const error = await t.engine.publishAsServer('r', { event: 'e', data: 2, id: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('conflict');
    expect(t.messages('a')).toHaveLength(1);
  });

  it('uses a given sender', async () => {
    const t = setup();
    await t.connect('a');
    await t.join('a', 'r');
    await t.engine.publishAsServer('r', { event: 'lms.grade', from: { userId: 'lms', role: 'server', name: 'LMS' } });
    expect(t.messages('a')[0]).toMatchObject({ from: { userId: 'lms', role: 'server', name: 'LMS' }, data: null });
  });

  it('refuses oversized messages', async () => {
    const t = setup({ maxFrameBytes: 512 });
    await expect(t.engine.publishAsServer('r', { event: 'e', data: 'x'.repeat(1000) })).rejects.toMatchObject({
      code: 'payload_too_large',
    });
    expect((await t.broker.read('r')).seq).toBe(0);
  });
});

describe('Engine: bad frames', () => {
  it('answers malformed frames with bad_request, echoing id and action when known', async () => {
    const t = setup();
    await t.connect('c');
    await t.engine.handleFrame('c', '{not json');
    await t.engine.handleFrame('c', '[1,2]');
    await t.send('c', { action: 'shout', id: 'u1' });
    await t.send('c', { action: 'publish', room: 'r', event: 'chat.message', id: 'x', extra: 1, data: 1, room2: 2, ephemeral: 'no' });
    await t.send('c', { action: 'publish', room: 'r', event: 'chat.message' });
    await t.send('c', { action: 'join', room: 'bad room', id: 'j' });
    const bad = expect.any(String) as unknown;
    expect(t.fanout.frames('c')).toEqual([
      { type: 'error', code: 'bad_request', message: bad },
      { type: 'error', code: 'bad_request', message: bad },
      { type: 'error', code: 'bad_request', message: bad, id: 'u1' },
      { type: 'error', code: 'bad_request', message: bad, id: 'x', action: 'publish' },
      { type: 'error', code: 'bad_request', message: bad, action: 'publish' },
      { type: 'error', code: 'bad_request', message: bad, id: 'j', action: 'join' },
    ]);
  });

  it('answers ping with pong', async () => {
    const t = setup();
    t.clock.value = START + 77;
    await t.send('anyone', { action: 'ping', id: 'p' });
    await t.send('anyone', { action: 'ping' });
    expect(t.fanout.frames('anyone')).toEqual([
      { type: 'pong', ts: START + 77, id: 'p' },
      { type: 'pong', ts: START + 77 },
    ]);
  });

  it('maps store failures to unavailable and unexpected failures to internal', async () => {
    const t = setup();
    await t.connect('c');
    await t.join('c', 'r');
    const original = t.broker.publish.bind(t.broker);
    t.broker.publish = () => Promise.reject(new StoreUnavailableError('redis down'));
    await t.send('c', { action: 'publish', room: 'r', event: 'chat.message', id: 'u' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'unavailable', id: 'u', action: 'publish', room: 'r' });
    t.broker.publish = () => Promise.reject(new Error('boom'));
    await t.send('c', { action: 'publish', room: 'r', event: 'chat.message', id: 'i' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'internal', id: 'i' });
    t.broker.publish = original;
    await t.send('c', { action: 'publish', room: 'r', event: 'chat.message', id: 'ok' });
    expect(t.fanout.last('c')).toEqual({ type: 'ack', id: 'ok', room: 'r', seq: 1 });
  });
});

describe('Engine: concurrent publishes (property)', () => {
  it('every member receives the same gapless 1..N sequence exactly once, and every publish one ack', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 40 }), async (senders) => {
        const t = setup();
        const ids = ['c0', 'c1', 'c2'];
        for (const [i, id] of ids.entries()) {
          await t.connect(id, { userId: `user-${i}`, role: i === 0 ? 'teacher' : 'student' });
          await t.join(id, 'room');
        }
        t.fanout.clear();

        await Promise.all(
          senders.map((sender, n) =>
            t.engine.handleFrame(
              ids[sender]!,
              JSON.stringify({ action: 'publish', room: 'room', event: 'chat.message', data: { n }, id: `p${n}` }),
            ),
          ),
        );

        const total = senders.length;
        const expectedSeqs = Array.from({ length: total }, (_, i) => i + 1);
        const reference = t.messages('c0');
        for (const id of ids) {
          const received = t.messages(id);
          expect(received.map((m) => m.seq)).toEqual(expectedSeqs);
          // Everyone sees the same message at each seq.
          expect(received).toEqual(reference);
          expect(t.fanout.ofType(id, 'error')).toEqual([]);
        }
        // Each publish got exactly one ack, from its own connection, carrying the seq its message has.
        const seqOfPublish = new Map(reference.map((m) => [m.id as string, m.seq as number]));
        expect(seqOfPublish.size).toBe(total);
        for (const [sender, id] of ids.entries()) {
          const acks = t.fanout.ofType(id, 'ack');
          const mine = senders.map((s, n) => (s === sender ? `p${n}` : undefined)).filter((x) => x !== undefined);
          expect(acks.map((a) => a.id).sort()).toEqual([...mine].sort());
          for (const ack of acks) expect(ack.seq).toBe(seqOfPublish.get(ack.id as string));
        }
        // Each message says who sent it.
        for (const m of reference) {
          const n = (m.data as { n: number }).n;
          expect((m.from as Member).userId).toBe(`user-${senders[n]}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a resume racing with publishes sees every message once: replay before joined, live after', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        async (before, senders, joinAt) => {
          const t = setup();
          const ids = ['c0', 'c1'];
          for (const [i, id] of ids.entries()) {
            await t.connect(id, { userId: `user-${i}` });
            await t.join(id, 'room');
          }
          const publish = (sender: number, n: number) =>
            t.engine.handleFrame(
              ids[sender]!,
              JSON.stringify({ action: 'publish', room: 'room', event: 'chat.message', data: n, id: `p${n}` }),
            );
          for (let n = 0; n < before; n++) await publish(n % 2, n);
          const { epoch } = await t.broker.read('room');
          await t.connect('late', { userId: 'late-user' });

          const calls: (() => Promise<unknown>)[] = senders.map((s, k) => () => publish(s, before + k));
          const position = joinAt % (calls.length + 1);
          calls.splice(position, 0, () => t.send('late', { action: 'join', room: 'room', since: 0, epoch }));
          await Promise.all(calls.map((call) => call()));

          const total = before + senders.length;
          const frames = t.fanout.frames('late').filter((f) => f.type === 'message' || f.type === 'joined');
          const joinedAt = frames.findIndex((f) => f.type === 'joined');
          expect(joinedAt).toBeGreaterThanOrEqual(0);
          const joined = frames[joinedAt]!;
          expect(joined.recovered).toBe(true);
          const seqs = frames.filter((f) => f.type === 'message').map((f) => f.seq as number);
          expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
          // Everything up to joined.seq is replayed before joined; everything after comes live, after it.
          expect(frames.slice(0, joinedAt).map((f) => f.seq)).toEqual(Array.from({ length: joined.seq as number }, (_, i) => i + 1));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('Engine: in-band token refresh', () => {
  const secret = 'engine-test-secret-that-is-at-least-32-chars';
  const tokens = new JwtAuthorizer({ secret });
  const sign = (sub: string, exp: number, key = secret): Promise<string> =>
    new SignJWT({ role: 'student', rooms: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(key));
  // Tokens are verified against the real clock, so their exp is in the real future.
  const later = (): number => Math.floor(Date.now() / 1000) + 7200;

  function refreshSetup() {
    const changed: [string, number][] = [];
    const t = setup({ tokens, expiryChanged: (connectionId, expiresAt) => changed.push([connectionId, expiresAt]) });
    return { ...t, changed };
  }

  it('moves the connection\'s expiry to the new token\'s exp, tells the runtime, and acks', async () => {
    const t = refreshSetup();
    const record = await t.connect('c', { userId: 'ada' });
    const exp = later();
    await t.send('c', { action: 'refresh', token: await sign('ada', exp), id: 'r1' });
    expect(t.fanout.last('c')).toEqual({ type: 'ack', id: 'r1' });
    expect((await t.registry.get('c'))?.expiresAt).toBe(exp * 1000);
    expect(exp * 1000).not.toBe(record.expiresAt);
    expect(t.changed).toEqual([['c', exp * 1000]]);
  });

  it('refuses a token of another user: forbidden, and the old expiry stands', async () => {
    const t = refreshSetup();
    const record = await t.connect('c', { userId: 'ada' });
    await t.send('c', { action: 'refresh', token: await sign('mallory', later()), id: 'r1' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'forbidden', id: 'r1' });
    expect((await t.registry.get('c'))?.expiresAt).toBe(record.expiresAt);
    expect(t.changed).toEqual([]);
  });

  it('refuses a forged or expired token: unauthorized, and the old expiry stands', async () => {
    const t = refreshSetup();
    const record = await t.connect('c', { userId: 'ada' });
    await t.send('c', { action: 'refresh', token: await sign('ada', later(), 'another-secret-that-is-at-least-32-chars!'), id: 'r1' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'unauthorized', id: 'r1' });
    await t.send('c', { action: 'refresh', token: await sign('ada', Math.floor(Date.now() / 1000) - 60), id: 'r2' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'unauthorized', id: 'r2' });
    expect((await t.registry.get('c'))?.expiresAt).toBe(record.expiresAt);
    expect(t.changed).toEqual([]);
  });

  it('refuses every refresh when no token verifier is configured', async () => {
    const t = setup();
    await t.connect('c', { userId: 'ada' });
    await t.send('c', { action: 'refresh', token: await sign('ada', later()), id: 'r1' });
    expect(t.fanout.last('c')).toMatchObject({ type: 'error', code: 'unauthorized', id: 'r1' });
  });
});
