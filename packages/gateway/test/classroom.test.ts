import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLASSROOM_LIMITS, CLOSE_CODES, groupRoom, type ClassroomSnapshot, type LiveReactionCounts } from '@classwire/protocol';
import { connect, type ClasswireClient, type CloseInfo, type Room, type RoomMessage } from '../../client/src/node.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import type { Gateway } from '../src/index.js';
import { eventually, makeToken, startRuntime, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';

/**
 * The classroom over real sockets with the SDK: one memory gateway, two gateway nodes on one Redis (where
 * publishes really race: each node appends through its own connection), and the Lambda handlers behind
 * the API Gateway emulator (frames invoked concurrently, closes through DeleteConnection).
 */

const CLASSROOM = { CLASSWIRE_CLASSROOM: '1', CLASSWIRE_RATE_PER_SECOND: '5000', CLASSWIRE_RATE_BURST: '5000' };

interface Member {
  client: ClasswireClient;
  room: Room;
  snapshots: ClassroomSnapshot[];
  messages: RoomMessage[];
  closed: Promise<CloseInfo>;
}

let redis: RedisProcess;
let memoryGateway: Gateway;
let emulator: Gateway;
const redisNodes: Gateway[] = [];
let roomCounter = 0;

beforeAll(async () => {
  redis = await RedisProcess.start();
  memoryGateway = await startTestGateway(CLASSROOM);
  emulator = await startRuntime('apigw-emulator', CLASSROOM);
  for (let i = 0; i < 2; i++) {
    redisNodes.push(await startTestGateway({ ...CLASSROOM, CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_NODE_ID: `class-node-${i}` }));
  }
});
afterAll(async () => {
  await Promise.all([memoryGateway, emulator, ...redisNodes].map((g) => g.drain()));
  await redis.stop();
});

const clients: ClasswireClient[] = [];
// Each test's members leave with it: the same user ids (a teacher 't' in every test) would otherwise pile up
// connections until the per-user limit (10) refused the next test's.
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

async function member(gateway: Gateway, roomId: string, role: string, sub: string, rooms: string[] = ['*']): Promise<Member> {
  const token = await makeToken({ sub, name: sub, role, rooms });
  const client = connect({
    url: `${gateway.url.replace('http', 'ws')}/ws`,
    token,
    reconnect: { baseDelayMs: 50, maxDelayMs: 400 },
    ackTimeoutMs: 5000,
    gapTimeoutMs: 200,
  });
  clients.push(client);
  const closed = new Promise<CloseInfo>((resolve) => client.on('closed', resolve));
  const room = client.join(roomId);
  const snapshots: ClassroomSnapshot[] = [];
  const messages: RoomMessage[] = [];
  room.onSnapshot<ClassroomSnapshot>((s) => snapshots.push(s.state));
  room.on('*', (m) => messages.push(m));
  // Errors are asserted through publish promises; keep refused publishes from surfacing as unhandled.
  room.onError(() => undefined);
  await room.ready;
  return { client, room, snapshots, messages, closed };
}

/** Counts stored publishes; `atLeast` resolves once the count reaches a number. */
class Counter {
  value = 0;
  private readonly waiting: { count: number; resolve: () => void }[] = [];

  add(): void {
    this.value += 1;
    for (const waiter of this.waiting.filter((w) => w.count <= this.value)) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  atLeast(count: number): Promise<void> {
    if (this.value >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }
}

const modes: [string, () => Gateway[]][] = [
  ['memory', () => [memoryGateway]],
  ['redis, two nodes', () => redisNodes],
  ['API Gateway emulator, Lambda handlers', () => [emulator]],
];

describe.each(modes)('classroom over sockets (%s)', (_mode, gateways) => {
  const on = (i: number): Gateway => gateways()[i % gateways().length]!;

  it('gives late joiners a snapshot plus a tail with no gap and no duplicate while three members publish', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const ann = await member(on(1), roomId, 'student', 'ann');
    const bob = await member(on(0), roomId, 'student', 'bob');
    const joiners = 4;
    const late: Member[] = [];
    const published = new Counter();
    // The publishers stop only after every late joiner is in (and a few messages later), so each join
    // happens mid-stream: its snapshot is read while publishes are being sequenced.
    const publishing = [teacher, ann, bob].map(async (m, p) => {
      let afterJoins = 0;
      for (let i = 0; afterJoins < 5; i++) {
        if (late.length === joiners) afterJoins++;
        if (i % 5 === 0) await m.room.publish('wb.stroke', { id: `${p}-${i}`, color: '#123456', width: 2, points: [0.1, 0.1, 0.2, 0.2] });
        else await m.room.publish('chat.message', { text: `${p}:${i}` });
        published.add();
      }
    });
    for (let j = 0; j < joiners; j++) {
      // Each joiner comes in once more messages were stored since the previous one.
      await published.atLeast(published.value + 6);
      late.push(await member(on(j), roomId, 'student', `late-${j}`));
    }
    await Promise.all(publishing);
    const total = published.value;
    await eventually(() => teacher.messages.filter((m) => m.seq !== undefined).length === total);
    const chat = teacher.messages.filter((m) => m.event === 'chat.message').map((m) => m.seq!);
    const board = teacher.messages.filter((m) => m.event === 'wb.stroke').map((m) => m.seq!);
    for (const joiner of late) {
      await eventually(() => (joiner.messages.at(-1)?.seq ?? joiner.snapshots[0]!.seq) === total);
      expect(joiner.snapshots).toHaveLength(1);
      const snapshot = joiner.snapshots[0]!;
      const live = joiner.messages.filter((m) => m.seq !== undefined);
      // The race happened: messages before the snapshot, and messages after it.
      expect(snapshot.seq).toBeGreaterThan(0);
      expect(live.length).toBeGreaterThan(0);
      expect(live.map((m) => m.seq)).toEqual(live.map((_, k) => snapshot.seq + 1 + k));
      const chatBefore = chat.filter((seq) => seq <= snapshot.seq).slice(-CLASSROOM_LIMITS.chatTail);
      expect([...snapshot.chat!.map((c) => c.seq), ...live.filter((m) => m.event === 'chat.message').map((m) => m.seq)]).toEqual([
        ...chatBefore,
        ...chat.filter((seq) => seq > snapshot.seq),
      ]);
      expect([...snapshot.whiteboard!.map((b) => b.seq), ...live.filter((m) => m.event === 'wb.stroke').map((m) => m.seq)]).toEqual(board);
    }
  });

  it('never stores a student message after the teacher locked chat, even when they race', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(1), roomId, 'teacher', 't');
    const students = await Promise.all([0, 1, 2].map((i) => member(on(i), roomId, 'student', `s${i}`)));
    const stored: number[] = [];
    const refusals: string[] = [];
    // Each student chats until refused; the lock lands while all three are mid-stream.
    const chatting = students.map(async (s) => {
      for (let i = 0; i < 1000; i++) {
        try {
          stored.push((await s.room.publish('chat.message', { text: `${i}` }))!);
        } catch (error) {
          refusals.push((error as { code: string }).code);
          return;
        }
      }
    });
    await eventually(() => stored.length >= 15);
    const lockSeq = (await teacher.room.publish('class.settings', { chatLocked: true }))!;
    await Promise.all(chatting);
    expect(refusals).toEqual(['forbidden', 'forbidden', 'forbidden']);
    expect(stored.filter((seq) => seq > lockSeq)).toEqual([]);
    await eventually(() => teacher.messages.at(-1)?.seq === lockSeq);
    const afterLock = teacher.messages.filter((m) => m.seq! > lockSeq!);
    expect(afterLock).toEqual([]);
  });

  it('delivers a private question to the teacher on another node and to no other student', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(1), roomId, 'teacher', 't');
    const ann = await member(on(0), roomId, 'student', 'ann');
    const bob = await member(on(0), roomId, 'student', 'bob');
    await ann.room.publish('chat.private', { text: 'what is a vector?' });
    await eventually(() => teacher.messages.filter((m) => m.event === 'chat.private').length === 1);
    await bob.room.publish('chat.message', { text: 'marker' });
    await eventually(() => bob.messages.some((m) => m.event === 'chat.message'));
    expect(bob.messages.filter((m) => m.event === 'chat.private')).toEqual([]);
    expect(ann.messages.filter((m) => m.event === 'chat.private')).toHaveLength(1);
  });

  it('removes a student: closed with 4502, no reconnect, and a fresh token cannot rejoin', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(1), roomId, 'teacher', 't');
    const ann = await member(on(0), roomId, 'student', 'ann');
    await ann.room.publish('hand.raise', {});
    await teacher.room.publish('moderation.remove', { userId: 'ann' });
    expect((await ann.closed).code).toBe(CLOSE_CODES.removed);
    expect(ann.client.state).toBe('closed');
    const again = connect({ url: `${on(1).url.replace('http', 'ws')}/ws`, token: await makeToken({ sub: 'ann', role: 'student', rooms: ['*'] }) });
    clients.push(again);
    const room = again.join(roomId);
    room.onError(() => undefined);
    await expect(room.ready).rejects.toMatchObject({ code: 'forbidden' });
    // Connecting straight into the class (`?room=`, as API Gateway clients do) is refused before the upgrade.
    const annToken = await makeToken({ sub: 'ann', role: 'student', rooms: ['*'] });
    const base = `${on(0).url.replace('http', 'ws')}/ws?token=${annToken}`;
    expect(await upgradeStatus(`${base}&room=${roomId}`)).toBe(403);
    expect(await upgradeStatus(`${base}&room=another-class`)).toBe(101);
    await eventually(() => teacher.room.presence.length === 1 && teacher.room.presence[0]!.userId === 't');
  });

  it('runs a quiz across nodes: tallies reach staff only, results reach everyone once shared', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const ann = await member(on(1), roomId, 'student', 'ann');
    const bob = await member(on(0), roomId, 'student', 'bob');
    await teacher.room.publish('poll.create', { id: 'q', question: '2 + 2?', options: ['3', '4'], multiple: false, anonymous: true, correct: [1] });
    await teacher.room.publish('poll.open', { id: 'q' });
    await ann.room.publish('poll.answer', { id: 'q', choices: [1] });
    await bob.room.publish('poll.answer', { id: 'q', choices: [0] });
    await bob.room.publish('poll.answer', { id: 'q', choices: [1] });
    await eventually(() => teacher.messages.some((m) => m.event === 'poll.tally' && (m.data as { rev: number }).rev === 3));
    await teacher.room.publish('poll.close', { id: 'q' });
    await expect(ann.room.publish('poll.answer', { id: 'q', choices: [0] })).rejects.toMatchObject({ code: 'forbidden' });
    await teacher.room.publish('poll.share', { id: 'q' });
    const results = { counts: [0, 2], respondents: 2, correct: [1] };
    for (const m of [ann, bob]) {
      await eventually(() => m.messages.some((x) => x.event === 'poll.share'));
      expect(m.messages.find((x) => x.event === 'poll.share')!.data).toEqual({ id: 'q', results });
      expect(m.messages.filter((x) => x.event === 'poll.tally' || x.event === 'poll.answer')).toEqual([]);
      expect(JSON.stringify(m.messages.find((x) => x.event === 'poll.create')!.data)).not.toContain('correct');
    }
    const late = await member(on(1), roomId, 'student', 'late');
    expect(late.snapshots[0]!.polls).toMatchObject([{ id: 'q', status: 'closed', results }]);
  });

  it('runs the class timer in server time for members on every node and for a late joiner', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const ann = await member(on(1), roomId, 'student', 'ann');
    await expect(ann.room.publish('timer.set', { seconds: 60 })).rejects.toMatchObject({ code: 'forbidden' });
    const setSeq = await teacher.room.publish('timer.set', { seconds: 90 });
    await eventually(() => ann.messages.some((m) => m.seq === setSeq));
    const set = ann.messages.find((m) => m.seq === setSeq)!;
    const { timer } = set.data as { timer: { durationMs: number; running: boolean; endsAt: number } };
    expect(timer).toMatchObject({ durationMs: 90_000, running: true });
    // Stamped by the server's clock: within the round trip of the message's own timestamp.
    expect(Math.abs(timer.endsAt - 90_000 - set.ts)).toBeLessThan(1000);
    await teacher.room.publish('timer.pause', {});
    const late = await member(on(1), roomId, 'student', 'late');
    expect(late.snapshots[0]!.timer).toMatchObject({ durationMs: 90_000, running: false });
    expect(late.snapshots[0]!.timer!.remainingMs).toBeLessThanOrEqual(90_000);
  });

  it('pins an announcement: receipts from students on every node reach the teacher, and no student', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const students = await Promise.all([0, 1, 2].map((i) => member(on(i), roomId, 'student', `s${i}`)));
    await teacher.room.publish('announce.pin', { id: 'hw', text: 'Homework: page 12' });
    for (const s of students) {
      await eventually(() => s.messages.some((m) => m.event === 'announce.pin'));
      await s.room.publish('announce.seen', { id: 'hw' });
    }
    const seenBy = () => (teacher.messages.filter((m) => (m.event as string) === 'announce.receipts').at(-1)?.data as { seenBy: { userId: string }[] } | undefined)?.seenBy;
    await eventually(() => seenBy()?.length === 3);
    expect(seenBy()!.map((r) => r.userId).sort()).toEqual(['s0', 's1', 's2']);
    for (const s of students) expect(s.messages.filter((m) => (m.event as string) === 'announce.receipts')).toEqual([]);
  });

  it('live reactions from students on every node reach the teacher as counts, and no student', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const students = await Promise.all([0, 1, 2, 3].map((i) => member(on(i), roomId, 'student', `s${i}`)));
    // Everyone at once, and each twice: a repeat inside the window counts once.
    await Promise.all(students.flatMap((s) => [s.room.publish('reaction.send', { kind: 'question' }), s.room.publish('reaction.send', { kind: 'question' })]));
    await students[0]!.room.publish('reaction.send', { kind: 'slower' });
    const latest = () => teacher.messages.filter((m) => (m.event as string) === 'reaction.counts').at(-1)?.data as LiveReactionCounts | undefined;
    await eventually(() => latest()?.sentAt.question?.length === students.length && latest()?.sentAt.slower?.length === 1);
    for (const s of students) expect(s.messages.filter((m) => (m.event as string).startsWith('reaction.'))).toEqual([]);
    const late = await member(on(1), roomId, 'assistant', 'ta');
    expect(late.snapshots[0]!.liveReactions?.sentAt.question).toHaveLength(students.length);
  });

  it('reacts to a chat message from every node at once: each reaction counted once, toggled off, in late snapshots', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const students = await Promise.all([0, 1, 2].map((i) => member(on(i), roomId, 'student', `s${i}`)));
    const seq = (await teacher.room.publish('chat.message', { text: 'Ready for the quiz?' }))!;
    await Promise.all(students.map((s) => s.room.publish('chat.react', { seq, emoji: '👍' })));
    await students[1]!.room.publish('chat.react', { seq, emoji: '❓' });
    await expect(students[1]!.room.publish('chat.react', { seq, emoji: '❓' })).rejects.toMatchObject({ code: 'conflict' });
    await eventually(() => teacher.messages.filter((m) => m.event === 'chat.react').length === 4);
    const snapshotReactions = async (sub: string) => (await member(on(2), roomId, 'observer', sub)).snapshots[0]!.chat!.find((c) => c.seq === seq)!.reactions;
    expect(await snapshotReactions('o1')).toEqual([
      { emoji: '👍', by: ['s0', 's1', 's2'].map((userId) => ({ userId, name: userId })) },
      { emoji: '❓', by: [{ userId: 's1', name: 's1' }] },
    ]);
    await students[1]!.room.publish('chat.unreact', { seq, emoji: '❓' });
    await eventually(() => students[0]!.messages.some((m) => m.event === 'chat.unreact'));
    expect(await snapshotReactions('o2')).toEqual([{ emoji: '👍', by: ['s0', 's1', 's2'].map((userId) => ({ userId, name: userId })) }]);
    await expect(students[0]!.room.publish('chat.react', { seq: seq + 1000, emoji: '👍' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('runs board pages, text and per-author undo/redo across nodes; a late joiner gets every page', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const ann = await member(on(1), roomId, 'student', 'bea');
    const annTab = await member(on(0), roomId, 'student', 'bea');
    await expect(ann.room.publish('wb.page.add', {})).rejects.toMatchObject({ code: 'forbidden' });
    await teacher.room.publish('wb.page.add', {});
    await teacher.room.publish('wb.text', { id: 'title', page: 1, x: 0.1, y: 0.1, text: 'Cells', size: 40, color: '#222222' });
    for (const id of ['a1', 'a2', 'a3']) await ann.room.publish('wb.stroke', { id, page: 1, color: '#123456', width: 2, points: [0.1, 0.1, 0.2, 0.2] });
    // Two undos at once from two tabs on different nodes take back two items, never the teacher's.
    await Promise.all([ann.room.publish('wb.undo', { page: 1 }), annTab.room.publish('wb.undo', { page: 1 })]);
    await ann.room.publish('wb.undo', { page: 1 });
    await expect(ann.room.publish('wb.undo', { page: 1 })).rejects.toMatchObject({ code: 'not_found' });
    const redoSeq = await annTab.room.publish('wb.redo', { page: 1 });
    await eventually(() => teacher.messages.some((m) => m.seq === redoSeq));
    const undone = teacher.messages.filter((m) => m.event === 'wb.undo').map((m) => (m.data as { id: string }).id);
    expect(undone.sort()).toEqual(['a1', 'a2', 'a3']);
    expect(teacher.messages.find((m) => m.seq === redoSeq)!.data).toMatchObject({ page: 1, entry: { userId: 'bea', item: { id: 'a1' } } });
    await teacher.room.publish('wb.page.show', { page: 0 });
    const late = await member(on(1), roomId, 'observer', 'late');
    const snapshot = late.snapshots[0]!;
    expect(snapshot.boardPages).toEqual({ pages: [0, 1], shown: 0, free: false });
    expect(snapshot.whiteboard!.map((e) => [e.page, e.item.type, e.item.id])).toEqual([
      [1, 'text', 'title'],
      [1, 'stroke', 'a1'],
    ]);
  });

  it('runs breakout rooms on the class token: a student enters only their group, groups keep to themselves, everyone is back on close', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    // The students' tokens name the class only: the groups need no token of their own.
    const ann = await member(on(1), roomId, 'student', 'ann', [roomId]);
    const bob = await member(on(0), roomId, 'student', 'bob', [roomId]);
    await teacher.room.publish('breakout.open', { groups: 2, mode: 'manual' });
    const assignSeq = await teacher.room.publish('breakout.assign', { assignments: [{ userId: 'ann', group: 1 }, { userId: 'bob', group: 2 }] });
    for (const s of [ann, bob]) await eventually(() => s.messages.some((m) => m.seq === assignSeq));
    const group = (m: Member, g: number) => {
      const room = m.client.join(groupRoom(roomId, g));
      const messages: RoomMessage[] = [];
      room.on('*', (x) => messages.push(x));
      room.onError(() => undefined);
      return { room, messages };
    };
    const wrong = group(ann, 2);
    await expect(wrong.room.ready).rejects.toMatchObject({ code: 'forbidden' });
    const annG1 = group(ann, 1);
    const bobG2 = group(bob, 2);
    await Promise.all([annG1.room.ready, bobG2.room.ready]);
    const strokeSeq = await annG1.room.publish('wb.stroke', { id: 'a1', color: '#123456', width: 2, points: [0.1, 0.1, 0.2, 0.2] });
    const bobSeq = await bobG2.room.publish('chat.message', { text: 'group two' });
    await eventually(() => bobG2.messages.some((m) => m.seq === bobSeq));
    expect(bobG2.messages.filter((m) => m.event === 'wb.stroke')).toEqual([]);
    expect(annG1.messages.map((m) => m.seq)).toContain(strokeSeq);
    expect(annG1.messages.filter((m) => m.event === 'chat.message')).toEqual([]);
    // The teacher visits group 1 and finds its board; the broadcast reaches both groups through the class room.
    const visit = teacher.client.join(groupRoom(roomId, 1));
    const board: ClassroomSnapshot[] = [];
    visit.onSnapshot<ClassroomSnapshot>((x) => board.push(x.state));
    await visit.ready;
    expect(board[0]!.whiteboard!.map((e) => e.item.id)).toEqual(['a1']);
    // Who is where, to the teacher only; and connecting straight into a group (`?room=`) is checked the same way.
    await teacher.room.publish('breakout.overview', {});
    await eventually(() => teacher.messages.some((m) => (m.event as string) === 'breakout.where'));
    expect(teacher.messages.find((m) => (m.event as string) === 'breakout.where')!.data).toEqual({
      groups: [
        { group: 1, userIds: ['ann', 't'] },
        { group: 2, userIds: ['bob'] },
      ],
    });
    const annToken = await makeToken({ sub: 'ann', role: 'student', rooms: [roomId] });
    const base = `${on(0).url.replace('http', 'ws')}/ws?token=${annToken}`;
    expect(await upgradeStatus(`${base}&room=${groupRoom(roomId, 2)}`)).toBe(403);
    expect(await upgradeStatus(`${base}&room=${groupRoom(roomId, 1)}`)).toBe(101);
    const broadcastSeq = await teacher.room.publish('breakout.broadcast', { text: 'One minute' });
    for (const s of [ann, bob]) await eventually(() => s.messages.some((m) => m.seq === broadcastSeq && m.event === 'breakout.broadcast'));
    const closeSeq = await teacher.room.publish('breakout.close', {});
    for (const s of [ann, bob]) await eventually(() => s.messages.some((m) => m.seq === closeSeq && m.event === 'breakout.close'));
    // A client that stays in its group takes no further part there, and nobody gets back in.
    await expect(annG1.room.publish('chat.message', { text: 'still here' })).rejects.toMatchObject({ code: 'forbidden' });
    await Promise.all([annG1.room.leave(), bobG2.room.leave()]);
    const again = group(bob, 2);
    await expect(again.room.ready).rejects.toMatchObject({ code: 'forbidden' });
    // Back in the main room, which they never left.
    const back = await ann.room.publish('chat.message', { text: 'back' });
    await eventually(() => bob.messages.some((m) => m.seq === back));
    const late = await member(on(1), roomId, 'student', 'late', [roomId]);
    expect(late.snapshots[0]!.breakout).toBeNull();
  });

  it('never places anyone in a breakout that was closed meanwhile, when staff on two nodes race', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const assistant = await member(on(1), roomId, 'assistant', 'ta');
    await member(on(1), roomId, 'student', 'ann', [roomId]);
    for (let round = 0; round < 5; round++) {
      await teacher.room.publish('breakout.open', { groups: 2, mode: 'manual' });
      const [assigned, closed] = await Promise.allSettled([
        assistant.room.publish('breakout.assign', { assignments: [{ userId: 'ann', group: 1 }] }),
        teacher.room.publish('breakout.close', {}),
      ]);
      expect(closed.status).toBe('fulfilled');
      // Either sequenced before the close (and gone with it) or refused: never left over.
      if (assigned.status === 'rejected') expect(assigned.reason).toMatchObject({ code: 'conflict' });
      const late = await member(on(round), roomId, 'student', `late-${round}`, [roomId]);
      expect(late.snapshots[0]!.breakout).toBeNull();
      const probe = late.client.join(groupRoom(roomId, 1));
      probe.onError(() => undefined);
      await expect(probe.ready).rejects.toMatchObject({ code: 'forbidden' });
    }
  });

  it('ends the class: every member is told and closed with 4503', async () => {
    const roomId = `class-${++roomCounter}`;
    const teacher = await member(on(0), roomId, 'teacher', 't');
    const ann = await member(on(1), roomId, 'student', 'ann');
    const obs = await member(on(0), roomId, 'observer', 'o');
    const endSeq = await teacher.room.publish('class.end', {});
    for (const m of [teacher, ann, obs]) {
      expect((await m.closed).code).toBe(CLOSE_CODES.classEnded);
      expect(m.messages.at(-1)).toMatchObject({ event: 'class.end', seq: endSeq });
    }
  });
});
