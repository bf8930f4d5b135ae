import { describe, expect, it } from 'vitest';
import { POLL_LIMITS, REACTION_LIMITS, TIMER_LIMITS, applyEvent, applySnapshot, initialState, liveReactionLevels, type ClassroomMessage, type ClassroomSnapshot, type LiveReactionCounts, type PollTally, type Role } from '@classwire/protocol';
import { Classroom, Engine, MemoryBroker, MemoryPresence, MemoryRegistry } from '@classwire/core';
import { eventually } from '../../../test-support/harness.js';
import { RecordingFanOut, type Frame } from './recording-fanout.js';

/** Polls and quizzes, and the class timer, through the engine (docs/classroom.md): every rule allowed and refused. */

const START = 1_700_000_000_000;
const ROOM = 'maths';

function setup() {
  const clock = { value: START };
  const now = (): number => clock.value;
  const registry = new MemoryRegistry();
  const presence = new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new MemoryBroker({ now, delivery: fanout });
  // The per-user class-event rate (security.md) is lifted: these tests publish many events at one instant of a fake clock.
  const classroom = new Classroom({ registry, broker, presence, fanout, now, eventRate: { perSecond: 1000, burst: 1000 } });
  const engine = new Engine({ registry, broker, presence, fanout, now, classroom });
  let ids = 0;

  async function enter(connectionId: string, role: Role, userId = connectionId): Promise<void> {
    await engine.connect({ connectionId, userId, name: `Name ${userId}`, role, rooms: ['*'], expiresAt: START + 3_600_000, connectedAt: now(), node: 'test' });
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'join', room: ROOM }));
  }

  async function publish(connectionId: string, event: string, data: unknown): Promise<Frame> {
    const id = `p${++ids}`;
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'publish', room: ROOM, event, data, id }));
    const reply = fanout.frames(connectionId).find((f) => f.id === id && (f.type === 'ack' || f.type === 'error'));
    expect(reply, `a reply to ${event}`).toBeDefined();
    return reply!;
  }

  async function ok(connectionId: string, event: string, data: unknown): Promise<Frame> {
    const reply = await publish(connectionId, event, data);
    expect(reply, `${event} from ${connectionId}`).toMatchObject({ type: 'ack' });
    return reply;
  }

  async function refused(connectionId: string, event: string, data: unknown, code: string, message?: RegExp): Promise<void> {
    const reply = await publish(connectionId, event, data);
    expect(reply, `${event} from ${connectionId}`).toMatchObject({ type: 'error', code });
    if (message !== undefined) expect(reply.message).toMatch(message);
  }

  function messages(connectionId: string, event: string): Frame[] {
    return fanout.frames(connectionId).filter((f) => f.type === 'message' && f.event === event);
  }

  function tallies(connectionId: string): PollTally[] {
    return messages(connectionId, 'poll.tally').map((f) => f.data as PollTally);
  }

  function snapshotOf(connectionId: string): ClassroomSnapshot {
    const frames = fanout.ofType(connectionId, 'snapshot');
    const lastStart = frames.map((f) => f.part).lastIndexOf(0);
    return JSON.parse(frames.slice(lastStart).map((p) => p.data as string).join('')) as ClassroomSnapshot;
  }

  return { clock, engine, fanout, enter, publish, ok, refused, messages, tallies, snapshotOf };
}

async function classOf() {
  const t = setup();
  await t.enter('teacher', 'teacher');
  await t.enter('ta', 'assistant');
  await t.enter('ann', 'student');
  await t.enter('bob', 'student');
  await t.enter('obs', 'observer');
  return t;
}

const quiz = { id: 'q1', question: 'What is 2 + 2?', options: ['3', '4', '5'], multiple: false, anonymous: false, correct: [1], points: 5 };

