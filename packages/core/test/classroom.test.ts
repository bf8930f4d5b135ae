import { describe, it, expect } from 'vitest';
import { CLOSE_CODES, type ClassroomSnapshot, type Role } from '@classwire/protocol';
import {
  Classroom,
  Engine,
  MemoryPresence,
  MemoryRegistry,
  MemoryBroker,
  type ConnectionRecord,
  type Broker,
  type StateQuery,
  type StateRead,
} from '@classwire/core';
import { RecordingFanOut, type Frame } from './recording-fanout.js';

const START = 1_700_000_000_000;
const ROOM = 'physics';

/** A broker whose next readState can be paused, to interleave two publishes deterministically. */
class GatedBroker extends MemoryBroker {
  private gate: { reached: () => void; open: Promise<void> } | undefined;
  /** State reads so far. */
  stateReads = 0;

  /** The next readState waits after reading until `release` is called. */
  pauseNextRead(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const open = new Promise<void>((resolve) => (release = resolve));
    this.gate = { reached, open };
    return { reached: reachedPromise, release };
  }

  override async readState(room: string, query: StateQuery): Promise<StateRead> {
    this.stateReads += 1;
    const result = await super.readState(room, query);
    const gate = this.gate;
    if (gate !== undefined) {
      this.gate = undefined;
      gate.reached();
      await gate.open;
    }
    return result;
  }
}

interface Options {
  maxFrameBytes?: number;
  maxBoardItems?: number;
  maxBoardBytes?: number;
  /** Presence changes appended to the room log, as with class records on. */
  presenceInLog?: boolean;
}

function setup(options: Options = {}) {
  const clock = { value: START };
  const now = (): number => clock.value;
  const registry = new MemoryRegistry();
  const presence = new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new GatedBroker({ now, delivery: fanout });
  // Publishing as fast as a loop can: the per-user event rate has its own tests (class-rates.test.ts).
  const { presenceInLog, ...classroomOptions } = options;
  const classroom = new Classroom({ registry, broker, presence, fanout, now, eventRate: { perSecond: 1e6, burst: 1e6 }, ...classroomOptions });
  const engine = new Engine({ registry, broker, presence, fanout, now, classroom, maxFrameBytes: options.maxFrameBytes, presenceInLog });
  let ids = 0;

  async function connect(connectionId: string, role: Role, userId = connectionId): Promise<ConnectionRecord> {
    const record: ConnectionRecord = {
      connectionId,
      userId,
      name: `Name ${userId}`,
      role,
      rooms: ['*'],
      expiresAt: START + 3_600_000,
      connectedAt: now(),
      node: 'test',
    };
    await engine.connect(record);
    return record;
  }

  const send = (connectionId: string, frame: Record<string, unknown>): Promise<unknown> =>
    engine.handleFrame(connectionId, JSON.stringify(frame));

  async function join(connectionId: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    await send(connectionId, { action: 'join', room: ROOM, ...extra });
    return fanout.last(connectionId)!;
  }

  /** Publishes and returns the reply (ack or error) the sender got. */
  async function publish(connectionId: string, event: string, data: unknown, extra: Record<string, unknown> = {}): Promise<Frame> {
    const id = `p${++ids}`;
    await send(connectionId, { action: 'publish', room: ROOM, event, data, id, ...extra });
    const reply = fanout.frames(connectionId).find((f) => f.id === id && (f.type === 'ack' || f.type === 'error'));
    expect(reply, `a reply to ${event}`).toBeDefined();
    return reply!;
  }

  /** The snapshot the connection received last (parts reassembled). */
  function snapshotOf(connectionId: string): ClassroomSnapshot {
    const frames = fanout.ofType(connectionId, 'snapshot');
    const lastStart = frames.map((f) => f.part).lastIndexOf(0);
    const parts = frames.slice(lastStart);
    expect(parts.length).toBe(parts[0]!.parts);
    return JSON.parse(parts.map((p) => p.data as string).join('')) as ClassroomSnapshot;
  }

  return { clock, now, registry, presence, broker, fanout, engine, classroom, connect, send, join, publish, snapshotOf };
}

type Setup = ReturnType<typeof setup>;

async function classOf(t: Setup) {
  await t.connect('teacher', 'teacher');
  await t.connect('ta', 'assistant');
  await t.connect('ann', 'student');
  await t.connect('bob', 'student');
  await t.connect('obs', 'observer');
  for (const id of ['teacher', 'ta', 'ann', 'bob', 'obs']) await t.join(id);
}

