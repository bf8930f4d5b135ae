import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { encodeAckFrame, encodeErrorFrame, encodeJoinedFrame, encodePongFrame } from '@classwire/protocol';
import { MAX_REFUSED_RETRIES } from '../src/outbox.js';
import type { Gateway } from '../../gateway/src/index.js';
import { ClasswireError, type ConnectionState, type RoomMessage } from '../src/node.js';
import { API_KEY, RUNTIMES, collect, eventually, makeToken, range, sdkClient, startRuntime, wsUrl } from './helpers.js';
import { TestClient } from '../../../test-support/harness.js';

describe.each(RUNTIMES)('ClasswireClient on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime(runtime, { CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('connects, joins, publishes with acks and delivers in order to every member', async () => {
    const states: ConnectionState[] = [];
    const alice = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'alice', name: 'Alice', rooms: ['c1'] }) });
    alice.on('state', ({ state }) => states.push(state));
    const bob = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'bob', rooms: ['c1'] }) });
    const roomA = alice.join('c1');
    const roomB = bob.join('c1');
    const [infoA] = await Promise.all([roomA.ready, roomB.ready]);
    expect(infoA.recovered).toBe(false);
    const seen: RoomMessage[] = [];
    roomB.on('chat.message', collect(seen));
    const all: RoomMessage[] = [];
    roomB.on('*', collect(all));
    const seqs = await Promise.all(range(1, 20).map((i) => roomA.publish('chat.message', { i })));
    expect(seqs).toEqual(range(1, 20));
    await roomA.publish('chat.other', 'x');
    await eventually(() => all.length === 21);
    expect(seen.map((m) => m.seq)).toEqual(range(1, 20));
    expect(seen.map((m) => (m.data as { i: number }).i)).toEqual(range(1, 20));
    expect(seen[0]!.from).toEqual({ userId: 'alice', role: 'student', name: 'Alice' });
    expect(roomB.lastSeq).toBe(21);
    expect(states).toEqual(['connecting', 'open']);
    alice.close();
    bob.close();
    expect(alice.state).toBe('closed');
  });

  it('tracks presence per user and reports changes', async () => {
    const teacher = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 't', role: 'teacher', rooms: ['p1'] }) });
    const room = teacher.join('p1');
    await room.ready;
    const changes: string[] = [];
    room.onPresence((change) => changes.push(`${change.action}:${change.member.userId}:${change.members.length}`));
    const student = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 's', rooms: ['p1'] }) });
    await student.join('p1').ready;
    await eventually(() => room.presence.length === 2);
    student.close();
    await eventually(() => room.presence.length === 1);
    expect(changes).toEqual(['join:s:2', 'leave:s:1']);
    teacher.close();
  });

  it('sends direct messages and delivers them once', async () => {
    const teacher = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'dm-t', role: 'teacher', rooms: ['dm'] }) });
    const student = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'dm-s', rooms: ['dm'] }) });
    await Promise.all([teacher.join('dm').ready, student.join('dm').ready]);
    const received: unknown[] = [];
    teacher.on('direct', (message) => received.push(message.data));
    await student.direct('dm-t', 'chat.private', 'question');
    await eventually(() => received.length === 1);
    expect(received).toEqual(['question']);
    await expect(student.direct('nobody', 'chat.private', 'x')).rejects.toMatchObject({ code: 'not_found' });
    teacher.close();
    student.close();
  });

  it('rejects a refused join and a forbidden publish with typed errors', async () => {
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['mine'] }) });
    const refused = client.join('theirs');
    await expect(refused.ready).rejects.toBeInstanceOf(ClasswireError);
    await expect(refused.ready).rejects.toMatchObject({ code: 'forbidden' });
    expect(refused.state).toBe('failed');
    const room = client.join('mine');
    await room.ready;
    await expect(room.publish('class.start', {})).rejects.toMatchObject({ code: 'forbidden' });
    expect(await room.publish('chat.message', 'still fine')).toBe(1);
    client.close();
  });

  it('keeps working when an app handler throws', async () => {
    const errors: unknown[] = [];
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['throws'] }) });
    client.on('error', (error) => errors.push(error));
    const room = client.join('throws');
    await room.ready;
    const delivered: number[] = [];
    room.on('chat.message', () => {
      throw new Error('app bug');
    });
    room.on('chat.message', (m) => delivered.push(m.seq!));
    await room.publish('chat.message', 1);
    await room.publish('chat.message', 2);
    await eventually(() => delivered.length === 2);
    expect(delivered).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
    expect((errors[0] as Error).message).toBe('app bug');
    client.close();
  });

  it('leaves a room and rejects publishes to it', async () => {
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['bye'] }) });
    const room = client.join('bye');
    await room.ready;
    await room.leave();
    expect(room.state).toBe('left');
    await expect(room.publish('chat.message', 1)).rejects.toMatchObject({ code: 'not_joined' });
    client.close();
  });

  it('queues publishes while offline up to a bound, and rejects everything pending on close', async () => {
    const client = sdkClient('ws://127.0.0.1:9/ws', { token: await makeToken({ rooms: ['q'] }), maxPendingPublishes: 3 });
    const room = client.join('q');
    const queued = [room.publish('chat.message', 1), room.publish('chat.message', 2), room.publish('chat.message', 3)];
    await expect(room.publish('chat.message', 4)).rejects.toMatchObject({ code: 'queue_full' });
    expect(client.pendingCount).toBe(3);
    client.close();
    for (const publish of queued) await expect(publish).rejects.toMatchObject({ code: 'closed' });
    await expect(room.ready).rejects.toMatchObject({ code: 'closed' });
  });

  it('stops reconnecting when the server ends the session (DeleteConnection closes with 1000)', async () => {
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['x'] }) });
    const { connectionId } = await client.join('x').ready;
    const closed = new Promise<number>((resolve) => client.on('closed', (info) => resolve(info.code)));
    const response = await fetch(`${gateway.url}/@connections/${encodeURIComponent(connectionId)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(response.status).toBe(204);
    expect(await closed).toBe(1000);
    expect(client.state).toBe('closed');
  });
});

describe('ClasswireClient against a server that keeps refusing one publish', () => {
  it('gives the publish up after a bounded number of retries, rejects it with the last error, and later ones go ahead', async () => {
    // A real socket server whose only fault is answering every `doomed` publish with a retryable error.
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const attempts: string[] = [];
    server.on('connection', (socket) => {
      socket.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { action: string; room: string; id?: string; event?: string };
        if (frame.action === 'ping') socket.send(encodePongFrame(Date.now(), frame.id));
        if (frame.action === 'join') {
          socket.send(encodeJoinedFrame({ room: frame.room, connectionId: 'c', seq: 0, epoch: 'e', recovered: false, presence: [], id: frame.id }));
        }
        if (frame.action !== 'publish') return;
        attempts.push(frame.event!);
        if (frame.event === 'doomed') socket.send(encodeErrorFrame('internal', 'always', { id: frame.id, action: 'publish', room: frame.room }));
        else socket.send(encodeAckFrame(frame.id!, frame.room, 1));
      });
    });
    const { port } = server.address() as { port: number };
    const client = sdkClient(`ws://127.0.0.1:${port}`, { token: 'unused', reconnect: { baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const room = client.join('r');
      await room.ready;
      const doomed = room.publish('doomed', 1);
      const later = room.publish('fine', 2);
      await expect(doomed).rejects.toMatchObject({ code: 'internal' });
      expect(await later).toBe(1);
      expect(attempts.filter((e) => e === 'doomed')).toHaveLength(1 + MAX_REFUSED_RETRIES);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe.each(RUNTIMES)('a member list larger than a frame on %s', (runtime) => {
  it('arrives in members frames that each fit, and the SDK assembles the whole presence', async () => {
    const maxFrameBytes = 2048;
    const gateway = await startRuntime(runtime, { CLASSWIRE_MAX_FRAME_BYTES: String(maxFrameBytes), CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' });
    const members: TestClient[] = [];
    try {
      // 40 members of ~250 bytes each: about five frames' worth of presence.
      for (let i = 0; i < 40; i++) {
        const token = await makeToken({ sub: `member-${i}-${'m'.repeat(100)}`, name: `Member ${i} ${'n'.repeat(40)}`, rooms: ['crowd'] });
        members.push(await TestClient.connect(gateway, token, { room: 'crowd' }));
      }
      const raw = await TestClient.connect(gateway, await makeToken({ sub: 'raw-joiner', rooms: ['crowd'] }));
      members.push(raw);
      const joined = await raw.join('crowd');
      expect(joined).toMatchObject({ type: 'joined', presence: [] });
      const parts = raw.frames.filter((f) => f.type === 'members');
      expect(parts.length).toBe(joined.presenceParts);
      expect(parts.flatMap((p) => p.members as unknown[])).toHaveLength(41);
      for (const frame of raw.frames) expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThanOrEqual(maxFrameBytes);
      const sdk = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'sdk-joiner', rooms: ['crowd'] }) });
      const info = await sdk.join('crowd').ready;
      expect(info.presence).toHaveLength(42);
      sdk.close();
    } finally {
      await Promise.all(members.map((m) => m.close()));
      await gateway.drain();
    }
  });
});
