import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { RUNTIMES, TestClient, makeToken, startRuntime, type Frame } from '../../../test-support/harness.js';

describe.each(RUNTIMES)('rooms on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime(runtime, { CLASSWIRE_HISTORY_SIZE: '20', CLASSWIRE_RATE_BURST: '1000', CLASSWIRE_RATE_PER_SECOND: '1000' });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  async function member(room: string, options: Parameters<typeof makeToken>[0] = {}): Promise<TestClient> {
    const client = await TestClient.connect(gateway, await makeToken({ rooms: [room], ...options }));
    const joined = await client.join(room);
    expect(joined.type).toBe('joined');
    return client;
  }

  function seqs(frames: Frame[]): number[] {
    return frames.map((f) => f.seq as number);
  }

  describe('rooms', () => {
    it('delivers every message once to every member in one gapless order, and nothing to another room', async () => {
      const [a, b, c] = await Promise.all([member('order'), member('order'), member('order')]);
      const outsider = await member('elsewhere');
      const publishers = [a!, b!, c!];
      const perPublisher = 30;
      const acks = await Promise.all(
        publishers.flatMap((client, p) =>
          Array.from({ length: perPublisher }, (_, i) =>
            client.request({ action: 'publish', room: 'order', event: 'chat.message', data: { p, i } }),
          ),
        ),
      );
      expect(acks.every((ack) => ack.type === 'ack')).toBe(true);
      const total = publishers.length * perPublisher;
      expect(new Set(acks.map((ack) => ack.seq)).size).toBe(total);
      // The gateway writes a room's messages in seq order and handles one connection's frames in order. API
      // Gateway does neither (every frame and every post is its own invocation, run concurrently): there the
      // order is the seq, which clients sort by (the SDK does), and a publisher that wants its own order kept
      // waits for each ack (the SDK's default). Either way each member gets each message once.
      const inArrivalOrder = runtime === 'gateway';
      const bySeq = (frames: Frame[]) => (inArrivalOrder ? frames : [...frames].sort((x, y) => (x.seq as number) - (y.seq as number)));
      const first = seqs(bySeq(await a!.waitForMessages('order', total)));
      expect(first).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      for (const client of publishers) {
        const received = bySeq(await client.waitForMessages('order', total));
        expect(seqs(received)).toEqual(first);
        expect(received.map((f) => f.data)).toEqual(bySeq(await a!.waitForMessages('order', total)).map((f) => f.data));
      }
      if (inArrivalOrder) {
        // Each publisher's own messages arrive in the order it sent them.
        for (let p = 0; p < publishers.length; p++) {
          const own = a!.messages('order').filter((f) => (f.data as { p: number }).p === p);
          expect(own.map((f) => (f.data as { i: number }).i)).toEqual(Array.from({ length: perPublisher }, (_, i) => i));
        }
      }
      await outsider.request({ action: 'ping' });
      expect(outsider.messages()).toHaveLength(0);
      await Promise.all([...publishers, outsider].map((client) => client.close()));
    });

    it('sets the sender from the token, never from the frame', async () => {
      const teacher = await member('identity', { sub: 'teacher-1', name: 'Ms Gray', role: 'teacher' });
      await teacher.request({
        action: 'publish',
        room: 'identity',
        event: 'chat.message',
        data: 'hi',
        from: { userId: 'someone-else', role: 'teacher' },
      });
      const [message] = await teacher.waitForMessages('identity', 1);
      expect(message!.from).toEqual({ userId: 'teacher-1', role: 'teacher', name: 'Ms Gray' });
      await teacher.close();
    });

    it('resumes with exactly the missed messages, in order, before joined', async () => {
      const publisher = await member('resume');
      const reader = await member('resume', { sub: 'reader' });
      await publisher.request({ action: 'publish', room: 'resume', event: 'chat.message', data: 1 });
      const [seen] = await reader.waitForMessages('resume', 1);
      const joined = reader.frames.find((f) => f.type === 'joined')!;
      await reader.close();
      for (let i = 2; i <= 6; i++) await publisher.request({ action: 'publish', room: 'resume', event: 'chat.message', data: i });

      const back = await TestClient.connect(gateway, await makeToken({ sub: 'reader', rooms: ['resume'] }));
      const rejoined = await back.join('resume', { since: seen!.seq, epoch: joined.epoch });
      expect(rejoined.recovered).toBe(true);
      expect(rejoined.seq).toBe(6);
      const replay = back.messages('resume');
      expect(replay.map((f) => f.data)).toEqual([2, 3, 4, 5, 6]);
      expect(seqs(replay)).toEqual([2, 3, 4, 5, 6]);
      // Replayed frames precede `joined`.
      expect(back.frames.findIndex((f) => f.type === 'joined')).toBe(5);
      // Live traffic continues after the replay without a gap or a duplicate.
      await publisher.request({ action: 'publish', room: 'resume', event: 'chat.message', data: 7 });
      expect(seqs(await back.waitForMessages('resume', 6))).toEqual([2, 3, 4, 5, 6, 7]);
      await Promise.all([publisher.close(), back.close()]);
    });

    it('answers recovered:false, with no partial replay, when the gap is older than the history', async () => {
      const publisher = await member('overflow');
      const joined = publisher.frames.find((f) => f.type === 'joined')!;
      for (let i = 1; i <= 25; i++) await publisher.request({ action: 'publish', room: 'overflow', event: 'chat.message', data: i });
      const late = await TestClient.connect(gateway, await makeToken({ rooms: ['overflow'] }));
      const rejoined = await late.join('overflow', { since: 2, epoch: joined.epoch });
      expect(rejoined.recovered).toBe(false);
      expect(rejoined.seq).toBe(25);
      expect(late.messages('overflow')).toHaveLength(0);
      // Within the kept window (the last 20: seq 6..25) recovery works.
      const inside = await TestClient.connect(gateway, await makeToken({ rooms: ['overflow'] }));
      const ok = await inside.join('overflow', { since: 5, epoch: joined.epoch });
      expect(ok.recovered).toBe(true);
      expect(seqs(inside.messages('overflow'))).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
      // A different epoch means the history the client knew is gone.
      const stale = await TestClient.connect(gateway, await makeToken({ rooms: ['overflow'] }));
      expect((await stale.join('overflow', { since: 24, epoch: 'other' })).recovered).toBe(false);
      await Promise.all([publisher.close(), late.close(), inside.close(), stale.close()]);
    });

    it('acks a retried publish id with the same seq and delivers it once', async () => {
      const sender = await member('retry');
      const receiver = await member('retry');
      const frame = { action: 'publish', room: 'retry', event: 'chat.message', data: 'once', id: 'msg-1' };
      const first = await sender.request(frame);
      const second = await sender.request(frame);
      expect(second).toEqual(first);
      await sender.request({ action: 'publish', room: 'retry', event: 'chat.message', data: 'next', id: 'msg-2' });
      const received = await receiver.waitForMessages('retry', 2);
      expect(received.map((f) => f.data)).toEqual(['once', 'next']);
      const conflict = await sender.request({ ...frame, data: 'changed' });
      expect(conflict).toMatchObject({ type: 'error', code: 'conflict', id: 'msg-1' });
      await Promise.all([sender.close(), receiver.close()]);
    });

    it('delivers ephemeral events live without storing them', async () => {
      const a = await member('ephemeral');
      const b = await member('ephemeral');
      const joined = a.frames.find((f) => f.type === 'joined')!;
      const ack = await a.request({ action: 'publish', room: 'ephemeral', event: 'cursor.move', data: { x: 1 }, ephemeral: true });
      expect(ack).toMatchObject({ type: 'ack', room: 'ephemeral' });
      expect(ack.seq).toBeUndefined();
      const [cursor] = await b.waitForMessages('ephemeral', 1);
      expect(cursor).toMatchObject({ ephemeral: true, event: 'cursor.move', data: { x: 1 } });
      expect(cursor!.seq).toBeUndefined();
      const late = await TestClient.connect(gateway, await makeToken({ rooms: ['ephemeral'] }));
      const rejoined = await late.join('ephemeral', { since: 0, epoch: joined.epoch });
      expect(rejoined).toMatchObject({ recovered: true, seq: 0 });
      expect(late.messages()).toHaveLength(0);
      await Promise.all([a.close(), b.close(), late.close()]);
    });

    it('keeps presence per user: two tabs are one member, closing one keeps the user present', async () => {
      const watcher = await member('presence', { sub: 'watcher' });
      const tab1 = await member('presence', { sub: 'alice', name: 'Alice' });
      const joinedFrame = await watcher.next((f) => f.type === 'presence');
      expect(joinedFrame).toMatchObject({ action: 'join', member: { userId: 'alice', name: 'Alice', role: 'student' } });
      const tab2 = await member('presence', { sub: 'alice', name: 'Alice' });
      const reply = tab2.frames.find((f) => f.type === 'joined')!;
      expect((reply.presence as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['alice', 'watcher']);
      await tab1.close();
      await tab2.request({ action: 'ping' });
      await watcher.request({ action: 'ping' });
      expect(watcher.frames.filter((f) => f.type === 'presence')).toHaveLength(1);
      await tab2.close();
      const left = await watcher.next((f) => f.type === 'presence' && f.action === 'leave');
      expect(left).toMatchObject({ member: { userId: 'alice' } });
      await watcher.close();
    });

    it('leaves a room on request and stops delivering it', async () => {
      const a = await member('leaving');
      const b = await member('leaving');
      expect(await b.request({ action: 'leave', room: 'leaving' })).toMatchObject({ type: 'left', room: 'leaving' });
      await a.request({ action: 'publish', room: 'leaving', event: 'chat.message', data: 'after' });
      await b.request({ action: 'ping' });
      expect(b.messages('leaving')).toHaveLength(0);
      expect(await b.request({ action: 'leave', room: 'leaving' })).toMatchObject({ type: 'error', code: 'not_joined' });
      expect(await b.request({ action: 'publish', room: 'leaving', event: 'chat.message', data: 1 })).toMatchObject({
        type: 'error',
        code: 'not_joined',
      });
      await Promise.all([a.close(), b.close()]);
    });

    it('registers membership at connect with ?room=, as API Gateway $connect does', async () => {
      const publisher = await member('at-connect');
      const early = await TestClient.connect(gateway, await makeToken({ rooms: ['at-connect'] }), { room: 'at-connect' });
      await publisher.next((f) => f.type === 'presence' && f.action === 'join');
      await publisher.request({ action: 'publish', room: 'at-connect', event: 'chat.message', data: 'hello' });
      const [message] = await early.waitForMessages('at-connect', 1);
      expect(message!.data).toBe('hello');
      await Promise.all([publisher.close(), early.close()]);
    });

    it('sends direct messages to every connection of a user, only between staff and students who share a room', async () => {
      const teacher1 = await member('direct', { sub: 'teach', role: 'teacher' });
      const teacher2 = await member('direct', { sub: 'teach', role: 'teacher' });
      const student = await member('direct', { sub: 'stu' });
      const other = await member('direct', { sub: 'stu2' });
      const ack = await student.request({ action: 'direct', to: 'teach', event: 'chat.private', data: 'help?' });
      expect(ack.type).toBe('ack');
      for (const t of [teacher1, teacher2]) {
        const dm = await t.next((f) => f.type === 'direct');
        expect(dm).toMatchObject({ event: 'chat.private', data: 'help?', from: { userId: 'stu', role: 'student' } });
      }
      // An online student one may not message gets the answer an offline user gets: nothing leaks.
      const refused = await student.request({ action: 'direct', to: 'stu2', event: 'chat.private', data: 'psst', id: 'dm' });
      expect(refused).toMatchObject({ code: 'not_found' });
      expect(await student.request({ action: 'direct', to: 'nobody', event: 'chat.private', data: 'x', id: 'dm' })).toEqual(refused);
      expect(other.frames.some((f) => f.type === 'direct')).toBe(false);
      await Promise.all([teacher1, teacher2, student, other].map((c) => c.close()));
    });

    it('answers ping with pong', async () => {
      const client = await TestClient.connect(gateway, await makeToken());
      const pong = await client.request({ action: 'ping', id: 'p1' });
      expect(pong).toMatchObject({ type: 'pong', id: 'p1' });
      expect(typeof pong.ts).toBe('number');
      await client.close();
    });
  });
});