const stroke = (id: string) => ({ id, color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.25] });

describe('Classroom: events without echo', () => {
  it('leaves the sender out and acks with ts, epoch and from when the stored message is what it sent', async () => {
    const t = setup();
    await classOf(t);
    t.fanout.clear();
    const ack = await t.publish('ann', 'chat.message', { text: 'quiet' }, { echo: false });
    const epoch = (await t.broker.read(ROOM)).epoch;
    expect(ack).toEqual({ type: 'ack', id: ack.id, room: ROOM, seq: ack.seq, ts: START, epoch, from: { userId: 'ann', role: 'student', name: 'Name ann' } });
    expect(t.fanout.ofType('ann', 'message')).toEqual([]);
    expect(t.fanout.ofType('bob', 'message')).toEqual([expect.objectContaining({ seq: ack.seq, event: 'chat.message', data: { text: 'quiet' }, id: ack.id })]);
  });

  it('echoes as usual when the stored message differs from what was sent (the schema put the fields in its order)', async () => {
    const t = setup();
    await classOf(t);
    t.fanout.clear();
    const reordered = { points: [0.1, 0.1, 0.2, 0.25], width: 3, color: '#112233', id: 's9' };
    const ack = await t.publish('ann', 'wb.stroke', reordered, { echo: false });
    expect(ack).toEqual({ type: 'ack', id: ack.id, room: ROOM, seq: ack.seq });
    const [echo] = t.fanout.ofType('ann', 'message');
    expect(echo).toMatchObject({ seq: ack.seq, event: 'wb.stroke', data: reordered });
    expect(Object.keys(echo!.data as object)).not.toEqual(Object.keys(reordered));
  });
});

describe('Classroom: events through the engine', () => {
  const cases: { event: string; data: unknown; allowed: string; refused: string; ephemeral?: boolean }[] = [
    { event: 'chat.message', data: { text: 'hi' }, allowed: 'ann', refused: 'obs' },
    { event: 'chat.typing', data: {}, allowed: 'ann', refused: 'obs', ephemeral: true },
    { event: 'hand.raise', data: {}, allowed: 'ann', refused: 'teacher' },
    { event: 'hand.clear', data: {}, allowed: 'ta', refused: 'ann' },
    { event: 'hand.lower', data: { userId: 'bob' }, allowed: 'teacher', refused: 'ann' },
    { event: 'wb.stroke', data: stroke('s1'), allowed: 'ann', refused: 'obs' },
    { event: 'wb.shape', data: { id: 'r1', kind: 'rect', color: '#000000', width: 2, x1: 0, y1: 0, x2: 0.5, y2: 0.5 }, allowed: 'bob', refused: 'obs' },
    { event: 'wb.cursor', data: { x: 0.5, y: 0.5 }, allowed: 'ann', refused: 'obs', ephemeral: true },
    { event: 'wb.clear', data: {}, allowed: 'teacher', refused: 'ann' },
    { event: 'class.settings', data: { chatLocked: true }, allowed: 'ta', refused: 'ann' },
    { event: 'class.start', data: {}, allowed: 'teacher', refused: 'ta' },
    { event: 'moderation.mute', data: { userId: 'bob', muted: true }, allowed: 'ta', refused: 'ann' },
    { event: 'moderation.grant', data: { userId: 'bob', granted: true }, allowed: 'teacher', refused: 'bob' },
  ];
  for (const c of cases) {
    it(`${c.event}: ${c.allowed} is acked, ${c.refused} is refused with forbidden`, async () => {
      const t = setup();
      await classOf(t);
      const extra = c.ephemeral === true ? { ephemeral: true } : {};
      expect(await t.publish(c.refused, c.event, c.data, extra)).toMatchObject({ type: 'error', code: 'forbidden' });
      const ack = await t.publish(c.allowed, c.event, c.data, extra);
      expect(ack).toMatchObject({ type: 'ack' });
      if (c.ephemeral === true) expect(ack.seq).toBeUndefined();
      else expect(ack.seq).toEqual(expect.any(Number));
      // Everyone else in the room heard it; the refused attempt produced no message at all.
      const heard = t.fanout.frames('teacher' === c.allowed ? 'obs' : 'teacher').filter((f) => f.type === 'message' && f.event === c.event);
      expect(heard).toHaveLength(1);
    });
  }

  it('refuses bad data, unknown classroom events and a wrong ephemeral flag with bad_request', async () => {
    const t = setup();
    await classOf(t);
    expect(await t.publish('ann', 'chat.message', { text: '' })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'chat.message', { text: 'x'.repeat(1001) })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'chat.message', { text: 'hi', html: '<b>' })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'wb.stroke', { ...stroke('s'), points: [0.1, 2] })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'wb.stroke', { ...stroke('s'), color: 'red' })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'chat.shout', { text: 'hi' })).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/unknown classroom event/) });
    expect(await t.publish('ann', 'chat.message', { text: 'hi' }, { ephemeral: true })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('ann', 'wb.cursor', { x: 0, y: 0 })).toMatchObject({ code: 'bad_request' });
    // Other namespaces stay generic.
    expect(await t.publish('ann', 'quiz.answer', 42)).toMatchObject({ type: 'ack', seq: 1 });
  });

  it('trims chat text and rounds board coordinates before storing them', async () => {
    const t = setup();
    await classOf(t);
    await t.publish('ann', 'chat.message', { text: '  spaced  ' });
    await t.publish('ann', 'wb.stroke', { ...stroke('s1'), points: [0.123456, 0.5, 1, 0] });
    const messages = t.fanout.ofType('bob', 'message');
    expect(messages.map((m) => m.data)).toEqual([{ text: 'spaced' }, { ...stroke('s1'), points: [0.1235, 0.5, 1, 0] }]);
  });
});