describe('polls and quizzes', () => {
  it('runs a quiz from creation to shared results, keeping its answer from students until then', async () => {
    const t = await classOf();
    await t.ok('teacher', 'poll.create', quiz);
    for (const member of ['ann', 'obs', 'ta']) {
      const created = t.messages(member, 'poll.create')[0]!;
      expect(created.data).toEqual({ id: 'q1', question: 'What is 2 + 2?', options: ['3', '4', '5'], multiple: false, anonymous: false, quiz: true, points: 5, status: 'draft' });
      expect(JSON.stringify(created)).not.toContain('correct');
    }
    await t.refused('ann', 'poll.answer', { id: 'q1', choices: [1] }, 'forbidden', /not open/);
    await t.ok('teacher', 'poll.open', { id: 'q1', seconds: 60 });
    expect(t.messages('ann', 'poll.open')[0]!.data).toEqual({ id: 'q1', seconds: 60, openedAt: START, closesAt: START + 60_000 });

    await t.ok('ann', 'poll.answer', { id: 'q1', choices: [0] });
    await t.ok('ann', 'poll.answer', { id: 'q1', choices: [1] });
    await t.ok('bob', 'poll.answer', { id: 'q1', choices: [1] });
    // Answers are not in the room's log: nobody receives another student's answer.
    for (const member of ['ann', 'bob', 'obs']) {
      expect(t.messages(member, 'poll.answer')).toEqual([]);
      expect(t.tallies(member)).toEqual([]);
    }
    const live = t.tallies('teacher');
    expect(live.map((x) => x.rev)).toEqual([1, 2, 3]);
    expect(live.at(-1)).toEqual({ id: 'q1', rev: 3, counts: [0, 2, 0], respondents: 2, correct: [1], voters: [{ userId: 'bob', name: 'Name bob', choices: [1] }] });
    expect(t.tallies('ta')).toEqual(live);

    await t.ok('teacher', 'poll.close', { id: 'q1' });
    await t.refused('bob', 'poll.answer', { id: 'q1', choices: [2] }, 'forbidden', /not open/);
    await t.ok('teacher', 'poll.share', { id: 'q1' });
    expect(t.messages('ann', 'poll.share')[0]!.data).toEqual({ id: 'q1', results: { counts: [0, 2, 0], respondents: 2, correct: [1] } });
    await t.refused('teacher', 'poll.share', { id: 'q1' }, 'conflict', /shared already/);

    // A late joiner sees the poll with its results; staff also see who answered what.
    await t.enter('cid', 'student');
    const late = t.snapshotOf('cid');
    expect(late.polls).toEqual([{ ...t.messages('ann', 'poll.create')[0]!.data as object, status: 'closed', openedAt: START, closesAt: START + 60_000, results: { counts: [0, 2, 0], respondents: 2, correct: [1] } }]);
    expect(late.pollTallies).toBeUndefined();
    expect(late.pollAnswers).toEqual([]);
    await t.enter('ta2', 'assistant');
    const staffView = t.snapshotOf('ta2');
    expect(staffView.pollTallies).toEqual([
      { id: 'q1', rev: 3, counts: [0, 2, 0], respondents: 2, correct: [1], voters: [{ userId: 'ann', name: 'Name ann', choices: [1] }, { userId: 'bob', name: 'Name bob', choices: [1] }] },
    ]);
  });

  it('keeps a quiz answer out of the students\' snapshot before the results are shared', async () => {
    const t = await classOf();
    await t.ok('teacher', 'poll.create', quiz);
    await t.ok('teacher', 'poll.open', { id: 'q1' });
    await t.enter('late', 'student');
    const snapshot = t.snapshotOf('late');
    expect(snapshot.polls).toHaveLength(1);
    expect(JSON.stringify(snapshot)).not.toContain('correct');
    expect(snapshot.polls![0]!.closesAt).toBeUndefined();
  });

  it('lets a late joiner answer an open poll and gives them back their own answer on the next join', async () => {
    const t = await classOf();
    await t.ok('teacher', 'poll.create', { id: 'p', question: 'Pick any', options: ['a', 'b', 'c'], multiple: true, anonymous: true });
    await t.ok('teacher', 'poll.open', { id: 'p' });
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').polls![0]!.status).toBe('open');
    await t.ok('late', 'poll.answer', { id: 'p', choices: [2, 0] });
    await t.engine.disconnect('late');
    await t.enter('late-again', 'student', 'late');
    expect(t.snapshotOf('late-again').pollAnswers).toEqual([{ id: 'p', choices: [0, 2] }]);
    // Anonymous: staff get counts, never names, live or in the snapshot.
    expect(t.tallies('teacher').at(-1)).toEqual({ id: 'p', rev: 1, counts: [1, 0, 1], respondents: 1 });
    await t.enter('ta2', 'assistant');
    expect(t.snapshotOf('ta2').pollTallies).toEqual([{ id: 'p', rev: 1, counts: [1, 0, 1], respondents: 1 }]);
  });

  it('counts a student once whatever their connections, retries and changes of mind', async () => {
    const t = await classOf();
    await t.enter('ann-phone', 'student', 'ann');
    await t.ok('teacher', 'poll.create', { id: 'p', question: 'Which?', options: ['a', 'b'], multiple: false, anonymous: false });
    await t.ok('teacher', 'poll.open', { id: 'p' });
    await Promise.all([
      t.ok('ann', 'poll.answer', { id: 'p', choices: [0] }),
      t.ok('ann-phone', 'poll.answer', { id: 'p', choices: [1] }),
      t.ok('ann', 'poll.answer', { id: 'p', choices: [0] }),
      t.ok('bob', 'poll.answer', { id: 'p', choices: [0] }),
    ]);
    await t.ok('ann-phone', 'poll.answer', { id: 'p', choices: [1] });
    await t.ok('ann-phone', 'poll.answer', { id: 'p', choices: [1] });
    await t.enter('ta2', 'assistant');
    const tally = t.snapshotOf('ta2').pollTallies![0]!;
    expect(tally.respondents).toBe(2);
    expect(tally.counts).toEqual([1, 1]);
    expect(tally.voters!.map((v) => [v.userId, v.choices])).toEqual([
      ['ann', [1]],
      ['bob', [0]],
    ]);
  });

  it('counts 25 students answering at once exactly once each', async () => {
    const t = setup();
    await t.enter('teacher', 'teacher');
    const students = Array.from({ length: 25 }, (_, i) => `s${i}`);
    for (const s of students) await t.enter(s, 'student');
    await t.ok('teacher', 'poll.create', { id: 'p', question: 'Which?', options: ['a', 'b', 'c'], multiple: false, anonymous: true });
    await t.ok('teacher', 'poll.open', { id: 'p' });
    await Promise.all(students.map((s, i) => t.ok(s, 'poll.answer', { id: 'p', choices: [i % 3] })));
    const last = t.tallies('teacher').reduce((a, b) => (b.rev > a.rev ? b : a));
    expect(last).toMatchObject({ rev: 25, respondents: 25, counts: [9, 8, 8] });
  });

  it('refuses answers after the time limit, and then lets staff share without closing', async () => {
    const t = await classOf();
    await t.ok('teacher', 'poll.create', { id: 'p', question: 'Quick!', options: ['a', 'b'], multiple: false, anonymous: true });
    await t.ok('teacher', 'poll.open', { id: 'p', seconds: 10 });
    await t.refused('teacher', 'poll.share', { id: 'p' }, 'conflict', /close poll/);
    t.clock.value = START + 10_000;
    await t.ok('ann', 'poll.answer', { id: 'p', choices: [0] });
    t.clock.value = START + 10_001;
    await t.refused('bob', 'poll.answer', { id: 'p', choices: [1] }, 'forbidden', /not open/);
    // Ann's retry of the answer that was counted (its ack lost) settles as that answer; a change does not.
    await t.ok('ann', 'poll.answer', { id: 'p', choices: [0] });
    await t.refused('ann', 'poll.answer', { id: 'p', choices: [1] }, 'forbidden', /not open/);
    await t.ok('teacher', 'poll.share', { id: 'p' });
    expect(t.messages('bob', 'poll.share')[0]!.data).toEqual({ id: 'p', results: { counts: [1, 0], respondents: 1 } });
  });

  it('refuses the lifecycle to everyone but staff, and answers to everyone but students', async () => {
    const t = await classOf();
    const poll = { id: 'p', question: 'Q', options: ['a', 'b'], multiple: false, anonymous: false };
    for (const who of ['ann', 'obs']) await t.refused(who, 'poll.create', poll, 'forbidden', /only teachers/);
    await t.ok('ta', 'poll.create', poll);
    for (const who of ['ann', 'obs']) await t.refused(who, 'poll.open', { id: 'p' }, 'forbidden');
    await t.ok('ta', 'poll.open', { id: 'p' });
    for (const who of ['teacher', 'ta', 'obs']) await t.refused(who, 'poll.answer', { id: 'p', choices: [0] }, 'forbidden', /only students/);
    for (const who of ['ann', 'obs']) await t.refused(who, 'poll.close', { id: 'p' }, 'forbidden');
    await t.ok('teacher', 'poll.close', { id: 'p' });
    for (const who of ['ann', 'obs']) await t.refused(who, 'poll.share', { id: 'p' }, 'forbidden');
  });

  it('refuses malformed and unbounded polls and answers with documented codes', async () => {
    const t = await classOf();
    const base = { question: 'Q', options: ['a', 'b'], multiple: false, anonymous: false };
    await t.refused('teacher', 'poll.create', { ...base, id: 'has space' }, 'bad_request', /poll id/);
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', options: ['only one'] }, 'bad_request');
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', options: Array.from({ length: 11 }, (_, i) => `${i}`) }, 'bad_request');
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', question: 'x'.repeat(POLL_LIMITS.maxQuestion + 1) }, 'bad_request');
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', options: ['a', 'x'.repeat(POLL_LIMITS.maxOptionText + 1)] }, 'bad_request');
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', correct: [2] }, 'bad_request', /one of the options/);
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', correct: [0, 1] }, 'bad_request', /one correct answer/);
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', points: 3 }, 'bad_request', /points need/);
    await t.refused('teacher', 'poll.create', { ...base, id: 'p', extra: 1 }, 'bad_request');
    await t.ok('teacher', 'poll.create', { ...base, id: 'p' });
    await t.refused('teacher', 'poll.create', { ...base, id: 'p' }, 'conflict', /already/);
    await t.refused('teacher', 'poll.open', { id: 'nope' }, 'not_found');
    await t.refused('teacher', 'poll.open', { id: 'p', seconds: POLL_LIMITS.maxSeconds + 1 }, 'bad_request');
    await t.refused('teacher', 'poll.close', { id: 'p' }, 'conflict', /not open/);
    await t.ok('teacher', 'poll.open', { id: 'p' });
    await t.refused('teacher', 'poll.open', { id: 'p' }, 'conflict', /opened already/);
    await t.refused('ann', 'poll.answer', { id: 'p', choices: [0, 1] }, 'bad_request', /exactly one/);
    await t.refused('ann', 'poll.answer', { id: 'p', choices: [5] }, 'bad_request', /no such option/);
    await t.refused('ann', 'poll.answer', { id: 'p', choices: [] }, 'bad_request');
    await t.refused('ann', 'poll.answer', { id: 'p', choices: [0, 0] }, 'bad_request');
    await t.refused('ann', 'poll.answer', { id: 'nope', choices: [0] }, 'not_found');
    await t.refused('ann', 'poll.tally', { id: 'p', rev: 99, counts: [9, 9], respondents: 9 }, 'bad_request', /unknown classroom event/);
    expect(t.tallies('teacher')).toEqual([]);
  });

  it(`keeps at most ${POLL_LIMITS.maxOpenPolls} polls open and ${POLL_LIMITS.maxPolls} polls per class`, async () => {
    const t = await classOf();
    const poll = (id: string) => ({ id, question: 'Q', options: ['a', 'b'], multiple: false, anonymous: true });
    for (let i = 0; i < POLL_LIMITS.maxPolls; i++) await t.ok('teacher', 'poll.create', poll(`p${i}`));
    await t.refused('teacher', 'poll.create', poll('one-more'), 'payload_too_large');
    for (let i = 0; i < POLL_LIMITS.maxOpenPolls; i++) await t.ok('teacher', 'poll.open', { id: `p${i}`, seconds: i === 0 ? 5 : undefined });
    await t.refused('teacher', 'poll.open', { id: 'p10' }, 'payload_too_large', /at most 3/);
    // A poll past its time limit no longer counts as open.
    t.clock.value = START + 6_000;
    await t.ok('teacher', 'poll.open', { id: 'p10' });
  });
});

