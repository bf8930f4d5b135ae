import type { Logger } from '@classwire/core';
import type { Redis } from 'ioredis';
import type { ManagementApiFanOut } from './fanout.js';

/** The lock outlives the window by this much, so a leader slowed by a GC pause still finds it its own. */
const LOCK_SLACK_MS = 1000;
/** Queued frames nobody drained (their leader's environment died) expire with their queue. */
const QUEUE_TTL_MS = 60_000;
/**
 * At most this many frames wait per room (the stage throttle allows ~50 in a 50 ms window): a flood, or a
 * queue whose leaders keep dying, cannot grow without bound. Older frames beyond it are dropped from the
 * queue only: they are stored, and members resume them at the gap.
 */
export const MAX_QUEUED_FRAMES = 1000;

/**
 * Coalesces a busy room's messages on API Gateway, where every post to every member is a billed message.
 *
 * Each invocation that stores a message queues its frame in Redis (a list per room) and, in the same
 * MULTI, tries to take the room's flush lock. The one that takes it (the leader) waits `windowMs`, then
 * drops the lock and drains the queue in one MULTI, and posts what it drained, sorted by seq, to every
 * member as batch frames (one post per member per 32 KB). The others post nothing: their frames leave
 * with the leader's. A frame queued before the drain is in it; one queued after finds the lock gone and
 * makes its invocation the next leader, so nothing is left behind. A leader that dies leaves its queue
 * to the next leader (after the lock's expiry); with no further message it expires, like a failed post
 * today: the members see the gap at the next message and resume.
 *
 * The window costs the leader's Lambda `windowMs` of duration (docs/cost.md weighs it against the posts
 * saved); the sender's ack does not wait for it (the handler awaits `settle` after replying).
 */
export class RoomCoalescer {
  private readonly flushing = new Set<Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly fanout: ManagementApiFanOut,
    private readonly windowMs: number,
    private readonly logger: Logger,
  ) {}

  /** Queues the stored frame of message `seq` of `room` for the room's members (but `except`, its sender when it asked for no echo). */
  async queue(room: string, seq: number, frame: string, except?: string): Promise<void> {
    const queue = this.queueKey(room);
    const result = await this.redis
      .multi()
      .rpush(queue, encodeQueued(seq, frame, except))
      .ltrim(queue, -MAX_QUEUED_FRAMES, -1)
      .pexpire(queue, QUEUE_TTL_MS)
      .set(this.lockKey(room), '1', 'PX', this.windowMs + LOCK_SLACK_MS, 'NX')
      .exec();
    const [, , , lock] = result ?? [];
    if (lock?.[0] !== null && lock?.[0] !== undefined) throw lock[0];
    if (lock?.[1] !== 'OK') return;
    const flush = this.flushAfterWindow(room).finally(() => this.flushing.delete(flush));
    this.flushing.add(flush);
  }

  /** Waits for this environment's pending flushes. Call before the handler returns: Lambda freezes after. */
  async settle(): Promise<void> {
    while (this.flushing.size > 0) await Promise.all(this.flushing);
  }

  /**
   * Drains the room's queue now and posts it to the members but `except`, whoever leads the window (its
   * leader then finds less or nothing). A join calls it with the joiner as `except`: what is queued is
   * stored already, so the joiner gets it in its replay, and the others before the joiner's replay starts.
   * A close calls it so that what the room was told (a class ending) arrives before the connection goes.
   */
  async flushNow(room: string, except?: string): Promise<void> {
    const queue = this.queueKey(room);
    const result = await this.redis.multi().del(this.lockKey(room)).lrange(queue, 0, -1).del(queue).exec();
    const drained = result?.[1]?.[1];
    if (!Array.isArray(drained) || drained.length === 0) return;
    const entries = (drained as string[]).map(decodeQueued);
    // Concurrent publishers may queue out of seq order; members get them in order.
    entries.sort((a, b) => a.seq - b.seq);
    await this.fanout.postFramesToMembers(room, entries, except);
  }

  private async flushAfterWindow(room: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.windowMs));
    try {
      await this.flushNow(room);
    } catch (error) {
      // The messages are stored: members that missed them see the gap at the next message and resume.
      this.logger.warn({ err: error, room }, 'could not flush the room\'s coalesced messages');
    }
  }

  private queueKey(room: string): string {
    return `${this.prefix}:{${room}}:coalesce`;
  }

  private lockKey(room: string): string {
    return `${this.prefix}:{${room}}:coalesce-lock`;
  }
}

/** A queued frame: `${seq} ${frame}`, or `${seq}:${except} ${frame}` when one member (its sender) is left out. */
export function encodeQueued(seq: number, frame: string, except: string | undefined): string {
  return except === undefined ? `${seq} ${frame}` : `${seq}:${except} ${frame}`;
}

export function decodeQueued(entry: string): { seq: number; frame: string; except?: string } {
  const space = entry.indexOf(' ');
  const head = entry.slice(0, space);
  const colon = head.indexOf(':');
  const frame = entry.slice(space + 1);
  // Connection ids are base64url: no colon or space in them.
  return colon < 0 ? { seq: Number(head), frame } : { seq: Number(head.slice(0, colon)), frame, except: head.slice(colon + 1) };
}
