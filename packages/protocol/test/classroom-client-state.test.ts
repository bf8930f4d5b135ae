import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  applySnapshot,
  initialState,
  type ClassroomMessage,
  type ClassroomSnapshot,
  type ClassroomState,
  type Member,
  type PrivateEntry,
  type Sender,
} from '@classwire/protocol/classroom';

const teacher: Member = { userId: 't1', name: 'Ms Rivera', role: 'teacher' };
const ada: Member = { userId: 's1', name: 'Ada', role: 'student' };
const bo: Member = { userId: 's2', name: 'Bo', role: 'student' };

let nextSeq = 1;
function durable(event: string, data: unknown, from: Sender = ada, seq = nextSeq++): ClassroomMessage {
  return { event, data, from, seq, ts: 1_700_000_000_000 + seq, id: `p-${seq}` };
}

function apply(state: ClassroomState, ...messages: ClassroomMessage[]): ClassroomState {
  return messages.reduce(applyEvent, state);
}

/** The state apart from its position: what an ignored event must leave untouched. */
function unchanged(state: ClassroomState): ClassroomState {
  return { ...state, seq: expect.any(Number) as number };
}

function snapshot(overrides: Partial<ClassroomSnapshot> = {}): ClassroomSnapshot {
  return {
    full: true,
    seq: 10,
    status: 'live',
    settings: { chatLocked: false, whiteboardLocked: false },
    muted: [],
    granted: [],
    removed: [],
    hands: [],
    chat: [],
    whiteboard: [],
    private: [],
    ...overrides,
  };
}

function privateEntry(id: string, ts: number, from: Sender = ada, to: string | null = null): PrivateEntry {
  return { id, ts, from, to, text: `private ${id}` };
}

describe('applyEvent: chat', () => {
  it('appends messages with their seq and author, and keeps the last 100', () => {
    let state = initialState();
    for (let i = 0; i < 105; i += 1) state = applyEvent(state, durable('chat.message', { text: `m${i}` }));
    expect(state.chat).toHaveLength(100);
    expect(state.chat[0]!.text).toBe('m5');
    expect(state.chat.at(-1)).toMatchObject({ text: 'm104', from: ada, edited: false });
  });

  it('edits a message in place and marks it edited', () => {
    const sent = durable('chat.message', { text: 'helo' });
    const state = apply(initialState(), sent, durable('chat.edit', { seq: sent.seq, text: 'hello' }));
    expect(state.chat).toEqual([expect.objectContaining({ seq: sent.seq, text: 'hello', edited: true })]);
  });

  it('deletes a message by seq', () => {
    const first = durable('chat.message', { text: 'one' });
    const second = durable('chat.message', { text: 'two' });
    const state = apply(initialState(), first, second, durable('chat.delete', { seq: first.seq }, teacher));
    expect(state.chat.map((m) => m.text)).toEqual(['two']);
  });

  it('merges private messages by id, whether they come live or again in a snapshot', () => {
    const live = { event: 'chat.private', data: privateEntry('p1', 5), from: ada, ts: 5 };
    let state = apply(initialState(), live, live);
    expect(state.private.map((p) => p.id)).toEqual(['p1']);
    state = applySnapshot(state, snapshot({ full: false, private: [privateEntry('p0', 1), privateEntry('p1', 5), privateEntry('p2', 9, teacher, 's1')] }));
    expect(state.private.map((p) => p.id)).toEqual(['p0', 'p1', 'p2']);
  });

  it('ignores malformed data', () => {
    const state = initialState();
    expect(applyEvent(state, durable('chat.message', { text: 42 }))).toEqual(unchanged(state));
    expect(applyEvent(state, durable('chat.edit', { text: 'x' }))).toEqual(unchanged(state));
    expect(applyEvent(state, { event: 'chat.private', data: { text: 'no id' }, from: ada, ts: 1 })).toBe(state);
    expect(applyEvent(state, durable('wb.stroke', { id: 'x', color: '#000000', width: 2, points: ['a'] }))).toEqual(unchanged(state));
  });
});

describe('applyEvent: hands', () => {
  it('raises once per user (again: to the back), lowers one (own or another), and clears all', () => {
    let state = apply(initialState(), durable('hand.raise', {}, ada), durable('hand.raise', {}, bo));
    expect(state.hands.map((h) => h.userId)).toEqual(['s1', 's2']);
    state = applyEvent(state, durable('hand.raise', {}, ada));
    expect(state.hands.map((h) => h.userId)).toEqual(['s2', 's1']);
    expect(state.hands[1]).toMatchObject({ name: 'Ada' });
    state = applyEvent(state, durable('hand.lower', {}, ada));
    expect(state.hands.map((h) => h.userId)).toEqual(['s2']);
    state = apply(state, durable('hand.raise', {}, ada), durable('hand.lower', { userId: 's2' }, teacher));
    expect(state.hands.map((h) => h.userId)).toEqual(['s1']);
    state = applyEvent(state, durable('hand.clear', {}, teacher));
    expect(state.hands).toEqual([]);
  });
});

