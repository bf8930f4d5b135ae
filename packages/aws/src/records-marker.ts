import { ForwardingBroker, storesPrivateMessage, type Broker, type PublishOptions, type PublishResult, type StateEffects } from '@classwire/core';
import type { Redis } from 'ioredis';

/**
 * The Lambda runtime's half of recording: a publish that was sequenced adds its room to a Redis set
 * (one `SADD`), and the scheduled recorder function (`records-lambda.ts`) drains the set into the
 * records database. The live path never waits for, or even knows about, the database.
 */
export class RecordMarkingBroker extends ForwardingBroker {
  constructor(
    inner: Broker,
    private readonly redis: Redis,
    private readonly pendingKey: string,
  ) {
    super(inner);
  }

  override async publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    const result = await this.inner.publish(room, body, options);
    // Marked after the append: the recorder, which removes a room before reading its log, then sees
    // this message in that read or finds the room marked again for its next run. A duplicate marks
    // too: it is the client's retry after a failure that may have been this very SADD.
    if (!result.conflict && result.staleGuard === undefined) await this.redis.sadd(this.pendingKey, room);
    return result;
  }

  /** A private message is stored in the room's state, not its log: its room is marked the same way. */
  override async updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    const failed = await this.inner.updateState(room, effects);
    if (failed === undefined && storesPrivateMessage(effects)) await this.redis.sadd(this.pendingKey, room);
    return failed;
  }
}
