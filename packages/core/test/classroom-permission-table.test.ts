import { describe, expect, it } from 'vitest';
import { INITIAL_CONTROL, encodeMessageBody, isStaff, type ClassroomEvent, type Role, type Target } from '@classwire/protocol';
import { Classroom, Engine, MemoryBroker, MemoryPresence, MemoryRegistry } from '@classwire/core';
import { ME, OTHER_AUTHOR, PERMISSION_CASES, PRESENT, ROLES, caseTitle, type PermissionCase } from '../../../test-support/classroom-permission-table.js';
import { COLLECTIONS, controlChange } from '../src/classroom/room-state.js';
import { reactionField } from '../src/classroom/chat-reactions.js';
import { RecordingFanOut } from './recording-fanout.js';

/**
 * The shared permission table (test-support/classroom-permission-table.ts) against the server's
 * decision: for each case and role a fresh class with the case's control state, where `ME` publishes
 * the event through the engine and is acked or refused.
 */

const ROOM = 'table';
const START = 1_700_000_000_000;

/** The data the event is published with, aimed at the case's target. */
function dataFor(event: ClassroomEvent, target: Target, authored: { seq: number; itemId: string }): unknown {
  switch (event) {
    case 'chat.message':
      return { text: 'hello' };
    case 'chat.edit':
      return { seq: authored.seq, text: 'edited' };
    case 'chat.delete':
      return { seq: authored.seq };
    case 'chat.private':
      return { text: 'psst', ...(target.userId === undefined ? {} : { to: target.userId }) };
    case 'hand.lower':
      return target.userId === undefined ? {} : { userId: target.userId };
    case 'wb.stroke':
      return { id: 'new', color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.2] };
    case 'wb.shape':
      return { id: 'new', kind: 'rect', color: '#112233', width: 3, x1: 0, y1: 0, x2: 0.5, y2: 0.5 };
    case 'wb.cursor':
      return { x: 0.5, y: 0.5 };
    case 'wb.erase':
      return { id: authored.itemId };
    case 'wb.text':
      return { id: 'new', x: 0.2, y: 0.3, text: 'E = mc²', size: 30, color: '#112233' };
    case 'wb.undo':
    case 'wb.redo':
      return {};
    case 'wb.page.remove':
    case 'wb.page.show':
      return { page: 1 };
    case 'wb.page.browse':
      return { free: true };
    case 'wb.page.add':
      return {};
    case 'class.settings':
      return { chatLocked: true };
    case 'moderation.mute':
      return { userId: target.userId, muted: true };
    case 'moderation.grant':
      return { userId: target.userId, granted: true };
    case 'moderation.remove':
      return { userId: target.userId };
    case 'poll.create':
      return { id: 'new-poll', question: 'Ready?', options: ['yes', 'no'], multiple: false, anonymous: false };
    case 'poll.open':
      return { id: 'draft-poll' };
    case 'poll.close':
    case 'poll.answer':
      return event === 'poll.close' ? { id: 'open-poll' } : { id: 'open-poll', choices: [0] };
    case 'poll.share':
      return { id: 'closed-poll' };
    case 'timer.set':
      return { seconds: 60 };
    case 'announce.pin':
      return { id: 'new', text: 'Homework is on page 12' };
    case 'announce.seen':
      return { id: 'pinned' };
    case 'announce.unpin':
      return {};
    case 'chat.react':
    case 'chat.unreact':
      return { seq: authored.seq, emoji: '👍' };
    case 'reaction.send':
      return { kind: 'question' };
    case 'timer.pause':
    case 'timer.resume':
    case 'timer.clear':
      return {};
    case 'breakout.open':
      return { groups: 2, mode: 'manual' };
    case 'breakout.assign':
      return { assignments: [{ userId: 'pupil', group: 2 }] };
    case 'breakout.choose':
      return { group: 1 };
    case 'breakout.show':
      return { group: 1 };
    case 'breakout.broadcast':
      return { text: 'Five minutes left' };
    case 'breakout.close':
    case 'breakout.overview':
      return {};
    case 'chat.typing':
    case 'hand.raise':
    case 'hand.clear':
    case 'wb.clear':
    case 'class.start':
    case 'class.end':
      return {};
  }
}

