import { describe, expect, it } from 'vitest';
import { applyEvent, applySnapshot, formatCountdown, initialState, receiptSummary, timerRemainingMs, withOwnAnswer, type ClassroomMessage, type ClassroomSnapshot, type Sender } from '@classwire/protocol/classroom';

/** The polls part of a client's state: what a member who was there sees equals what a late joiner gets. */

const teacher: Sender = { userId: 't', name: 'Ms Rivera', role: 'teacher' };
const server: Sender = { userId: 's1', name: 'Ada', role: 'student' };
const T0 = 1_700_000_000_000;
const view = { id: 'q', question: '2 + 2?', options: ['3', '4'], multiple: false, anonymous: false, quiz: true, status: 'draft' as const };

const durable = (seq: number, event: string, data: unknown): ClassroomMessage => ({ event, data, from: teacher, seq, ts: T0 + seq });
const tally = (rev: number, counts: number[], voters: { userId: string; name: string; choices: number[] }[] = []): ClassroomMessage => ({
  event: 'poll.tally',
  data: { id: 'q', rev, counts, respondents: counts.reduce((a, b) => a + b, 0), voters },
  from: server,
  ts: T0,
});

describe('polls in the client state', () => {
  it('follows a poll through its lifecycle as the events arrive', () => {
    let state = initialState();
    state = applyEvent(state, durable(1, 'poll.create', view));
    state = applyEvent(state, durable(2, 'poll.open', { id: 'q', seconds: 30, openedAt: T0, closesAt: T0 + 30_000 }));
    expect(state.polls).toEqual([{ ...view, status: 'open', openedAt: T0, closesAt: T0 + 30_000 }]);
    state = applyEvent(state, durable(3, 'poll.close', { id: 'q' }));
    state = applyEvent(state, durable(4, 'poll.share', { id: 'q', results: { counts: [0, 2], respondents: 2, correct: [1] } }));
    expect(state.polls[0]).toMatchObject({ status: 'closed', results: { counts: [0, 2], respondents: 2, correct: [1] } });
    // A replayed creation does not add the poll twice; unknown polls and malformed data change nothing.
    expect(applyEvent(state, durable(5, 'poll.create', view)).polls).toHaveLength(1);
    expect(applyEvent(state, durable(6, 'poll.close', { id: 'other' })).polls).toBe(state.polls);
    expect(applyEvent(state, durable(7, 'poll.share', { id: 'q', results: 'all correct' })).polls).toBe(state.polls);
  });

  it('keeps the newest tally when tallies from different nodes cross, and every voter they name', () => {
    let state = initialState();
    state = applyEvent(state, tally(2, [0, 2], [{ userId: 'b', name: 'Bo', choices: [1] }]));
    state = applyEvent(state, tally(1, [0, 1], [{ userId: 'a', name: 'Ada', choices: [1] }]));
    expect(state.pollTallies.q).toMatchObject({ rev: 2, counts: [0, 2], respondents: 2 });
    expect(state.pollTallies.q!.voters!.map((v) => v.userId).sort()).toEqual(['a', 'b']);
    state = applyEvent(state, tally(3, [1, 1], [{ userId: 'b', name: 'Bo', choices: [0] }]));
    expect(state.pollTallies.q).toMatchObject({ rev: 3, counts: [1, 1] });
    expect(state.pollTallies.q!.voters).toContainEqual({ userId: 'b', name: 'Bo', choices: [0] });
  });

  it('takes polls, tallies and own answers from a snapshot, and records an acknowledged answer', () => {
    const snapshot: ClassroomSnapshot = {
      full: true,
      seq: 9,
      status: 'live',
      settings: { chatLocked: false, whiteboardLocked: false },
      muted: [],
      granted: [],
      removed: [],
      hands: [],
      private: [],
      polls: [{ ...view, status: 'open', openedAt: T0 }],
      pollAnswers: [{ id: 'q', choices: [0] }],
    };
    let state = applySnapshot(initialState(), snapshot);
    expect(state.polls[0]!.status).toBe('open');
    expect(state.myAnswers).toEqual({ q: [0] });
    state = withOwnAnswer(state, { id: 'q', choices: [1] });
    expect(state.myAnswers).toEqual({ q: [1] });
    // Events already in the snapshot are not applied again.
    expect(applyEvent(state, durable(9, 'poll.close', { id: 'q' })).polls[0]!.status).toBe('open');
  });
});

describe('the class timer in the client state', () => {
  it('takes the timer each timer message carries, and from the snapshot', () => {
    let state = applyEvent(initialState(), durable(1, 'timer.set', { seconds: 60, timer: { durationMs: 60_000, running: true, endsAt: T0 + 60_000 } }));
    expect(state.timer).toEqual({ durationMs: 60_000, running: true, endsAt: T0 + 60_000 });
    expect(timerRemainingMs(state.timer!, T0 + 15_000)).toBe(45_000);
    state = applyEvent(state, durable(2, 'timer.pause', { timer: { durationMs: 60_000, running: false, remainingMs: 45_000 } }));
    expect(timerRemainingMs(state.timer!, T0 + 999_000)).toBe(45_000);
    expect(formatCountdown(45_000)).toBe('0:45');
    expect(formatCountdown(3_725_000)).toBe('1:02:05');
    expect(applyEvent(state, durable(3, 'timer.resume', { timer: 'soon' })).timer).toBe(state.timer);
    state = applyEvent(state, durable(4, 'timer.clear', { timer: null }));
    expect(state.timer).toBeNull();
    const snap = { full: true, seq: 9, status: 'live', settings: { chatLocked: false, whiteboardLocked: false }, muted: [], granted: [], removed: [], hands: [], private: [] } as const;
    expect(applySnapshot(state, { ...snap, muted: [], granted: [], removed: [], hands: [], private: [], timer: { durationMs: 5000, running: false, remainingMs: 5000 } }).timer).toMatchObject({ remainingMs: 5000 });
  });
});

describe('the announcement in the client state', () => {
  it('pins, takes the newest batch of readers for the pinned one only, and unpins', () => {
    let state = applyEvent(initialState(), durable(1, 'announce.pin', { id: 'a1', text: 'Test on Friday' }));
    expect(state.announcement).toEqual({ id: 'a1', text: 'Test on Friday', from: teacher, pinnedAt: T0 + 1 });
    const receipts = (id: string, users: string[]): ClassroomMessage => ({ event: 'announce.receipts', data: { id, seenBy: users.map((u) => ({ userId: u, name: u })) }, from: server, ts: T0 });
    state = applyEvent(state, receipts('a1', ['ada', 'bo']));
    expect(state.announcementSeenBy.map((r) => r.userId)).toEqual(['ada', 'bo']);
    expect(applyEvent(state, receipts('old', ['x'])).announcementSeenBy).toBe(state.announcementSeenBy);
    const roster = [
      { userId: 'ada', name: 'Ada', role: 'student' as const },
      { userId: 'cy', name: 'Cy', role: 'student' as const },
      { userId: 't', name: 'T', role: 'teacher' as const },
    ];
    expect(receiptSummary(state.announcementSeenBy, roster)).toEqual({ seen: 1, of: 2, notYet: [roster[1]] });
    state = applyEvent(state, durable(2, 'announce.pin', { id: 'a2', text: 'New' }));
    expect(state.announcementSeenBy).toEqual([]);
    state = applyEvent(state, durable(3, 'announce.unpin', {}));
    expect(state.announcement).toBeNull();
  });
});
