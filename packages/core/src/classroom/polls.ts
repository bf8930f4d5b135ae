import {
  POLL_LIMITS,
  POLL_TALLY_EVENT,
  ProtocolError,
  composePrivateMessageFrame,
  encodeAckFrame,
  encodeMessageBody,
  isStaff,
  pollAcceptsAnswers,
  pollChoicesRefusal,
  sortedChoices,
  type Actor,
  type OwnPollAnswer,
  type PollAnswerData,
  type PollResults,
  type PollTally,
  type PollView,
  type PollVoter,
  type PublishFrame,
} from '@classwire/protocol';
import { senderOf } from '../frames.js';
import { stateField, type Broker, type ConnectionRegistry, type ConnectionState, type FanOut, type PresenceStore, type StateOp, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import { sendToStaff } from './staff-delivery.js';
import type { EventInput, Plan, SomeEventHandlers } from './handlers.js';
import { COLLECTIONS, parseControl } from './room-state.js';
import type { RoomStore } from './room-store.js';

/**
 * Polls and quizzes (docs/classroom.md, "Polls"). The lifecycle (`poll.create`, `open`, `close`,
 * `share`) is sequenced in the room log like the other staff events. Answers are not: they would tell
 * every member who chose what. An answer is stored per student and poll, and the poll's counts change
 * with it in one guarded state update, so the tally equals the answers whatever the nodes and retries;
 * staff alone receive the new tally.
 */

/** A poll as stored: what members see, and a quiz's answers. */
interface PollRecord extends PollView {
  correct?: number[] | undefined;
  /** Server time of creation: the order polls are listed in. */
  createdAt: number;
}

/** How often an answer is retried when other answers to the same poll keep landing in between. */
const MAX_ANSWER_ATTEMPTS = 16;

const tallyField = (pollId: string, name: string): string => `${pollId}|${name}`;
const countField = (pollId: string, option: number): string => tallyField(pollId, `c${option}`);
const answerField = (pollId: string, userId: string): string => `${pollId}|${userId}`;

function tallyFields(poll: Pick<PollView, 'id' | 'options'>): string[] {
  return [tallyField(poll.id, 'n'), tallyField(poll.id, 'rev'), ...poll.options.map((_, i) => countField(poll.id, i))];
}

function parseRecord(stored: string | undefined): PollRecord | undefined {
  return stored === undefined ? undefined : (JSON.parse(stored) as PollRecord);
}

/** The poll every member may see: without a quiz's answers until they are shared in `results`. */
function viewOf(record: PollRecord): PollView {
  const view: PollView & Partial<Pick<PollRecord, 'correct' | 'createdAt'>> = { ...record };
  delete view.correct;
  delete view.createdAt;
  return view;
}

function storedPoll(state: StateRead, pollId: string): { stored: string; record: PollRecord } {
  const stored = stateField(state.collections[COLLECTIONS.polls], pollId);
  if (stored === undefined) throw new ProtocolError('not_found', `no poll "${pollId}"`);
  return { stored, record: JSON.parse(stored) as PollRecord };
}

function tallyOf(record: PollRecord, fields: Record<string, string> | undefined): PollTally {
  const number = (field: string): number => Number(stateField(fields, field) ?? '0');
  const tally: PollTally = {
    id: record.id,
    rev: number(tallyField(record.id, 'rev')),
    counts: record.options.map((_, i) => number(countField(record.id, i))),
    respondents: number(tallyField(record.id, 'n')),
  };
  if (record.correct !== undefined) tally.correct = record.correct;
  return tally;
}

/** Replaces the poll's record, guarded on the one the decision was taken on. */
function rewrite(pollId: string, stored: string, record: PollRecord, guardError: ProtocolError): Pick<Plan, 'guards' | 'ops' | 'guardError'> {
  return {
    guards: [{ collection: COLLECTIONS.polls, field: pollId, value: stored }],
    ops: [{ op: 'set', collection: COLLECTIONS.polls, field: pollId, value: JSON.stringify(record) }],
    guardError,
  };
}

const allPolls = (): StateQuery => ({ [COLLECTIONS.polls]: 'all' });
const changedMeanwhile = (pollId: string): ProtocolError => new ProtocolError('conflict', `poll "${pollId}" changed meanwhile; look again`);

function openPoll({ actor, control, data, state, services }: EventInput<'poll.open'>): Plan {
  authorize('poll.open', actor, control);
  const { stored, record } = storedPoll(state, data.id);
  if (record.status !== 'draft') throw new ProtocolError('conflict', `poll "${data.id}" was opened already`);
  const now = services.now();
  const open = Object.values(state.collections[COLLECTIONS.polls] ?? {})
    .map((value) => JSON.parse(value) as PollRecord)
    .filter((poll) => pollAcceptsAnswers(poll, now)).length;
  if (open >= POLL_LIMITS.maxOpenPolls) throw new ProtocolError('payload_too_large', `at most ${POLL_LIMITS.maxOpenPolls} polls may be open at once`);
  const opened: PollRecord = { ...record, status: 'open', openedAt: now };
  if (data.seconds !== undefined) opened.closesAt = now + data.seconds * 1000;
  // Members learn the server's times from the message itself, whatever their clocks say.
  return { ...rewrite(data.id, stored, opened, changedMeanwhile(data.id)), message: { ...data, openedAt: now, closesAt: opened.closesAt } };
}

/** Per lifecycle event: what it reads, who may send it (staff), what it changes. */
export const POLL_HANDLERS: SomeEventHandlers<'poll.create' | 'poll.open' | 'poll.close' | 'poll.share'> = {
  'poll.create': {
    reads: allPolls,
    plan: ({ actor, control, data, state, services }) => {
      authorize('poll.create', actor, control);
      const polls = state.collections[COLLECTIONS.polls] ?? {};
      if (Object.keys(polls).length >= POLL_LIMITS.maxPolls) throw new ProtocolError('payload_too_large', `a class keeps at most ${POLL_LIMITS.maxPolls} polls`);
      const record: PollRecord = {
        id: data.id,
        question: data.question,
        options: data.options,
        multiple: data.multiple,
        anonymous: data.anonymous,
        quiz: data.correct !== undefined,
        status: 'draft',
        createdAt: services.now(),
      };
      if (data.points !== undefined) record.points = data.points;
      if (data.correct !== undefined) record.correct = sortedChoices(data.correct);
      return {
        guards: [{ collection: COLLECTIONS.polls, field: data.id, value: null }],
        ops: [{ op: 'set', collection: COLLECTIONS.polls, field: data.id, value: JSON.stringify(record) }],
        guardError: new ProtocolError('conflict', `there is a poll "${data.id}" already`),
        // A quiz's answers are not relayed: students would see them before answering.
        message: viewOf(record),
      };
    },
  },
  'poll.open': { reads: allPolls, plan: openPoll },
  'poll.close': {
    reads: (data) => ({ [COLLECTIONS.polls]: [data.id] }),
    plan: ({ actor, control, data, state }) => {
      authorize('poll.close', actor, control);
      const { stored, record } = storedPoll(state, data.id);
      if (record.status !== 'open') throw new ProtocolError('conflict', `poll "${data.id}" is not open`);
      return rewrite(data.id, stored, { ...record, status: 'closed' }, changedMeanwhile(data.id));
    },
  },
  'poll.share': {
    reads: (data) => ({ [COLLECTIONS.polls]: [data.id] }),
    plan: async ({ actor, control, data, state, room, services }) => {
      authorize('poll.share', actor, control);
      const { stored, record } = storedPoll(state, data.id);
      // Results are final once no answer can change them: closed, or past its time limit.
      if (record.status === 'draft' || pollAcceptsAnswers(record, services.now())) {
        throw new ProtocolError('conflict', `close poll "${data.id}" before sharing its results`);
      }
      if (record.results !== undefined) throw new ProtocolError('conflict', `the results of poll "${data.id}" are shared already`);
      const tally = tallyOf(record, (await services.readState(room, { [COLLECTIONS.pollTally]: tallyFields(record) })).collections[COLLECTIONS.pollTally]);
      const results: PollResults = { counts: tally.counts, respondents: tally.respondents };
      if (record.correct !== undefined) results.correct = record.correct;
      return { ...rewrite(data.id, stored, { ...record, status: 'closed', results }, changedMeanwhile(data.id)), message: { id: data.id, results } };
    },
  },
};

/**
 * `poll.answer`: a student's answer, stored under their user id (so a second connection, a retry or a
 * reconnect replaces it rather than counting twice) with the counts changed in the same guarded update,
 * then the new tally to every staff member in the room.
 */
export class PollAnswers {
  constructor(
    private readonly store: RoomStore,
    private readonly registry: ConnectionRegistry,
    private readonly presence: PresenceStore,
    private readonly fanout: FanOut,
    private readonly now: () => number,
  ) {}

  async publish(connection: ConnectionState, frame: PublishFrame & { id: string }, data: PollAnswerData): Promise<'acked' | 'duplicate'> {
    const { room, id: publishId } = frame;
    const choices = sortedChoices(data.choices);
    const field = answerField(data.id, connection.userId);
    const voter: PollVoter = { userId: connection.userId, name: connection.name, choices };
    for (let attempt = 0; attempt < MAX_ANSWER_ATTEMPTS; attempt++) {
      const state = await this.store.read(room, {
        [COLLECTIONS.control]: 'all',
        [COLLECTIONS.polls]: [data.id],
        [COLLECTIONS.pollAnswers]: [field],
      });
      authorize('poll.answer', connection, parseControl(state.collections[COLLECTIONS.control]));
      const { stored, record } = storedPoll(state, data.id);
      const previousText = stateField(state.collections[COLLECTIONS.pollAnswers], field);
      const previous = previousText === undefined ? undefined : (JSON.parse(previousText) as PollVoter);
      if (previous !== undefined && previous.choices.join() === choices.join()) {
        // The same answer again (a retry, another tab): nothing to count, even once the poll has closed, so
        // that a retry after a lost ack settles as the answer it repeats rather than as a refusal.
        await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
        return 'duplicate';
      }
      if (!pollAcceptsAnswers(record, this.now())) throw new ProtocolError('forbidden', `poll "${data.id}" is not open for answers`);
      const refusal = pollChoicesRefusal(record, choices);
      if (refusal !== undefined) throw new ProtocolError('bad_request', `invalid poll.answer data at choices: ${refusal}`);
      const ops: StateOp[] = [
        { op: 'set', collection: COLLECTIONS.pollAnswers, field, value: JSON.stringify(voter) },
        { op: 'add', collection: COLLECTIONS.pollTally, field: tallyField(data.id, 'rev'), by: 1 },
      ];
      if (previous === undefined) ops.push({ op: 'add', collection: COLLECTIONS.pollTally, field: tallyField(data.id, 'n'), by: 1 });
      for (const option of previous?.choices ?? []) ops.push({ op: 'add', collection: COLLECTIONS.pollTally, field: countField(data.id, option), by: -1 });
      for (const option of choices) ops.push({ op: 'add', collection: COLLECTIONS.pollTally, field: countField(data.id, option), by: 1 });
      // Counted only if the poll is still as read (not closed meanwhile) and the answer it replaces is the one read.
      const failed = await this.store.updateGuarded(room, {
        guards: [
          { collection: COLLECTIONS.polls, field: data.id, value: stored },
          { collection: COLLECTIONS.pollAnswers, field, value: previousText ?? null },
        ],
        ops,
      });
      if (failed === 0) throw new ProtocolError('forbidden', `poll "${data.id}" is not open for answers`);
      if (failed !== undefined) continue;
      await this.fanout.send(connection.connectionId, encodeAckFrame(publishId, room));
      await this.tellStaff(connection, room, record, record.anonymous ? undefined : voter);
      return 'acked';
    }
    throw new ProtocolError('unavailable', 'the poll kept changing; retry');
  }

  /** The tally after this answer, to the staff's connections in the room (none to students). */
  private async tellStaff(connection: ConnectionState, room: string, record: PollRecord, voter: PollVoter | undefined): Promise<void> {
    const read = await this.store.read(room, { [COLLECTIONS.pollTally]: tallyFields(record) });
    const tally = tallyOf(record, read.collections[COLLECTIONS.pollTally]);
    if (voter !== undefined) tally.voters = [voter];
    const frame = composePrivateMessageFrame(room, this.now(), encodeMessageBody(POLL_TALLY_EVENT, tally, senderOf(connection)));
    await sendToStaff({ presence: this.presence, registry: this.registry, fanout: this.fanout }, room, frame);
  }
}

/** A poll's tally as staff see it: with every voter's answer unless the poll is anonymous. */
function tallyWithVoters(record: PollRecord, state: StateRead): PollTally {
  const tally = tallyOf(record, state.collections[COLLECTIONS.pollTally]);
  if (!record.anonymous) {
    const answers = state.collections[COLLECTIONS.pollAnswers] ?? {};
    const prefix = `${record.id}|`;
    tally.voters = Object.keys(answers)
      .filter((field) => field.startsWith(prefix))
      .map((field) => JSON.parse(answers[field]!) as PollVoter);
  }
  return tally;
}

/** What a snapshot reads for the polls: the tallies and (staff) every answer of a named poll. */
export function pollsQuery(viewer: Actor): StateQuery {
  const query: StateQuery = { [COLLECTIONS.polls]: 'all', [COLLECTIONS.pollTally]: 'all' };
  if (isStaff(viewer.role)) query[COLLECTIONS.pollAnswers] = 'all';
  return query;
}

/** The fields naming a student's own answers, one per poll in the state. */
export function ownAnswersQuery(state: StateRead, viewer: Actor): StateQuery {
  const polls = Object.keys(state.collections[COLLECTIONS.polls] ?? {});
  return { [COLLECTIONS.pollAnswers]: polls.map((pollId) => answerField(pollId, viewer.userId)) };
}

/** The polls part of a viewer's snapshot: polls for all; tallies (and named voters) for staff; own answers for students. */
export function pollsSnapshot(
  state: StateRead,
  viewer: Actor,
  own: StateRead | undefined,
): { polls: PollView[]; pollTallies?: PollTally[]; pollAnswers?: OwnPollAnswer[] } {
  const records = Object.values(state.collections[COLLECTIONS.polls] ?? {})
    .map((value) => parseRecord(value)!)
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  const polls = records.map(viewOf);
  if (isStaff(viewer.role)) {
    return { polls, pollTallies: records.map((record) => tallyWithVoters(record, state)) };
  }
  const ownFields = own?.collections[COLLECTIONS.pollAnswers] ?? {};
  const pollAnswers = records.flatMap((record) => {
    const stored = stateField(ownFields, answerField(record.id, viewer.userId));
    return stored === undefined ? [] : [{ id: record.id, choices: (JSON.parse(stored) as PollVoter).choices }];
  });
  return { polls, pollAnswers };
}

/** A poll whose answers can no longer change (closed, or past its time limit), with its final tally. */
export interface FinalPoll {
  poll: PollView;
  /** Counts, respondents, a quiz's correct options and, unless the poll is anonymous, every voter. */
  tally: PollTally;
}

/**
 * The room's polls whose results are final at `now`, oldest first, with the epoch of the state read:
 * what the class records keep of polls (answers never enter the log).
 */
export async function readFinalPolls(broker: Pick<Broker, 'readState'>, room: string, now: number): Promise<{ epoch: string; polls: FinalPoll[] }> {
  const state = await broker.readState(room, { [COLLECTIONS.polls]: 'all', [COLLECTIONS.pollTally]: 'all', [COLLECTIONS.pollAnswers]: 'all' });
  const final = Object.values(state.collections[COLLECTIONS.polls] ?? {})
    .map((value) => parseRecord(value)!)
    .filter((record) => record.status !== 'draft' && !pollAcceptsAnswers(record, now))
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  return { epoch: state.epoch, polls: final.map((record) => ({ poll: viewOf(record), tally: tallyWithVoters(record, state) })) };
}
