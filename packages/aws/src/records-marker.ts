import type { BroadcastOptions, Broker, PublishOptions, PublishResult, ReadResult, StateEffects, StateQuery, StateRead } from '@classwire/core';
import type { Redis } from 'ioredis';

/**
 * The Lambda runtime's half of recording: a publish that was sequenced adds its room to a Redis set
 * (one `SADD`), and the scheduled recorder function (`records-lambda.ts`) drains the set into the
 * records database. The live path never waits for, or even knows about, the database.
 */
export class RecordMarkingBroker implements Broker {
  constructor(
    private readonly inner: Broker,
    private readonly redis: Redis,
    private readonly pendingKey: string,
  ) {}

  async publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    const result = await this.inner.publish(room, body, options);
    // Marked after the append: the recorder, which removes a room before reading its log, then sees
    // this message in that read or finds the room marked again for its next run. A duplicate marks
    // too: it is the client's retry after a failure that may have been this very SADD.
    if (!result.conflict && result.staleGuard === undefined) await this.redis.sadd(this.pendingKey, room);
    return result;
  }

  broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void> {
    return this.inner.broadcast(room, frame, options);
  }

  subscribe(room: string): Promise<void> {
    return this.inner.subscribe(room);
  }

  unsubscribe(room: string): Promise<void> {
    return this.inner.unsubscribe(room);
  }

  read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    return this.inner.read(room, since, epoch);
  }

  readState(room: string, query: StateQuery): Promise<StateRead> {
    return this.inner.readState(room, query);
  }

  updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    return this.inner.updateState(room, effects);
  }
}