describe('applyEvent: whiteboard', () => {
  const stroke = { id: 'st~0', color: '#1f2937', width: 4, points: [0.1, 0.1, 0.2, 0.2] };
  const shape = { id: 'sh1', kind: 'rect', color: '#e03131', width: 2, x1: 0.1, y1: 0.1, x2: 0.5, y2: 0.4 };

  it('adds strokes and shapes with their author and seq, once per id', () => {
    const message = durable('wb.stroke', stroke, ada);
    const state = apply(initialState(), message, durable('wb.shape', shape, teacher), durable('wb.stroke', stroke, ada));
    expect(state.board).toEqual([
      { seq: message.seq, userId: 's1', item: { type: 'stroke', ...stroke } },
      { seq: message.seq! + 1, userId: 't1', item: { type: 'shape', ...shape } },
    ]);
  });

  it('erases one item by id and clears the board', () => {
    let state = apply(initialState(), durable('wb.stroke', stroke), durable('wb.shape', shape, teacher));
    state = applyEvent(state, durable('wb.erase', { id: 'st~0' }, ada));
    expect(state.board.map((e) => e.item.id)).toEqual(['sh1']);
    state = apply(state, durable('wb.stroke', stroke), durable('wb.clear', {}, teacher));
    expect(state.board).toEqual([]);
  });

  it('refuses an unknown shape kind', () => {
    const state = initialState();
    expect(applyEvent(state, durable('wb.shape', { ...shape, kind: 'star' }))).toEqual(unchanged(state));
  });
});

describe('applyEvent: board pages, text, undo and redo', () => {
  const pages = (list: number[], shown: number, free = false) => ({ pages: list, shown, free });

  it('follows the pages each page event carries; removing a page drops its items', () => {
    let state = apply(initialState(), durable('wb.page.add', { page: 1, pages: pages([0, 1], 1) }, teacher));
    expect(state.pages).toEqual(pages([0, 1], 1));
    state = apply(
      state,
      durable('wb.stroke', { id: 'a', page: 1, color: '#000000', width: 2, points: [0, 0, 1, 1] }),
      durable('wb.text', { id: 'b', x: 0.1, y: 0.2, text: 'Hi', size: 30, color: '#ff0000' }),
      durable('wb.page.browse', { free: true, pages: pages([0, 1], 1, true) }, teacher),
    );
    expect(state.board.map((e) => [e.page ?? 0, e.item.type, e.item.id])).toEqual([
      [1, 'stroke', 'a'],
      [0, 'text', 'b'],
    ]);
    expect(state.pages.free).toBe(true);
    state = apply(state, durable('wb.page.remove', { page: 1, pages: pages([0], 0, true) }, teacher));
    expect(state.board.map((e) => e.item.id)).toEqual(['b']);
    expect(apply(state, durable('wb.page.show', { page: 2, pages: 'nope' }, teacher))).toEqual(unchanged(state));
  });

  it('erases, undoes and clears by page; a redo puts the item back in its place', () => {
    const drawn = durable('wb.stroke', { id: 'same', color: '#000000', width: 2, points: [0, 0, 1, 1] });
    let state = apply(
      initialState(),
      drawn,
      durable('wb.stroke', { id: 'same', page: 3, color: '#000000', width: 2, points: [0, 0, 1, 1] }),
      durable('wb.stroke', { id: 'later', color: '#000000', width: 2, points: [0, 0, 1, 1] }, bo),
    );
    state = apply(state, durable('wb.undo', { page: 0, id: 'same' }));
    expect(state.board.map((e) => [e.page ?? 0, e.item.id])).toEqual([
      [3, 'same'],
      [0, 'later'],
    ]);
    const entry = { seq: drawn.seq, userId: ada.userId, item: { type: 'stroke', id: 'same', color: '#000000', width: 2, points: [0, 0, 1, 1] } };
    state = apply(state, durable('wb.redo', { page: 0, entry }));
    expect(state.board.map((e) => [e.page ?? 0, e.item.id])).toEqual([
      [0, 'same'],
      [3, 'same'],
      [0, 'later'],
    ]);
    state = apply(state, durable('wb.clear', { page: 3 }, teacher));
    expect(state.board.map((e) => e.item.id)).toEqual(['same', 'later']);
    state = apply(state, durable('wb.erase', { id: 'same' }));
    expect(state.board.map((e) => e.item.id)).toEqual(['later']);
    expect(apply(state, durable('wb.redo', { page: 0, entry: { seq: 1, item: null } }))).toEqual(unchanged(state));
    expect(apply(state, durable('wb.clear', { page: -1 }))).toEqual(unchanged(state));
  });

  it('takes the pages from a snapshot; one from an older server means page 0 only', () => {
    const withPages = applySnapshot(initialState(), snapshot({ boardPages: pages([0, 4], 4) }));
    expect(withPages.pages).toEqual(pages([0, 4], 4));
    expect(applySnapshot(withPages, snapshot()).pages).toEqual(pages([0], 0));
  });
});

