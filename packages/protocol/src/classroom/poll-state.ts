/**
 * The polls part of a client's classroom state (client-state.ts): the polls, the staff's tallies and
 * the viewer's own answers, from the snapshot and the `poll.*` events. Pure; applies, never authorizes.
 */
import type { OwnPollAnswer, PollResults, PollTally, PollView } from './polls.js';
import type { ClassroomSnapshot } from './types.js';

export interface PollsState {
  /** Oldest first. */
  polls: readonly PollView[];
  /** Staff: the newest tally per poll id. */
  pollTallies: Readonly<Record<string, PollTally>>;
  /** The viewer's own answer per poll id (a student's). */
  myAnswers: Readonly<Record<string, readonly number[]>>;
}

export function initialPollsState(): PollsState {
  return { polls: [], pollTallies: {}, myAnswers: {} };
}

/** The snapshot's polls replace the ones held (every snapshot carries them all). */
export function pollsFromSnapshot(snapshot: ClassroomSnapshot): PollsState {
  const pollTallies: Record<string, PollTally> = {};
  for (const tally of snapshot.pollTallies ?? []) pollTallies[tally.id] = tally;
  const myAnswers: Record<string, readonly number[]> = {};
  for (const answer of snapshot.pollAnswers ?? []) myAnswers[answer.id] = answer.choices;
  return { polls: [...(snapshot.polls ?? [])], pollTallies, myAnswers };
}

/** Records the viewer's own answer once the server acknowledged it. */
export function withOwnAnswer<S extends PollsState>(state: S, answer: OwnPollAnswer): S {
  return { ...state, myAnswers: { ...state.myAnswers, [answer.id]: [...answer.choices] } };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

function numbers(value: unknown): number[] | undefined {
  return Array.isArray(value) && value.every((n) => typeof n === 'number') ? (value as number[]) : undefined;
}

function changePoll<S extends PollsState>(state: S, id: unknown, change: (poll: PollView) => PollView): S {
  if (typeof id !== 'string' || !state.polls.some((poll) => poll.id === id)) return state;
  return { ...state, polls: state.polls.map((poll) => (poll.id === id ? change(poll) : poll)) };
}

function isPollView(value: Record<string, unknown>): boolean {
  return (
    typeof value.id === 'string' &&
    typeof value.question === 'string' &&
    Array.isArray(value.options) &&
    value.options.every((o) => typeof o === 'string') &&
    typeof value.multiple === 'boolean' &&
    typeof value.anonymous === 'boolean'
  );
}

/** Applies one `poll.*` event (and the staff's `poll.tally`); anything else or malformed leaves the state. */
export function applyPollEvent<S extends PollsState>(state: S, event: string, payload: unknown): S {
  const data = record(payload);
  if (data === undefined) return state;
  switch (event) {
    case 'poll.create': {
      if (!isPollView(data) || state.polls.some((poll) => poll.id === data.id)) return state;
      const poll = data as unknown as PollView;
      return { ...state, polls: [...state.polls, { ...poll, quiz: poll.quiz === true, status: 'draft' }] };
    }
    case 'poll.open': {
      const openedAt = typeof data.openedAt === 'number' ? data.openedAt : undefined;
      const closesAt = typeof data.closesAt === 'number' ? data.closesAt : undefined;
      return changePoll(state, data.id, (poll) => ({ ...poll, status: 'open', openedAt, closesAt }));
    }
    case 'poll.close':
      return changePoll(state, data.id, (poll) => ({ ...poll, status: 'closed' }));
    case 'poll.share': {
      const results = record(data.results);
      const counts = numbers(results?.counts);
      if (results === undefined || counts === undefined || typeof results.respondents !== 'number') return state;
      const shared: PollResults = { counts, respondents: results.respondents, correct: numbers(results.correct) };
      return changePoll(state, data.id, (poll) => ({ ...poll, status: 'closed', results: shared }));
    }
    case 'poll.tally':
      return withTally(state, data);
    default:
      return state;
  }
}

/** A newer tally replaces the counts; a named poll's voters are merged by user (one answer each). */
function withTally<S extends PollsState>(state: S, data: Record<string, unknown>): S {
  const counts = numbers(data.counts);
  if (typeof data.id !== 'string' || typeof data.rev !== 'number' || typeof data.respondents !== 'number' || counts === undefined) return state;
  const held = state.pollTallies[data.id];
  const newer = held === undefined || data.rev > held.rev;
  const voters = new Map((held?.voters ?? []).map((voter) => [voter.userId, voter]));
  // An older tally still names its voter (tallies from different nodes may cross); its counts are stale.
  for (const voter of Array.isArray(data.voters) ? (data.voters as unknown[]) : []) {
    const v = record(voter);
    const choices = numbers(v?.choices);
    if (v === undefined || typeof v.userId !== 'string' || choices === undefined) continue;
    if (newer || !voters.has(v.userId)) voters.set(v.userId, { userId: v.userId, name: typeof v.name === 'string' ? v.name : v.userId, choices });
  }
  if (!newer && voters.size === (held?.voters?.length ?? 0)) return state;
  const base: PollTally = newer ? { id: data.id, rev: data.rev, counts, respondents: data.respondents, correct: numbers(data.correct) } : held!;
  const tally: PollTally = { ...base };
  if (voters.size > 0) tally.voters = [...voters.values()];
  return { ...state, pollTallies: { ...state.pollTallies, [data.id]: tally } };
}
