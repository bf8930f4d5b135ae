/**
 * A page of a room's history for a member (`history` frames, docs/protocol.md): the newest messages
 * below a seq, from the live log and, for what it no longer holds, from the class records when the
 * runtime has them (the `HistoryArchive` port). Cost is bounded by the page size: at most one read of
 * `limit` messages, a binary search of a few reads when the log holds only part of them, and one
 * archive query.
 */
import { utf8Length } from '@classwire/protocol';
import type { Broker, HistoryArchive, StoredMessage } from './ports.js';

export interface HistoryPage {
  epoch: string;
  /** Oldest first. */
  messages: StoredMessage[];
  next: number | null;
  archive: boolean;
}

export async function readHistoryPage(
  broker: Pick<Broker, 'read'>,
  archive: HistoryArchive | undefined,
  room: string,
  request: { before?: number | undefined; limit: number },
  budgetBytes: number,
): Promise<HistoryPage> {
  const head = await broker.read(room);
  const { epoch } = head;
  const top = Math.min(request.before ?? head.seq + 1, head.seq + 1);
  const from = Math.max(0, top - 1 - request.limit);
  let messages = await heldBetween(broker, room, epoch, from, top);
  const oldest = messages[0]?.seq ?? top;
  const wanted = request.limit - messages.length;
  if (archive !== undefined && wanted > 0 && oldest > 1) {
    messages = [...(await archive.before(room, epoch, oldest, wanted)), ...messages];
  }
  const fitted = fitNewest(messages, budgetBytes);
  const first = fitted.messages[0]?.seq;
  // More is available when the page was cut to fit, or when it is full and does not start at seq 1.
  const more = fitted.cut !== undefined || (messages.length >= request.limit && first !== undefined && first > 1);
  return { epoch, messages: fitted.messages, next: more ? (first ?? fitted.cut!) : null, archive: archive !== undefined };
}

/** The messages with from < seq < top that the live log still holds (its newest part when it holds only some). */
async function heldBetween(broker: Pick<Broker, 'read'>, room: string, epoch: string, from: number, top: number): Promise<StoredMessage[]> {
  if (top <= 1) return [];
  const below = (read: { messages: StoredMessage[] }) => read.messages.filter((m) => m.seq < top);
  const whole = await broker.read(room, from, epoch);
  if (whole.recovered) return below(whole);
  // The smallest position the log replays from, between `from` (it does not) and `top - 1`.
  let lo = from;
  let hi = top - 1;
  let found: StoredMessage[] = [];
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    const read = await broker.read(room, mid, epoch);
    if (read.recovered) {
      found = below(read);
      hi = mid - 1;
    } else {
      lo = mid;
    }
  }
  return found;
}

/**
 * The newest messages whose frames fit in `budget` bytes together. A single message larger than the
 * whole budget is skipped (`cut` tells the caller where to continue).
 */
function fitNewest(messages: StoredMessage[], budget: number): { messages: StoredMessage[]; cut: number | undefined } {
  let used = 0;
  let start = messages.length;
  let cut: number | undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const size = utf8Length(messages[i]!.frame) + 1;
    if (used + size > budget) {
      cut = messages[i]!.seq;
      break;
    }
    used += size;
    start = i;
  }
  return { messages: messages.slice(start), cut };
}