describe('applyEvent: class and moderation', () => {
  it('changes only the settings given', () => {
    let state = applyEvent(initialState(), durable('class.settings', { chatLocked: true }, teacher));
    expect(state.settings).toEqual({ chatLocked: true, whiteboardLocked: false });
    state = applyEvent(state, durable('class.settings', { whiteboardLocked: true }, teacher));
    expect(state.settings).toEqual({ chatLocked: true, whiteboardLocked: true });
  });

  it('starts and ends the class', () => {
    let state = applyEvent(initialState(), durable('class.start', {}, teacher));
    expect(state.status).toBe('live');
    state = applyEvent(state, durable('class.end', {}, teacher));
    expect(state.status).toBe('ended');
  });

  it('mutes and unmutes, grants and takes back the board, and removes (lowering the hand)', () => {
    let state = apply(
      initialState(),
      durable('hand.raise', {}, bo),
      durable('moderation.mute', { userId: 's1', muted: true }, teacher),
      durable('moderation.mute', { userId: 's1', muted: true }, teacher),
      durable('moderation.grant', { userId: 's2', granted: true }, teacher),
    );
    expect(state.muted).toEqual(['s1']);
    expect(state.granted).toEqual(['s2']);
    state = apply(
      state,
      durable('moderation.mute', { userId: 's1', muted: false }, teacher),
      durable('moderation.grant', { userId: 's2', granted: false }, teacher),
      durable('moderation.remove', { userId: 's2' }, teacher),
    );
    expect(state.muted).toEqual([]);
    expect(state.granted).toEqual([]);
    expect(state.removed).toEqual(['s2']);
    expect(state.hands).toEqual([]);
  });

  it('ignores events it does not know and ephemeral ones', () => {
    const state = initialState();
    expect(applyEvent(state, durable('quiz.answer', { choice: 2 }))).toEqual(unchanged(state));
    expect(applyEvent(state, { event: 'wb.cursor', data: { x: 0.5, y: 0.5 }, from: ada, ts: 1 })).toBe(state);
  });

  it('tracks the last seq applied', () => {
    const message = durable('chat.message', { text: 'x' });
    expect(applyEvent(initialState(), message).seq).toBe(message.seq);
  });
});

describe('applySnapshot', () => {
  it('a full snapshot replaces everything and events it already contains are not applied twice', () => {
    const before = apply(initialState(), durable('chat.message', { text: 'stale' }, ada, 3));
    const chat = [{ seq: 7, ts: 7, id: 'c7', from: ada, text: 'in snapshot', edited: false }];
    const whiteboard = [{ seq: 8, userId: 't1', item: { type: 'stroke' as const, id: 'w', color: '#000000', width: 2, points: [0, 0, 1, 1] } }];
    let state = applySnapshot(before, snapshot({ seq: 10, chat, whiteboard, muted: ['s2'], hands: [{ userId: 's1', name: 'Ada', raisedAt: 9 }] }));
    expect(state.chat).toEqual(chat);
    expect(state.board).toEqual(whiteboard);
    expect(state.muted).toEqual(['s2']);
    expect(state.status).toBe('live');
    expect(state.seq).toBe(10);
    // The tail continues at 11; anything at or below 10 is in the snapshot already.
    state = apply(state, durable('chat.message', { text: 'dup' }, ada, 10), durable('chat.message', { text: 'next' }, ada, 11));
    expect(state.chat.map((m) => m.text)).toEqual(['in snapshot', 'next']);
  });

  it('a partial snapshot (resumed join) keeps chat and board and replaces the control state', () => {
    let state = apply(initialState(), durable('chat.message', { text: 'kept' }, ada, 1), durable('wb.stroke', { id: 'k', color: '#000000', width: 2, points: [0, 0, 1, 1] }, ada, 2));
    state = applySnapshot(state, snapshot({ full: false, seq: 5, settings: { chatLocked: true, whiteboardLocked: false }, chat: undefined, whiteboard: undefined }));
    expect(state.chat.map((m) => m.text)).toEqual(['kept']);
    expect(state.board.map((e) => e.item.id)).toEqual(['k']);
    expect(state.settings.chatLocked).toBe(true);
    // The replay that follows a resumed join still applies (it is not covered by a full snapshot).
    state = applyEvent(state, durable('chat.message', { text: 'replayed' }, bo, 4));
    expect(state.chat.map((m) => m.text)).toEqual(['kept', 'replayed']);
  });

  it('a replay of control events over a partial snapshot ends in the same state', () => {
    const events = [
      durable('class.settings', { chatLocked: true }, teacher, 21),
      durable('hand.raise', {}, ada, 22),
      durable('class.settings', { chatLocked: false }, teacher, 23),
      durable('moderation.mute', { userId: 's2', muted: true }, teacher, 24),
    ];
    const lived = apply(initialState(), ...events);
    const resumed = apply(
      applySnapshot(initialState(), snapshot({ full: false, seq: 24, settings: lived.settings, muted: [...lived.muted], hands: [...lived.hands], status: lived.status })),
      ...events,
    );
    expect(resumed.settings).toEqual(lived.settings);
    expect(resumed.muted).toEqual(lived.muted);
    expect(resumed.hands.map((h) => h.userId)).toEqual(lived.hands.map((h) => h.userId));
  });
});