describe('Classroom: authorization against the state at sequencing time', () => {
  it('refuses a student message whose check passed before a lock that was sequenced first', async () => {
    const t = setup();
    await classOf(t);
    const gate = t.broker.pauseNextRead();
    const student = t.publish('ann', 'chat.message', { text: 'sneaky' });
    await gate.reached;
    // The student's decision was taken on "chat open"; the lock lands before its append.
    expect(await t.publish('teacher', 'class.settings', { chatLocked: true })).toMatchObject({ type: 'ack', seq: 1 });
    gate.release();
    expect(await student).toMatchObject({ type: 'error', code: 'forbidden', message: expect.stringMatching(/locked/) });
    expect(t.fanout.ofType('bob', 'message').map((m) => m.event)).toEqual(['class.settings']);
  });

  it('refuses a stroke decided before the board was locked, and one decided before a mute is lifted stays refused', async () => {
    const t = setup();
    await classOf(t);
    const gate = t.broker.pauseNextRead();
    const stroking = t.publish('ann', 'wb.stroke', stroke('late'));
    await gate.reached;
    await t.publish('teacher', 'class.settings', { whiteboardLocked: true });
    gate.release();
    expect(await stroking).toMatchObject({ code: 'forbidden' });
    // Granting the board to Ann lets her draw again.
    await t.publish('teacher', 'moderation.grant', { userId: 'ann', granted: true });
    expect(await t.publish('ann', 'wb.stroke', stroke('late'))).toMatchObject({ type: 'ack' });
    expect(await t.publish('bob', 'wb.stroke', stroke('bob1'))).toMatchObject({ code: 'forbidden' });
  });

  it('allows a message decided before an unrelated control change, by deciding again', async () => {
    const t = setup();
    await classOf(t);
    const gate = t.broker.pauseNextRead();
    const student = t.publish('ann', 'chat.message', { text: 'fine' });
    await gate.reached;
    await t.publish('teacher', 'class.settings', { whiteboardLocked: true });
    gate.release();
    expect(await student).toMatchObject({ type: 'ack', seq: 2 });
  });
});

describe('Classroom: the control state remembered per room', () => {
  it('decides on it without a read, yet never accepts or refuses on a stale one changed through another node', async () => {
    const t = setup();
    await classOf(t);
    // A second node: its own Classroom and Engine over the same stores.
    const stores = { registry: t.registry, broker: t.broker, presence: t.presence, fanout: t.fanout, now: t.now };
    const otherNode = new Engine({ ...stores, classroom: new Classroom(stores) });
    const teacherOnOtherNode = (data: Record<string, unknown>, id: string) =>
      otherNode.handleFrame('teacher', JSON.stringify({ action: 'publish', room: ROOM, event: 'class.settings', data, id }));

    expect(await t.publish('ann', 'chat.message', { text: 'one' })).toMatchObject({ type: 'ack' });
    const reads = t.broker.stateReads;
    expect(await t.publish('bob', 'chat.message', { text: 'two' })).toMatchObject({ type: 'ack' });
    expect(t.broker.stateReads).toBe(reads);
    // Locked through the other node: this node's remembered "open" fails the append's version guard.
    await teacherOnOtherNode({ chatLocked: true }, 'lock');
    expect(await t.publish('ann', 'chat.message', { text: 'three' })).toMatchObject({ type: 'error', code: 'forbidden' });
    // Unlocked through the other node: this node's remembered "locked" refusal is taken again on a fresh read.
    await teacherOnOtherNode({ chatLocked: false }, 'unlock');
    expect(await t.publish('ann', 'chat.message', { text: 'four' })).toMatchObject({ type: 'ack' });
    const stored = t.fanout.ofType('obs', 'message').filter((m) => m.event === 'chat.message');
    expect(stored.map((m) => (m.data as { text: string }).text)).toEqual(['one', 'two', 'four']);
  });
});