/** Whether the server accepts the case's event from `ME` in `role`. */
async function serverAllows(row: PermissionCase, role: Role): Promise<boolean> {
  const now = (): number => START;
  const registry = new MemoryRegistry();
  const presence = new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new MemoryBroker({ now, delivery: fanout });
  const engine = new Engine({ registry, broker, presence, fanout, now, classroom: new Classroom({ registry, broker, presence, fanout, now }) });
  let frames = 0;
  async function publish(connectionId: string, event: string, data: unknown, ephemeral = false): Promise<Record<string, unknown>> {
    const id = `f${++frames}`;
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'publish', room: ROOM, event, data, id, ...(ephemeral ? { ephemeral } : {}) }));
    const reply = fanout.frames(connectionId).find((f) => f.id === id && (f.type === 'ack' || f.type === 'error'));
    expect(reply, `a reply to ${event}`).toBeDefined();
    return reply!;
  }
  async function enter(connectionId: string, userId: string, userRole: Role): Promise<void> {
    await engine.connect({ connectionId, userId, name: userId, role: userRole, rooms: ['*'], expiresAt: START + 3_600_000, connectedAt: START, node: 'test' });
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'join', room: ROOM }));
  }

  for (const [userId, userRole] of Object.entries(PRESENT)) await enter(userId, userId, userRole);
  // The message and board item the case acts on, written by their author as a student while all is open.
  const author = row.target?.authorId ?? OTHER_AUTHOR;
  const authorConnection = author === ME ? 'me-as-student' : author;
  if (author === ME) await enter(authorConnection, ME, 'student');
  const message = await publish(authorConnection, 'chat.message', { text: 'mine' });
  await publish(authorConnection, 'wb.stroke', { id: 'drawn', color: '#000000', width: 2, points: [0, 0, 1, 1] });
  // A redo needs something undone: the author's stroke, taken back.
  if (row.event === 'wb.redo') expect((await publish(authorConnection, 'wb.undo', {})).type).toBe('ack');
  if (row.event === 'wb.page.remove' || row.event === 'wb.page.show') expect((await publish('boss', 'wb.page.add', {})).type).toBe('ack');
  if (author === ME) await engine.disconnect(authorConnection);
  // The polls the poll cases act on, one in each state, run by the teacher present.
  const poll = (id: string) => ({ id, question: 'Ready?', options: ['yes', 'no'], multiple: false, anonymous: false });
  for (const id of ['draft-poll', 'open-poll', 'closed-poll']) expect((await publish('boss', 'poll.create', poll(id))).type).toBe('ack');
  for (const id of ['open-poll', 'closed-poll']) expect((await publish('boss', 'poll.open', { id })).type).toBe('ack');
  expect((await publish('boss', 'poll.close', { id: 'closed-poll' })).type).toBe('ack');
  if (row.event === 'announce.seen' || row.event === 'announce.unpin') {
    expect((await publish('boss', 'announce.pin', { id: 'pinned', text: 'Read chapter 3' })).type).toBe('ack');
  }
  // A timer in the state the timer case needs: running to pause, paused to resume, set to clear.
  if (row.event.startsWith('timer.') && row.event !== 'timer.set') {
    expect((await publish('boss', 'timer.set', { seconds: 60 })).type).toBe('ack');
    if (row.event === 'timer.resume') expect((await publish('boss', 'timer.pause', {})).type).toBe('ack');
  }
  // Open breakout rooms for every breakout case but opening them: students choose their group, which staff may override by hand.
  if (row.event.startsWith('breakout.') && row.event !== 'breakout.open') {
    expect((await publish('boss', 'breakout.open', { groups: 2, mode: 'choose' })).type).toBe('ack');
  }
  // The case's control state, stored as a control change would store it.
  const body = encodeMessageBody('test.seed', {}, { userId: 'seeder', role: 'server', name: 'seeder' });
  await broker.publish(ROOM, body, { effects: { ops: controlChange(INITIAL_CONTROL, { ...INITIAL_CONTROL, ...row.control }) } });
  // The reaction `chat.unreact` takes back, stored as `chat.react` stores it (whatever ME's role: the rule decides).
  if (row.event === 'chat.unreact') {
    const field = reactionField(message.seq as number, '👍', ME);
    await broker.publish(ROOM, encodeMessageBody('test.seed', {}, { userId: 'seeder', role: 'server', name: 'seeder' }), {
      effects: { ops: [{ op: 'set', collection: COLLECTIONS.chatReactions, field, value: ME }] },
    });
  }

  await enter(ME, ME, role);
  const ephemeral = row.event === 'chat.typing' || row.event === 'wb.cursor';
  const reply = await publish(ME, row.event, dataFor(row.event, row.target ?? {}, { seq: message.seq as number, itemId: 'drawn' }), ephemeral);
  if (reply.type === 'ack') return true;
  // A staff private message without `to` is malformed rather than forbidden; an undo finds nothing of the
  // sender's own when only someone else drew; everything else is forbidden.
  const undoOfOthers = row.event === 'wb.undo' && row.target?.authorId === OTHER_AUTHOR && role !== 'observer';
  expect(reply.code).toBe(row.event === 'chat.private' && row.target === undefined && isStaff(role) ? 'bad_request' : undoOfOthers ? 'not_found' : 'forbidden');
  return false;
}

describe('the classroom permission table: the server decides through the engine', () => {
  for (const row of PERMISSION_CASES) {
    it(caseTitle(row), async () => {
      for (const role of ROLES) {
        expect(await serverAllows(row, role), `${role}`).toBe(row.allowed.includes(role));
      }
    });
  }
});
