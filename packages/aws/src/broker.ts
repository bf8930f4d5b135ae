import type {
  Logger,
  BroadcastOptions,
  Broker,
  PublishOptions,
  PublishResult,
  ReadResult,
  RedisRoomLog,
  StateEffects,
  StateQuery,
  StateRead,
} from '@classwire/core';
import { composeMessageFrame } from '@classwire/protocol';
import type { RoomCoalescer } from './coalescer.js';
import type { ManagementApiFanOut } from './fanout.js';

/**
 * The broker of the Lambda runtime. No process subscribes to anything here, so the room log appends
 * without publishing (`pubsub: false`), and the handler that published posts the new message to the
 * room's members itself, with the same frame the log stores (`composeMessageFrame`, as append.lua
 * composes it) and the other runtimes deliver.
 *
 * Concurrent invocations post independently, so members may receive two messages out of order; the
 * clients reorder by seq (docs/aws.md). With a coalescer, the message is queued instead and leaves with the
 * room's other messages of the window as one batch post per member (`RoomCoalescer`). Subscribing is membership in the registry, which the engine
 * keeps: `subscribe` and `unsubscribe` have nothing to do.
 */
export class ManagementApiBroker implements Broker {
  /** Posts of messages whose sender asked for no echo, started before its ack and awaited by `settle`. */
  private readonly posting = new Set<Promise<void>>();

  constructor(
    private readonly log: RedisRoomLog,
    private readonly fanout: ManagementApiFanOut,
    /** Undefined: each message is posted to the members at once. */
    private readonly coalescer?: RoomCoalescer,
    private readonly logger?: Logger,
  ) {}

  async publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    const result = await this.log.append(room, body, options);
    if (!result.duplicate && !result.conflict && result.staleGuard === undefined) {
      const frame = composeMessageFrame(room, result.seq, result.ts, body);
      if (this.coalescer !== undefined) await this.coalescer.queue(room, result.seq, frame, options?.except);
      else if (options?.except === undefined) await this.fanout.postToMembers(room, frame);
      else {
        // Without its echo the sender learns the message from its ack, which must not wait for the other
        // members' posts: a message of the room reaching it first would look like a gap until then.
        const post = this.fanout
          .postToMembers(room, frame, options.except)
          .catch((error: unknown) => this.logger?.warn({ err: error, room }, 'could not post a message to the room\'s members'))
          .finally(() => this.posting.delete(post));
        this.posting.add(post);
      }
    }
    return result;
  }

  /** Waits for the posts started without waiting. Call before the handler returns: Lambda freezes after. */
  async settle(): Promise<void> {
    while (this.posting.size > 0) await Promise.all(this.posting);
  }

  broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void> {
    return this.fanout.postToMembers(room, frame, options?.except);
  }

  subscribe(): Promise<void> {
    return Promise.resolve();
  }

  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }

  read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    return this.log.read(room, since, epoch);
  }

  readState(room: string, query: StateQuery): Promise<StateRead> {
    return this.log.readState(room, query);
  }

  updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    return this.log.updateState(room, effects);
  }
}