describe('the class timer', () => {
  it('is set, paused, resumed and cleared by staff in server time, and carried to every member and late joiner', async () => {
    const t = await classOf();
    await t.ok('teacher', 'timer.set', { seconds: 300 });
    expect(t.messages('ann', 'timer.set')[0]!.data).toEqual({ seconds: 300, timer: { durationMs: 300_000, running: true, endsAt: START + 300_000 } });
    t.clock.value = START + 60_000;
    await t.ok('ta', 'timer.pause', {});
    expect(t.messages('obs', 'timer.pause')[0]!.data).toEqual({ timer: { durationMs: 300_000, running: false, remainingMs: 240_000 } });
    await t.refused('teacher', 'timer.pause', {}, 'conflict', /paused already/);
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').timer).toEqual({ durationMs: 300_000, running: false, remainingMs: 240_000 });
    // Paused time does not count.
    t.clock.value = START + 100_000;
    await t.ok('teacher', 'timer.resume', {});
    expect(t.messages('late', 'timer.resume')[0]!.data).toEqual({ timer: { durationMs: 300_000, running: true, endsAt: START + 340_000 } });
    await t.refused('teacher', 'timer.resume', {}, 'conflict', /running already/);
    t.clock.value = START + 340_000;
    await t.refused('teacher', 'timer.pause', {}, 'conflict', /run out/);
    await t.ok('teacher', 'timer.clear', {});
    expect(t.messages('bob', 'timer.clear')[0]!.data).toEqual({ timer: null });
    await t.refused('teacher', 'timer.clear', {}, 'conflict', /no timer/);
    await t.refused('teacher', 'timer.pause', {}, 'conflict', /no timer/);
    await t.enter('later', 'student');
    expect(t.snapshotOf('later').timer).toBeNull();
  });

  it('refuses the timer to students and observers, and bad lengths to everyone', async () => {
    const t = await classOf();
    for (const who of ['ann', 'obs']) await t.refused(who, 'timer.set', { seconds: 60 }, 'forbidden', /only teachers/);
    await t.refused('teacher', 'timer.set', { seconds: 0 }, 'bad_request');
    await t.refused('teacher', 'timer.set', { seconds: 1.5 }, 'bad_request');
    await t.refused('teacher', 'timer.set', { seconds: TIMER_LIMITS.maxSeconds + 1 }, 'bad_request');
    await t.refused('teacher', 'timer.set', { seconds: 60, endsAt: 0 }, 'bad_request');
    await t.ok('teacher', 'timer.set', { seconds: TIMER_LIMITS.maxSeconds });
    for (const who of ['ann', 'obs']) {
      await t.refused(who, 'timer.pause', {}, 'forbidden');
      await t.refused(who, 'timer.clear', {}, 'forbidden');
    }
  });
});