describe('Classroom: chat', () => {
  it('lets authors edit and delete their messages, teachers delete any, and the tail reflects it', async () => {
    const t = setup();
    await classOf(t);
    const first = await t.publish('ann', 'chat.message', { text: 'helo' });
    const second = await t.publish('bob', 'chat.message', { text: 'rude' });
    await t.publish('ann', 'chat.message', { text: 'third' });
    expect(await t.publish('bob', 'chat.edit', { seq: first.seq, text: 'hijack' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('teacher', 'chat.edit', { seq: first.seq, text: 'nope' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ann', 'chat.edit', { seq: first.seq, text: 'hello' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'chat.delete', { seq: second.seq })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('teacher', 'chat.delete', { seq: second.seq })).toMatchObject({ type: 'ack' });
    expect(await t.publish('bob', 'chat.edit', { seq: second.seq, text: 'sorry' })).toMatchObject({ code: 'not_found' });
    expect(await t.publish('ann', 'chat.delete', { seq: 999 })).toMatchObject({ code: 'not_found' });

    await t.connect('late', 'student');
    await t.join('late');
    const snapshot = t.snapshotOf('late');
    expect(snapshot.full).toBe(true);
    expect(snapshot.chat!.map((c) => [c.seq, c.from.userId, c.text, c.edited])).toEqual([
      [1, 'ann', 'hello', true],
      [3, 'ann', 'third', false],
    ]);
  });

  it('keeps the last 100 messages in the tail', async () => {
    const t = setup();
    await classOf(t);
    for (let i = 1; i <= 105; i++) await t.publish(i % 2 === 0 ? 'ann' : 'teacher', 'chat.message', { text: `m${i}` });
    await t.connect('late', 'student');
    await t.join('late');
    const chat = t.snapshotOf('late').chat!;
    expect(chat).toHaveLength(100);
    expect(chat[0]!.text).toBe('m6');
    expect(chat.at(-1)!.text).toBe('m105');
  });

  it('mutes one student and locks chat for every student, never for staff', async () => {
    const t = setup();
    await classOf(t);
    await t.publish('ta', 'moderation.mute', { userId: 'ann', muted: true });
    expect(await t.publish('ann', 'chat.message', { text: 'x' })).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/muted/) });
    expect(await t.publish('bob', 'chat.message', { text: 'x' })).toMatchObject({ type: 'ack' });
    await t.publish('teacher', 'class.settings', { chatLocked: true });
    expect(await t.publish('bob', 'chat.message', { text: 'x' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ta', 'chat.message', { text: 'staff' })).toMatchObject({ type: 'ack' });
    await t.publish('teacher', 'class.settings', { chatLocked: false });
    await t.publish('teacher', 'moderation.mute', { userId: 'ann', muted: false });
    expect(await t.publish('ann', 'chat.message', { text: 'back' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('ta', 'moderation.mute', { userId: 'teacher', muted: true })).toMatchObject({ code: 'forbidden' });
  });

  it('delivers private messages only to staff and the student involved, keeps them for their next join, once', async () => {
    const t = setup();
    await classOf(t);
    const question = await t.publish('ann', 'chat.private', { text: 'I am stuck' });
    expect(question).toMatchObject({ type: 'ack' });
    expect(question.seq).toBeUndefined();
    const privateFrames = (id: string) => t.fanout.ofType(id, 'message').filter((m) => m.event === 'chat.private');
    expect(privateFrames('teacher')).toHaveLength(1);
    expect(privateFrames('ta')).toHaveLength(1);
    expect(privateFrames('bob')).toHaveLength(0);
    expect(privateFrames('obs')).toHaveLength(0);
    // The teacher answers Ann only.
    expect(await t.publish('teacher', 'chat.private', { text: 'missing to' })).toMatchObject({ code: 'bad_request' });
    expect(await t.publish('teacher', 'chat.private', { to: 'ann', text: 'look at step 2' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('bob', 'chat.private', { to: 'ann', text: 'psst' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ann', 'chat.private', { to: 'nobody', text: 'x' })).toMatchObject({ code: 'not_found' });
    expect(privateFrames('ann').map((m) => (m.data as { text: string }).text)).toEqual(['I am stuck', 'look at step 2']);
    expect(privateFrames('bob')).toHaveLength(0);

    // A retry of the same publish id (its ack lost) is neither stored nor delivered again.
    await t.send('ann', { action: 'publish', room: 'physics', event: 'chat.private', data: { text: 'I am stuck' }, id: 'p1' });
    expect(privateFrames('teacher')).toHaveLength(2);

    await t.connect('ann2', 'student', 'ann');
    await t.join('ann2');
    expect(t.snapshotOf('ann2').private.map((p) => p.text)).toEqual(['I am stuck', 'look at step 2']);
    await t.connect('bob2', 'student', 'bob');
    await t.join('bob2');
    expect(t.snapshotOf('bob2').private).toEqual([]);
    await t.connect('ta2', 'assistant', 'ta');
    await t.join('ta2');
    expect(t.snapshotOf('ta2').private.map((p) => [p.from.userId, p.to])).toEqual([
      ['ann', null],
      ['teacher', 'ann'],
    ]);
  });
});

describe('Classroom: hands, board, moderation, lifecycle', () => {
  it('raises and lowers hands: own, anyone by staff, all by staff', async () => {
    const t = setup();
    await classOf(t);
    await t.publish('ann', 'hand.raise', {});
    t.clock.value += 1000;
    await t.publish('bob', 'hand.raise', {});
    await t.publish('ta', 'hand.raise', {});
    expect(await t.publish('bob', 'hand.lower', { userId: 'ann' })).toMatchObject({ code: 'forbidden' });
    await t.publish('bob', 'hand.lower', {});
    await t.connect('late1', 'observer');
    await t.join('late1');
    expect(t.snapshotOf('late1').hands.map((h) => [h.userId, h.name, h.raisedAt])).toEqual([
      ['ann', 'Name ann', START],
      ['ta', 'Name ta', START + 1000],
    ]);
    await t.publish('teacher', 'hand.clear', {});
    await t.connect('late2', 'observer');
    await t.join('late2');
    expect(t.snapshotOf('late2').hands).toEqual([]);
  });

  it('keeps the board: erase own or by staff, unique ids, a bounded number of items, clear by staff', async () => {
    const t = setup({ maxBoardItems: 3 });
    await classOf(t);
    await t.publish('ann', 'wb.stroke', stroke('a1'));
    expect(await t.publish('bob', 'wb.stroke', stroke('a1'))).toMatchObject({ code: 'conflict' });
    await t.publish('bob', 'wb.stroke', stroke('b1'));
    await t.publish('teacher', 'wb.shape', { id: 't1', kind: 'ellipse', color: '#ff0000', width: 5, x1: 0.1, y1: 0.1, x2: 0.3, y2: 0.4 });
    expect(await t.publish('ann', 'wb.stroke', stroke('a2'))).toMatchObject({ code: 'payload_too_large' });
    expect(await t.publish('ann', 'wb.erase', { id: 'b1' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ann', 'wb.erase', { id: 'a1' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'wb.erase', { id: 'a1' })).toMatchObject({ code: 'not_found' });
    expect(await t.publish('ann', 'wb.stroke', stroke('a2'))).toMatchObject({ type: 'ack' });
    await t.connect('late', 'student');
    await t.join('late');
    const board = t.snapshotOf('late').whiteboard!;
    expect(board.map((b) => [b.userId, b.item.type, b.item.id])).toEqual([
      ['bob', 'stroke', 'b1'],
      ['teacher', 'shape', 't1'],
      ['ann', 'stroke', 'a2'],
    ]);
    expect(board[0]!.item).toEqual({ type: 'stroke', ...stroke('b1') });
    expect(await t.publish('ann', 'wb.clear', {})).toMatchObject({ code: 'forbidden' });
    await t.publish('ta', 'wb.clear', {});
    await t.connect('later', 'student');
    await t.join('later');
    expect(t.snapshotOf('later').whiteboard).toEqual([]);
  });

  it('keeps the board within its byte budget: erasing and clearing give the bytes back', async () => {
    const cost = JSON.stringify(stroke('a1')).length;
    const t = setup({ maxBoardBytes: cost * 3 });
    await classOf(t);
    for (const id of ['a1', 'a2', 'a3']) expect(await t.publish('ann', 'wb.stroke', stroke(id))).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'wb.stroke', stroke('a4'))).toMatchObject({ code: 'payload_too_large', message: expect.stringContaining('bytes') as unknown });
    expect(await t.publish('ann', 'wb.erase', { id: 'a2' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'wb.stroke', stroke('a4'))).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'wb.stroke', stroke('a5'))).toMatchObject({ code: 'payload_too_large' });
    await t.publish('teacher', 'wb.clear', {});
    for (const id of ['b1', 'b2', 'b3']) expect(await t.publish('ann', 'wb.stroke', stroke(id))).toMatchObject({ type: 'ack' });
  });

  it('bounds the snapshot of a board flooded with maximal strokes by the default 1 MiB budget', async () => {
    const t = setup();
    await classOf(t);
    // The reported attack: strokes of the most points allowed, until the board refuses.
    const points = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 10_000) / 10_000);
    let accepted = 0;
    for (let i = 0; i < 1000; i++) {
      // A second between strokes: this is the board's byte budget, not the drawer's rate (BoardBudget).
      t.clock.value += 1000;
      const reply = await t.publish('ann', 'wb.stroke', { ...stroke(`s${i}`), points });
      if (reply.type !== 'ack') {
        expect(reply).toMatchObject({ code: 'payload_too_large' });
        break;
      }
      accepted += 1;
    }
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(1000);
    await t.connect('late', 'student');
    await t.join('late');
    const parts = t.fanout.ofType('late', 'snapshot');
    const bytes = parts.reduce((sum, p) => sum + (p.data as string).length, 0);
    expect(bytes).toBeLessThan(1024 * 1024 + 64 * 1024);
    expect(t.snapshotOf('late').whiteboard).toHaveLength(accepted);
  });

  it.each([false, true])('serializes chat and board once per room and seq, however many join at that seq (presence in the log: %s)', async (presenceInLog) => {
    const t = setup({ presenceInLog });
    await classOf(t);
    await t.publish('ann', 'wb.stroke', stroke('a1'));
    await t.publish('ann', 'chat.message', { text: 'hello' });
    const builds = t.classroom.snapshots.builds;
    for (const id of ['j1', 'j2', 'j3']) {
      await t.connect(id, 'student');
      await t.join(id);
    }
    expect(t.classroom.snapshots.builds).toBe(builds + 1);
    // With presence in the log each join moved the seq, and nothing else.
    expect({ ...t.snapshotOf('j3'), seq: 0 }).toEqual({ ...t.snapshotOf('j1'), seq: 0 });
    expect(t.snapshotOf('j3').whiteboard!.map((b) => b.item.id)).toEqual(['a1']);
    expect(t.snapshotOf('j3').chat!.map((c) => c.text)).toEqual(['hello']);
    // A new message changes the seq: the next joiner sees it.
    await t.publish('ann', 'wb.stroke', stroke('a2'));
    await t.connect('j4', 'student');
    await t.join('j4');
    expect(t.classroom.snapshots.builds).toBe(builds + 2);
    expect(t.snapshotOf('j4').whiteboard!.map((b) => b.item.id)).toEqual(['a1', 'a2']);
  });

  it('treats ids that are object internals as plain ids, and refuses reserved and $-prefixed ids', async () => {
    const t = setup();
    await classOf(t);
    // Not stored ids answer not_found (never internal, which the SDK would retry forever).
    for (const id of ['toString', 'hasOwnProperty', 'valueOf']) {
      expect(await t.publish('teacher', 'wb.erase', { id })).toMatchObject({ code: 'not_found' });
    }
    for (const id of ['__proto__', 'constructor', 'prototype', '$seq', '$frame']) {
      expect(await t.publish('ann', 'wb.stroke', stroke(id))).toMatchObject({ code: 'bad_request' });
      expect(await t.publish('teacher', 'wb.erase', { id })).toMatchObject({ code: 'bad_request' });
    }
    expect(await t.publish('ann', 'wb.stroke', stroke('toString'))).toMatchObject({ type: 'ack' });
    expect(await t.publish('bob', 'wb.stroke', stroke('toString'))).toMatchObject({ code: 'conflict' });
    expect(await t.publish('ann', 'wb.shape', { id: 'valueOf', kind: 'line', color: '#000000', width: 1, x1: 0, y1: 0, x2: 1, y2: 1 })).toMatchObject({
      type: 'ack',
    });
    await t.connect('late', 'student');
    await t.join('late');
    expect(t.snapshotOf('late').whiteboard!.map((b) => b.item.id)).toEqual(['toString', 'valueOf']);
    expect(await t.publish('bob', 'wb.erase', { id: 'toString' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ann', 'wb.erase', { id: 'toString' })).toMatchObject({ type: 'ack' });
    expect(await t.publish('ann', 'wb.erase', { id: 'toString' })).toMatchObject({ code: 'not_found' });
  });

  it('throttles cursors per connection and relays them to everyone but the sender', async () => {
    const t = setup();
    await classOf(t);
    const cursor = (x: number) => t.send('ann', { action: 'publish', room: ROOM, event: 'wb.cursor', data: { x, y: 0.5 }, ephemeral: true });
    await cursor(0.1);
    t.clock.value += 10;
    await cursor(0.2);
    t.clock.value += 40;
    await cursor(0.3);
    const seen = (id: string) => t.fanout.ofType(id, 'message').filter((m) => m.event === 'wb.cursor').map((m) => (m.data as { x: number }).x);
    expect(seen('teacher')).toEqual([0.1, 0.3]);
    expect(seen('ann')).toEqual([]);
  });

  it('removes a student: their sockets in the class close with 4502, their hand is lowered, they cannot join again', async () => {
    const t = setup();
    await classOf(t);
    await t.connect('ann-tab2', 'student', 'ann');
    await t.join('ann-tab2');
    await t.connect('ann-elsewhere', 'student', 'ann');
    await t.publish('ann', 'hand.raise', {});
    expect(await t.publish('ta', 'moderation.remove', { userId: 'teacher' })).toMatchObject({ code: 'forbidden' });
    expect(await t.publish('ta', 'moderation.remove', { userId: 'ghost' })).toMatchObject({ code: 'not_found' });
    expect(await t.publish('ta', 'moderation.remove', { userId: 'ann' })).toMatchObject({ type: 'ack' });
    expect(t.fanout.closed.map((c) => [c.connectionId, c.code]).sort()).toEqual([
      ['ann', CLOSE_CODES.removed],
      ['ann-tab2', CLOSE_CODES.removed],
    ]);
    await t.engine.disconnect('ann');
    await t.engine.disconnect('ann-tab2');
    // Any connection of the same user, whatever its token, is refused.
    expect(await t.join('ann-elsewhere')).toMatchObject({ type: 'error', code: 'forbidden', message: expect.stringMatching(/removed/) });
    await t.join('bob');
    const snapshot = t.snapshotOf('bob');
    expect(snapshot.removed).toEqual(['ann']);
    expect(snapshot.hands).toEqual([]);
  });

  it('ends the class: every socket closes with 4503, students cannot join until the teacher starts it again', async () => {
    const t = setup();
    await classOf(t);
    expect(await t.publish('ta', 'class.end', {})).toMatchObject({ code: 'forbidden' });
    await t.publish('teacher', 'class.start', {});
    expect(await t.publish('teacher', 'class.end', {})).toMatchObject({ type: 'ack' });
    expect(t.fanout.closed.map((c) => c.connectionId).sort()).toEqual(['ann', 'bob', 'obs', 'ta', 'teacher']);
    expect(new Set(t.fanout.closed.map((c) => c.code))).toEqual(new Set([CLOSE_CODES.classEnded]));
    for (const id of ['teacher', 'ta', 'ann', 'bob', 'obs']) await t.engine.disconnect(id);
    await t.connect('ann2', 'student', 'ann');
    expect(await t.join('ann2')).toMatchObject({ type: 'error', code: 'forbidden', message: expect.stringMatching(/ended/) });
    await t.connect('teacher2', 'teacher', 'teacher');
    expect(await t.join('teacher2')).toMatchObject({ type: 'joined' });
    expect(t.snapshotOf('teacher2').status).toBe('ended');
    await t.publish('teacher2', 'class.start', {});
    expect(await t.join('ann2')).toMatchObject({ type: 'joined' });
    expect(t.snapshotOf('ann2').status).toBe('live');
  });
});

describe('Classroom: snapshot and tail', () => {
  it('gives every late joiner a snapshot plus a tail with no gap and no duplicate, while others publish', async () => {
    const t = setup();
    await classOf(t);
    const joiners: string[] = [];
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      work.push(t.publish(i % 2 === 0 ? 'ann' : 'teacher', 'chat.message', { text: `m${i}` }));
      if (i % 3 === 0) work.push(t.publish('bob', 'wb.stroke', stroke(`s${i}`)));
      if (i % 10 === 5) {
        const id = `late${i}`;
        joiners.push(id);
        work.push(t.connect(id, 'student').then(() => t.join(id)));
      }
    }
    await Promise.all(work);
    const allChat = t.fanout.ofType('obs', 'message').filter((m) => m.event === 'chat.message').map((m) => m.seq as number);
    const allBoard = t.fanout.ofType('obs', 'message').filter((m) => m.event === 'wb.stroke').map((m) => m.seq as number);
    expect(allChat).toHaveLength(60);
    for (const id of joiners) {
      const snapshot = t.snapshotOf(id);
      const joined = t.fanout.ofType(id, 'joined')[0]!;
      expect(joined.seq).toBe(snapshot.seq);
      const live = t.fanout.ofType(id, 'message');
      // Every live message follows the snapshot, in order, without a hole.
      expect(live.map((m) => m.seq)).toEqual(live.map((_, k) => snapshot.seq + 1 + k));
      const chat = [...snapshot.chat!.map((c) => c.seq), ...live.filter((m) => m.event === 'chat.message').map((m) => m.seq as number)];
      const board = [...snapshot.whiteboard!.map((b) => b.seq), ...live.filter((m) => m.event === 'wb.stroke').map((m) => m.seq as number)];
      expect(chat).toEqual(allChat);
      expect(board).toEqual(allBoard);
    }
  });

  it('cuts a snapshot larger than a frame into parts that each fit, and they reassemble', async () => {
    const t = setup({ maxFrameBytes: 2048 });
    await classOf(t);
    for (let i = 0; i < 30; i++) {
      const points = Array.from({ length: 40 }, (_, k) => ((i * 40 + k) % 97) / 97);
      await t.publish('teacher', 'wb.stroke', { id: `s${i}`, color: '#336699', width: 2, points });
    }
    await t.publish('ann', 'chat.message', { text: 'quotes " and \\ and émoji 🎓 survive' });
    await t.connect('late', 'student');
    await t.join('late');
    const parts = t.fanout.raw('late').filter((f) => f.startsWith('{"type":"snapshot"'));
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) expect(Buffer.byteLength(part)).toBeLessThanOrEqual(2048);
    const snapshot = t.snapshotOf('late');
    expect(snapshot.whiteboard).toHaveLength(30);
    expect(snapshot.chat!.at(-1)!.text).toBe('quotes " and \\ and émoji 🎓 survive');
  });

  it('sends a light snapshot (control and private only) on a resumed join, after the replay', async () => {
    const t = setup();
    await classOf(t);
    await t.publish('ann', 'chat.message', { text: 'one' });
    const seq = (await t.publish('ann', 'chat.message', { text: 'two' })).seq as number;
    await t.publish('teacher', 'class.settings', { chatLocked: true });
    t.fanout.clear('bob');
    const joined = await t.join('bob', { since: seq - 1, epoch: t.fanout.ofType('ann', 'joined')[0]!.epoch });
    expect(joined).toMatchObject({ type: 'joined', recovered: true, seq: seq + 1 });
    const types = t.fanout.frames('bob').map((f) => f.type);
    expect(types).toEqual(['message', 'message', 'snapshot', 'joined']);
    const snapshot = t.snapshotOf('bob');
    expect(snapshot.full).toBe(false);
    expect(snapshot.chat).toBeUndefined();
    expect(snapshot.settings.chatLocked).toBe(true);
  });
});

describe('Classroom: generic rooms stay generic without it', () => {
  it('an engine without the classroom takes any data under classroom event names and sends no snapshot', async () => {
    const registry = new MemoryRegistry();
    const fanout = new RecordingFanOut();
    const broker: Broker = new MemoryBroker({ delivery: fanout });
    const engine = new Engine({ registry, broker, presence: new MemoryPresence(), fanout });
    await engine.connect({ connectionId: 'c', userId: 'u', name: 'U', role: 'student', rooms: ['*'], expiresAt: Date.now() + 60_000, connectedAt: Date.now(), node: 'n' });
    await engine.handleFrame('c', JSON.stringify({ action: 'join', room: ROOM }));
    await engine.handleFrame('c', JSON.stringify({ action: 'publish', room: ROOM, event: 'chat.message', data: 7, id: 'x' }));
    expect(fanout.frames('c').map((f) => f.type)).toEqual(['joined', 'message', 'ack']);
  });
});
