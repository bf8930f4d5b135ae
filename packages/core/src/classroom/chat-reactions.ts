import {
  MESSAGE_REACTIONS,
  ProtocolError,
  REACTION_LIMITS,
  orderedReactions,
  type MessageReaction,
  type MessageReactionEmoji,
} from '@classwire/protocol';
import { stateField, stateSeqField, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import type { SomeEventHandlers } from './handlers.js';
import { COLLECTIONS } from './room-state.js';

/**
 * Reactions on chat messages (docs/classroom.md, "Reactions"): `chat.react` and `chat.unreact` are
 * sequenced like the other chat events. Each reaction is one field of `chatReactions`,
 * `<message seq, padded>|<emoji>|<user id>` → the reactor's name, so members reacting at once never
 * touch the same field, and fields sort by message: the collection's cap drops the oldest messages'
 * reactions first. A message's reactions leave with it from the snapshot (they are shown only for
 * messages in the chat tail), and from the state when the cap reaches them.
 */

/** The padded seq is 16 characters: the emoji and the user id follow, each after a `|`. */
const SEQ_WIDTH = 16;

export function reactionField(seq: number, emoji: string, userId: string): string {
  return `${stateSeqField(seq)}|${emoji}|${userId}`;
}

/** Fields of `userId`'s possible reactions on the message at `seq`, one per emoji of the catalogue. */
const ownReactions = (seq: number, userId: string): StateQuery => ({
  [COLLECTIONS.chatReactions]: MESSAGE_REACTIONS.map((emoji) => reactionField(seq, emoji, userId)),
});

const messageAndOwnReactions = (data: { seq: number }, actor: { userId: string }): StateQuery => ({
  [COLLECTIONS.chat]: [stateSeqField(data.seq)],
  ...ownReactions(data.seq, actor.userId),
});

function requireMessage(state: StateRead, seq: number): void {
  if (stateField(state.collections[COLLECTIONS.chat], stateSeqField(seq)) === undefined) {
    throw new ProtocolError('not_found', `no chat message with seq ${seq} in the recent chat`);
  }
}

export const CHAT_REACTION_HANDLERS: SomeEventHandlers<'chat.react' | 'chat.unreact'> = {
  'chat.react': {
    reads: messageAndOwnReactions,
    plan: ({ actor, sender, control, data, state }) => {
      requireMessage(state, data.seq);
      authorize('chat.react', actor, control);
      const field = reactionField(data.seq, data.emoji, actor.userId);
      const own = state.collections[COLLECTIONS.chatReactions] ?? {};
      if (stateField(own, field) !== undefined) throw new ProtocolError('conflict', `you already reacted with ${data.emoji}`);
      if (Object.keys(own).length >= REACTION_LIMITS.maxPerMemberPerMessage) {
        throw new ProtocolError('payload_too_large', `at most ${REACTION_LIMITS.maxPerMemberPerMessage} different reactions per member on one message`);
      }
      return {
        // A second tab putting the same emoji at the same time loses here rather than counting twice.
        guards: [{ collection: COLLECTIONS.chatReactions, field, value: null }],
        ops: [{ op: 'set', collection: COLLECTIONS.chatReactions, field, value: sender.name, keep: REACTION_LIMITS.maxStoredMessageReactions }],
        guardError: new ProtocolError('conflict', `you already reacted with ${data.emoji}`),
      };
    },
  },
  'chat.unreact': {
    reads: messageAndOwnReactions,
    plan: ({ actor, control, data, state }) => {
      requireMessage(state, data.seq);
      authorize('chat.unreact', actor, control);
      const field = reactionField(data.seq, data.emoji, actor.userId);
      const stored = stateField(state.collections[COLLECTIONS.chatReactions], field);
      if (stored === undefined) throw new ProtocolError('not_found', `you have not reacted with ${data.emoji} to this message`);
      return {
        guards: [{ collection: COLLECTIONS.chatReactions, field, value: stored }],
        ops: [{ op: 'delete', collection: COLLECTIONS.chatReactions, field }],
        guardError: new ProtocolError('not_found', `you have not reacted with ${data.emoji} to this message`),
      };
    },
  },
};

/** Every stored reaction grouped per message seq, ordered as the clients order them. */
export function reactionsBySeq(fields: Record<string, string> | undefined): Map<number, MessageReaction[]> {
  const grouped = new Map<number, Map<string, MessageReaction>>();
  for (const field of Object.keys(fields ?? {})) {
    const seq = Number(field.slice(0, SEQ_WIDTH));
    const rest = field.slice(SEQ_WIDTH + 1);
    const bar = rest.indexOf('|');
    if (bar < 0) continue;
    const emoji = rest.slice(0, bar) as MessageReactionEmoji;
    const userId = rest.slice(bar + 1);
    let byEmoji = grouped.get(seq);
    if (byEmoji === undefined) grouped.set(seq, (byEmoji = new Map()));
    let reaction = byEmoji.get(emoji);
    if (reaction === undefined) byEmoji.set(emoji, (reaction = { emoji, by: [] }));
    reaction.by.push({ userId, name: fields![field]! });
  }
  return new Map([...grouped].map(([seq, byEmoji]) => [seq, orderedReactions([...byEmoji.values()])]));
}