describe('announcements with read receipts', () => {
  it('pins an announcement, counts each student once, and tells staff in coalesced batches', async () => {
    const t = await classOf();
    for (let i = 0; i < 10; i++) await t.enter(`s${i}`, 'student');
    await t.ok('teacher', 'announce.pin', { id: 'a1', text: '  Test on Friday  ' });
    expect(t.messages('ann', 'announce.pin')[0]).toMatchObject({ data: { id: 'a1', text: 'Test on Friday' }, from: { userId: 'teacher' } });
    const readers = ['ann', 'bob', ...Array.from({ length: 10 }, (_, i) => `s${i}`)];
    for (const who of readers) await t.ok(who, 'announce.seen', { id: 'a1' });
    // A second receipt (another tab, a re-render) is acknowledged and not counted.
    await t.ok('ann', 'announce.seen', { id: 'a1' });
    const batches = () => t.messages('teacher', 'announce.receipts').map((f) => f.data as { id: string; seenBy: { userId: string }[] });
    await eventually(() => batches().at(-1)?.seenBy.length === readers.length);
    // 13 receipts inside one window: far fewer frames than receipts, and none to students.
    expect(batches().length).toBeLessThan(readers.length / 4);
    expect(t.messages('ta', 'announce.receipts').length).toBe(batches().length);
    for (const who of ['ann', 'obs']) expect(t.messages(who, 'announce.receipts')).toEqual([]);
    expect(batches().at(-1)!.seenBy.map((r) => r.userId).sort()).toEqual([...readers].sort());
    // Late joiners: everyone gets the announcement; staff also get its readers.
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').announcement).toEqual({ id: 'a1', text: 'Test on Friday', from: { userId: 'teacher', name: 'Name teacher', role: 'teacher' }, pinnedAt: START });
    expect(t.snapshotOf('late').announcementSeenBy).toBeUndefined();
    await t.enter('ta2', 'assistant');
    expect(t.snapshotOf('ta2').announcementSeenBy).toHaveLength(readers.length);
  });

  it('starts a new announcement with no readers and refuses receipts for one no longer pinned', async () => {
    const t = await classOf();
    await t.ok('teacher', 'announce.pin', { id: 'a1', text: 'First' });
    await t.ok('ann', 'announce.seen', { id: 'a1' });
    await t.ok('ta', 'announce.pin', { id: 'a2', text: 'Second' });
    await t.refused('bob', 'announce.seen', { id: 'a1' }, 'not_found');
    await t.enter('ta2', 'assistant');
    expect(t.snapshotOf('ta2')).toMatchObject({ announcement: { id: 'a2' }, announcementSeenBy: [] });
    await t.ok('teacher', 'announce.unpin', {});
    await t.refused('teacher', 'announce.unpin', {}, 'conflict');
    await t.refused('ann', 'announce.seen', { id: 'a2' }, 'not_found');
    await t.enter('ta3', 'assistant');
    expect(t.snapshotOf('ta3').announcement).toBeNull();
  });

  it('lets only staff pin and only students acknowledge, with bounded text', async () => {
    const t = await classOf();
    for (const who of ['ann', 'obs']) await t.refused(who, 'announce.pin', { id: 'x', text: 'hi' }, 'forbidden');
    await t.refused('teacher', 'announce.pin', { id: 'x', text: 'y'.repeat(501) }, 'bad_request');
    await t.refused('teacher', 'announce.pin', { id: 'x', text: '   ' }, 'bad_request');
    await t.ok('teacher', 'announce.pin', { id: 'x', text: 'hi' });
    for (const who of ['teacher', 'ta', 'obs']) await t.refused(who, 'announce.seen', { id: 'x' }, 'forbidden');
    for (const who of ['ann', 'obs']) await t.refused(who, 'announce.unpin', {}, 'forbidden');
    await t.refused('ann', 'announce.receipts', { id: 'x', seenBy: [] }, 'bad_request');
  });
});

