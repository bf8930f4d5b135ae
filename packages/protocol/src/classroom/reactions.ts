/**
 * Reactions (docs/classroom.md, "Reactions"): live reactions, quick feedback from students that staff see
 * as counts fading over a window, and reactions on chat messages, durable and toggled. Catalogues,
 * limits, types and pure functions, browser safe.
 */
import type { Member } from '../types.js';

/** The live reactions a student may send, in the order the app shows them. */
export const LIVE_REACTIONS = [
  { kind: 'got-it', symbol: '👍', label: 'Got it' },
  { kind: 'question', symbol: '❓', label: 'Question' },
  { kind: 'lost', symbol: '😕', label: 'Lost' },
  { kind: 'slower', symbol: '🐢', label: 'Slower' },
  { kind: 'faster', symbol: '🐇', label: 'Faster' },
  { kind: 'louder', symbol: '🔊', label: 'Louder' },
] as const;

export type LiveReactionKind = (typeof LIVE_REACTIONS)[number]['kind'];
export const LIVE_REACTION_KINDS: readonly LiveReactionKind[] = LIVE_REACTIONS.map((reaction) => reaction.kind);

/** The emoji a member may put on a chat message, in the order they are shown under it. */
export const MESSAGE_REACTIONS = ['👍', '❤️', '😂', '😮', '❓', '🎉'] as const;
export type MessageReactionEmoji = (typeof MESSAGE_REACTIONS)[number];

export const REACTION_LIMITS = {
  /** A live reaction counts for this long after it was sent, ms; the same student's repeats within it count once. */
  liveWindowMs: 10_000,
  /** Different emoji one member may put on one message (a message can carry every emoji of the catalogue). */
  maxPerMemberPerMessage: 3,
  /**
   * Reactions kept per room (one per message, emoji and member): past it the oldest messages' reactions
   * go first. It bounds the snapshot (about 60 bytes each).
   */
  maxStoredMessageReactions: 2000,
} as const;

export interface LiveReactionData {
  kind: LiveReactionKind;
}

/** `chat.react` and `chat.unreact`: one emoji on the chat message sequenced at `seq`. */
export interface MessageReactionData {
  seq: number;
  emoji: MessageReactionEmoji;
}

export interface Reactor {
  userId: string;
  name: string;
}

/** One emoji on one message: who put it there, by user id. The count is `by.length`. */
export interface MessageReaction {
  emoji: MessageReactionEmoji;
  by: Reactor[];
}

/**
 * Sent to staff only (`reaction.counts`), at most once per coalescing window per node, and in staff
 * snapshots: every live reaction of the room still inside its window, as the server times (ms) they were
 * sent, newest first. Every batch is the whole room's, so the newest `at` wins.
 */
export interface LiveReactionCounts {
  /** Server time the batch was read. */
  at: number;
  windowMs: number;
  sentAt: Partial<Record<LiveReactionKind, number[]>>;
}

export const LIVE_REACTION_COUNTS_EVENT = 'reaction.counts';

/** What the staff strip shows for one kind at server time `now`. */
export interface LiveReactionLevel {
  kind: LiveReactionKind;
  symbol: string;
  label: string;
  /** Students whose reaction is still inside the window. */
  count: number;
  /** 1 just after the newest reaction, falling to 0 as it leaves the window: drives the fade. */
  freshness: number;
}

/** Each kind's count and freshness at server time `now`: the counts decay with no new frame. */
export function liveReactionLevels(counts: LiveReactionCounts | null, now: number): LiveReactionLevel[] {
  return LIVE_REACTIONS.map(({ kind, symbol, label }) => {
    const live = (counts?.sentAt[kind] ?? []).filter((sentAt) => now - sentAt < (counts?.windowMs ?? 0));
    const newest = live.length === 0 ? undefined : Math.max(...live);
    const freshness = newest === undefined || counts === null ? 0 : Math.min(1, Math.max(0, 1 - (now - newest) / counts.windowMs));
    return { kind, symbol, label, count: live.length, freshness };
  });
}

/** Reactions ordered as everywhere: emoji in catalogue order, reactors by user id. Empty emoji are left out. */
export function orderedReactions(reactions: readonly MessageReaction[]): MessageReaction[] {
  const rank = (emoji: string): number => (MESSAGE_REACTIONS as readonly string[]).indexOf(emoji);
  return reactions
    .filter((reaction) => reaction.by.length > 0)
    .map((reaction) => ({ emoji: reaction.emoji, by: [...reaction.by].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)) }))
    .sort((a, b) => rank(a.emoji) - rank(b.emoji));
}

/** A message's reactions after `reactor` added (`on`) or took back one emoji; the same array when nothing changed. */
export function withMessageReaction(reactions: readonly MessageReaction[], emoji: MessageReactionEmoji, reactor: Reactor, on: boolean): readonly MessageReaction[] {
  const current = reactions.find((reaction) => reaction.emoji === emoji);
  const has = current?.by.some((r) => r.userId === reactor.userId) === true;
  if (has === on) return reactions;
  const by = on ? [...(current?.by ?? []), { userId: reactor.userId, name: reactor.name }] : current!.by.filter((r) => r.userId !== reactor.userId);
  return orderedReactions([...reactions.filter((reaction) => reaction.emoji !== emoji), { emoji, by }]);
}

/** Whether `userId` has put `emoji` on a message with these reactions. */
export function hasReacted(reactions: readonly MessageReaction[] | undefined, emoji: string, userId: string): boolean {
  return reactions?.some((reaction) => reaction.emoji === emoji && reaction.by.some((r) => r.userId === userId)) === true;
}

/** "Ada, Bo and 3 others": who reacted, by name, for a chip's label; members present lend their current names. */
export function reactorsLabel(by: readonly Reactor[], roster: readonly Member[] = [], shown = 3): string {
  const names = by.map((r) => roster.find((m) => m.userId === r.userId)?.name ?? r.name).sort((a, b) => a.localeCompare(b));
  if (names.length <= shown) return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  const rest = names.length - shown;
  return `${names.slice(0, shown).join(', ')} and ${rest} other${rest === 1 ? '' : 's'}`;
}
