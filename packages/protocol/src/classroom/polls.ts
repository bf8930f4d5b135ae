/**
 * Polls and quizzes (docs/classroom.md, "Polls"): the events' data, the poll as members see it, the
 * staff's live tally, and the rules both the server and the app apply to an answer. Types and pure
 * functions only, browser safe.
 */

export const POLL_LIMITS = {
  /** Polls a room keeps (drafts, open and closed); more are refused until the room's history starts over. */
  maxPolls: 20,
  /** Polls open at the same time in one room. */
  maxOpenPolls: 3,
  minOptions: 2,
  maxOptions: 10,
  /** Longest question, characters after trimming. */
  maxQuestion: 300,
  /** Longest option, characters after trimming. */
  maxOptionText: 100,
  /** Longest time limit, seconds. */
  maxSeconds: 3600,
  /** Most points a quiz question may be worth. */
  maxPoints: 100,
  /** Longest poll id; ids are letters, digits, `-` and `_`. */
  maxPollId: 64,
} as const;

/** Poll ids are plain so that `<poll id>|<user id>` names one answer without ambiguity. */
export const POLL_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

export interface PollCreateData {
  id: string;
  question: string;
  options: string[];
  /** Several options may be chosen (otherwise exactly one). */
  multiple: boolean;
  /** Staff see counts only, never who chose what. */
  anonymous: boolean;
  /** A quiz: the indexes of the correct options (kept from students until the results are shared). */
  correct?: number[] | undefined;
  /** A quiz question's worth; only with `correct`. */
  points?: number | undefined;
}
export interface PollOpenData {
  id: string;
  /** Time limit from the moment the server opens it; answers after it are refused. */
  seconds?: number | undefined;
}
export interface PollIdData {
  id: string;
}
export interface PollAnswerData {
  id: string;
  /** Indexes into the poll's options: exactly one for a single-choice poll. */
  choices: number[];
}

export type PollStatus = 'draft' | 'open' | 'closed';

/** Final counts, shared with the class by `poll.share`. */
export interface PollResults {
  /** Per option, how many respondents chose it. */
  counts: number[];
  respondents: number;
  /** A quiz's correct options. */
  correct?: number[] | undefined;
}

/** A poll as every member sees it (a quiz's answers stay with the staff until shared). */
export interface PollView {
  id: string;
  question: string;
  options: string[];
  multiple: boolean;
  anonymous: boolean;
  quiz: boolean;
  points?: number | undefined;
  status: PollStatus;
  /** Server time the poll opened (ms). */
  openedAt?: number | undefined;
  /** Server time after which answers are refused (ms); absent without a time limit. */
  closesAt?: number | undefined;
  /** Present once staff shared the results. */
  results?: PollResults | undefined;
}

/** One named respondent's answer, as staff see it (never sent for an anonymous poll). */
export interface PollVoter {
  userId: string;
  name: string;
  choices: number[];
}

/**
 * The live tally staff receive (event `poll.tally`, unsequenced, staff only) and find in their snapshot.
 * `rev` grows with every counted change: a client keeps the tally with the greatest `rev`, since tallies
 * computed on different nodes may arrive out of order.
 */
export interface PollTally {
  id: string;
  rev: number;
  counts: number[];
  respondents: number;
  correct?: number[] | undefined;
  /** Named polls: in the snapshot every voter; live, the voter whose answer changed. */
  voters?: PollVoter[] | undefined;
}

/** A student's own answer, in their snapshot. */
export interface OwnPollAnswer {
  id: string;
  choices: number[];
}

/** The unsequenced event that carries a `PollTally` to staff. */
export const POLL_TALLY_EVENT = 'poll.tally';

/** Whether the poll takes answers at `now` (server time, or the client's estimate of it). */
export function pollAcceptsAnswers(poll: Pick<PollView, 'status' | 'closesAt'>, now: number): boolean {
  return poll.status === 'open' && (poll.closesAt === undefined || now <= poll.closesAt);
}

/** Undefined when `choices` is a valid answer to the poll, otherwise why not. */
export function pollChoicesRefusal(poll: Pick<PollView, 'options' | 'multiple'>, choices: readonly number[]): string | undefined {
  if (choices.length === 0) return 'choose at least one option';
  if (!poll.multiple && choices.length !== 1) return 'this poll takes exactly one choice';
  if (new Set(choices).size !== choices.length) return 'an option may be chosen once';
  if (choices.some((c) => !Number.isInteger(c) || c < 0 || c >= poll.options.length)) return 'no such option';
  return undefined;
}

/** Choices in a canonical order, so that the same answer is stored the same way. */
export function sortedChoices(choices: readonly number[]): number[] {
  return [...choices].sort((a, b) => a - b);
}