describe('reactions on chat messages', () => {
  it('puts and takes back emoji, sequenced, with counts and reactors in every late snapshot', async () => {
    const t = await classOf();
    const posted = await t.ok('ann', 'chat.message', { text: 'Is the test on Friday?' });
    const seq = posted.seq as number;
    await t.ok('bob', 'chat.react', { seq, emoji: '👍' });
    await t.ok('teacher', 'chat.react', { seq, emoji: '❓' });
    await t.ok('ann', 'chat.react', { seq, emoji: '👍' });
    const reacted = t.messages('obs', 'chat.react');
    expect(reacted.map((f) => [f.data, (f.from as { userId: string }).userId])).toEqual([
      [{ seq, emoji: '👍' }, 'bob'],
      [{ seq, emoji: '❓' }, 'teacher'],
      [{ seq, emoji: '👍' }, 'ann'],
    ]);
    expect(reacted.every((f) => typeof f.seq === 'number' && f.seq > seq)).toBe(true);
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').chat![0]!.reactions).toEqual([
      { emoji: '👍', by: [{ userId: 'ann', name: 'Name ann' }, { userId: 'bob', name: 'Name bob' }] },
      { emoji: '❓', by: [{ userId: 'teacher', name: 'Name teacher' }] },
    ]);
    await t.ok('bob', 'chat.unreact', { seq, emoji: '👍' });
    await t.ok('teacher', 'chat.unreact', { seq, emoji: '❓' });
    await t.enter('later', 'observer');
    expect(t.snapshotOf('later').chat![0]!.reactions).toEqual([{ emoji: '👍', by: [{ userId: 'ann', name: 'Name ann' }] }]);
    // An edit keeps the reactions; a member who was there all along sees what a late joiner sees.
    await t.ok('ann', 'chat.edit', { seq, text: 'Is the test on Monday?' });
    await t.enter('latest', 'observer');
    let state = applySnapshot(initialState(), t.snapshotOf('obs'));
    for (const frame of t.fanout.frames('obs').filter((f) => f.type === 'message')) state = applyEvent(state, frame as unknown as ClassroomMessage);
    expect(state.chat).toEqual(t.snapshotOf('latest').chat);
    expect(state.chat[0]).toMatchObject({ text: 'Is the test on Monday?', reactions: [{ emoji: '👍', by: [{ userId: 'ann' }] }] });
  });

  it('refuses a repeat, a reaction never put, unknown and deleted messages, emoji off the list, and a fourth emoji', async () => {
    const t = await classOf();
    const seq = (await t.ok('ann', 'chat.message', { text: 'hello' })).seq as number;
    await t.ok('bob', 'chat.react', { seq, emoji: '🎉' });
    await t.refused('bob', 'chat.react', { seq, emoji: '🎉' }, 'conflict');
    await t.refused('bob', 'chat.unreact', { seq, emoji: '👍' }, 'not_found');
    await t.refused('bob', 'chat.react', { seq: seq + 100, emoji: '👍' }, 'not_found');
    for (const emoji of ['🍕', 'x', '👍👍', '']) await t.refused('bob', 'chat.react', { seq, emoji }, 'bad_request');
    await t.refused('bob', 'chat.react', { seq, emoji: '👍', extra: 1 }, 'bad_request');
    await t.ok('bob', 'chat.react', { seq, emoji: '👍' });
    await t.ok('bob', 'chat.react', { seq, emoji: '😂' });
    await t.refused('bob', 'chat.react', { seq, emoji: '❤️' }, 'payload_too_large');
    // Taking one back makes room for another.
    await t.ok('bob', 'chat.unreact', { seq, emoji: '😂' });
    await t.ok('bob', 'chat.react', { seq, emoji: '❤️' });
    await t.refused('obs', 'chat.react', { seq, emoji: '👍' }, 'forbidden');
    await t.ok('teacher', 'moderation.mute', { userId: 'ann', muted: true });
    await t.refused('ann', 'chat.react', { seq, emoji: '👍' }, 'forbidden');
    await t.ok('teacher', 'chat.delete', { seq });
    await t.refused('bob', 'chat.react', { seq, emoji: '😮' }, 'not_found');
    await t.refused('bob', 'chat.unreact', { seq, emoji: '👍' }, 'not_found');
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').chat).toEqual([]);
  });
});

