import { describe, expect, it } from 'vitest';
import { applyEvent, applySnapshot, initialState, liveReactionLevels, reactorsLabel, type ClassroomMessage, type Sender } from '@classwire/protocol/classroom';

/** Reactions in a client's state: chips on chat messages, and the staff's live counts fading in server time. */

const T0 = 1_700_000_000_000;
const ada: Sender = { userId: 'ada', name: 'Ada', role: 'student' };
const bo: Sender = { userId: 'bo', name: 'Bo', role: 'student' };
const at = (seq: number, event: string, data: unknown, from: Sender = ada): ClassroomMessage => ({ event, data, from, seq, ts: T0 + seq });

describe('reactions on chat messages in the client state', () => {
  it('adds and removes reactors per emoji in catalogue order, ignores repeats, unknown messages and emoji', () => {
    let state = applyEvent(initialState(), at(1, 'chat.message', { text: 'hi' }));
    state = applyEvent(state, at(2, 'chat.react', { seq: 1, emoji: '🎉' }, bo));
    state = applyEvent(state, at(3, 'chat.react', { seq: 1, emoji: '👍' }, bo));
    state = applyEvent(state, at(4, 'chat.react', { seq: 1, emoji: '👍' }, ada));
    expect(state.chat[0]!.reactions).toEqual([
      { emoji: '👍', by: [{ userId: 'ada', name: 'Ada' }, { userId: 'bo', name: 'Bo' }] },
      { emoji: '🎉', by: [{ userId: 'bo', name: 'Bo' }] },
    ]);
    for (const ignored of [at(5, 'chat.react', { seq: 1, emoji: '👍' }, ada), at(6, 'chat.react', { seq: 9, emoji: '👍' }), at(7, 'chat.react', { seq: 1, emoji: '🍕' }), at(8, 'chat.unreact', { seq: 1, emoji: '😮' })]) {
      expect(applyEvent(state, ignored).chat).toBe(state.chat);
    }
    state = applyEvent(state, at(9, 'chat.unreact', { seq: 1, emoji: '🎉' }, bo));
    state = applyEvent(state, at(10, 'chat.unreact', { seq: 1, emoji: '👍' }, bo));
    state = applyEvent(state, at(11, 'chat.unreact', { seq: 1, emoji: '👍' }, ada));
    // No reactions left: the entry looks as a snapshot gives it.
    expect(state.chat[0]).toEqual({ seq: 1, ts: T0 + 1, from: ada, text: 'hi', edited: false });
  });

  it('names who reacted, with current names, shortening long lists', () => {
    const by = ['a', 'b', 'c', 'd', 'e'].map((userId) => ({ userId, name: userId.toUpperCase() }));
    expect(reactorsLabel(by.slice(0, 1))).toBe('A');
    expect(reactorsLabel(by.slice(0, 3), [{ userId: 'b', name: 'Bea', role: 'student' }])).toBe('A, Bea and C');
    expect(reactorsLabel(by)).toBe('A, B, C and 2 others');
  });
});

describe('live reactions in the client state', () => {
  const counts = (at: number, question: number[]): ClassroomMessage => ({ event: 'reaction.counts', data: { at, windowMs: 10_000, sentAt: { question } }, from: ada, ts: at });

  it('keeps the newest batch (batches from different nodes cross), and counts fade in server time', () => {
    let state = applyEvent(initialState(), counts(T0 + 500, [T0 + 400, T0]));
    state = applyEvent(state, counts(T0 + 300, [T0]));
    expect(state.liveReactions?.at).toBe(T0 + 500);
    const question = (now: number) => liveReactionLevels(state.liveReactions, now).find((level) => level.kind === 'question')!;
    expect(question(T0 + 5_000)).toMatchObject({ count: 2, freshness: 1 - 4_600 / 10_000 });
    expect(question(T0 + 10_000)).toMatchObject({ count: 1 });
    expect(question(T0 + 10_400)).toMatchObject({ count: 0, freshness: 0 });
    expect(liveReactionLevels(null, T0).every((level) => level.count === 0)).toBe(true);
    // A staff member's snapshot carries the counts; an older one does not replace newer live ones.
    const snap = { full: true, seq: 0, status: 'live' as const, settings: { chatLocked: false, whiteboardLocked: false }, muted: [], granted: [], removed: [], hands: [], private: [] };
    expect(applySnapshot(state, { ...snap, liveReactions: { at: T0, windowMs: 10_000, sentAt: {} } }).liveReactions?.at).toBe(T0 + 500);
    expect(applySnapshot(initialState(), { ...snap, liveReactions: { at: T0, windowMs: 10_000, sentAt: {} } }).liveReactions?.at).toBe(T0);
    expect(applyEvent(state, { event: 'reaction.counts', data: { at: 'x' }, from: ada, ts: T0 }).liveReactions).toBe(state.liveReactions);
  });
});