describe('live reactions', () => {
  it('counts each student once per kind and window and tells staff in coalesced batches, never students', async () => {
    const t = await classOf();
    const students = ['ann', 'bob', ...Array.from({ length: 10 }, (_, i) => `s${i}`)];
    for (const who of students.slice(2)) await t.enter(who, 'student');
    for (const who of students) await t.ok(who, 'reaction.send', { kind: 'question' });
    // Pressing again (a burst of clicks) is acknowledged and changes nothing.
    for (let i = 0; i < 5; i++) await t.ok('ann', 'reaction.send', { kind: 'question' });
    await t.ok('ann', 'reaction.send', { kind: 'slower' });
    const batches = () => t.messages('teacher', 'reaction.counts').map((f) => f.data as LiveReactionCounts);
    await eventually(() => batches().at(-1)?.sentAt.question?.length === students.length && batches().at(-1)?.sentAt.slower?.length === 1);
    expect(batches().length).toBeLessThan(students.length / 4);
    expect(t.messages('ta', 'reaction.counts').length).toBe(batches().length);
    for (const who of ['ann', 'obs']) expect(t.messages(who, 'reaction.counts')).toEqual([]);
    // Not sequenced: nothing went to the room.
    expect(t.messages('obs', 'reaction.send')).toEqual([]);
    const last = batches().at(-1)!;
    expect(last).toMatchObject({ at: START, windowMs: REACTION_LIMITS.liveWindowMs, sentAt: { question: students.map(() => START), slower: [START] } });
    expect(liveReactionLevels(last, START + 2_500).find((l) => l.kind === 'question')).toMatchObject({ count: students.length, freshness: 0.75 });
    expect(liveReactionLevels(last, START + REACTION_LIMITS.liveWindowMs).every((l) => l.count === 0 && l.freshness === 0)).toBe(true);
    // Staff joining late get the counts; students do not.
    await t.enter('ta2', 'assistant');
    expect(t.snapshotOf('ta2').liveReactions?.sentAt.question).toHaveLength(students.length);
    await t.enter('late', 'student');
    expect(t.snapshotOf('late').liveReactions).toBeUndefined();
  });

  it('counts a student again once the window has passed, and forgets what left it', async () => {
    const t = await classOf();
    await t.ok('ann', 'reaction.send', { kind: 'louder' });
    await t.ok('bob', 'reaction.send', { kind: 'got-it' });
    const last = () => t.messages('teacher', 'reaction.counts').at(-1)?.data as LiveReactionCounts | undefined;
    await eventually(() => last()?.sentAt.louder?.length === 1 && last()?.sentAt['got-it']?.length === 1);
    t.clock.value = START + REACTION_LIMITS.liveWindowMs;
    const before = t.messages('teacher', 'reaction.counts').length;
    await t.ok('ann', 'reaction.send', { kind: 'louder' });
    await eventually(() => t.messages('teacher', 'reaction.counts').length > before);
    expect(last()).toEqual({ at: START + REACTION_LIMITS.liveWindowMs, windowMs: REACTION_LIMITS.liveWindowMs, sentAt: { louder: [START + REACTION_LIMITS.liveWindowMs] } });
    await t.enter('ta2', 'assistant');
    expect(t.snapshotOf('ta2').liveReactions?.sentAt).toEqual({ louder: [START + REACTION_LIMITS.liveWindowMs] });
  });

  it('lets only students send them, of the catalogue only', async () => {
    const t = await classOf();
    for (const who of ['teacher', 'ta', 'obs']) await t.refused(who, 'reaction.send', { kind: 'question' }, 'forbidden');
    for (const kind of ['clap', '', 'QUESTION', '__proto__']) await t.refused('ann', 'reaction.send', { kind }, 'bad_request');
    await t.refused('ann', 'reaction.send', { kind: 'question', count: 25 }, 'bad_request');
    await t.refused('ann', 'reaction.counts', { at: 0, windowMs: 1, sentAt: {} }, 'bad_request');
    await t.refused('ann', 'reaction.nope', {}, 'bad_request');
  });
});
