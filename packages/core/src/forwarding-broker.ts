import type { BroadcastOptions, Broker, PublishOptions, PublishResult, ReadResult, StateEffects, StateQuery, StateRead } from './ports.js';

/**
 * A broker that passes every call to another: the base of decorators that watch one or two calls (the
 * records' activity observer, the AWS runtime's room marker) and override only those.
 */
export class ForwardingBroker implements Broker {
  constructor(protected readonly inner: Broker) {}

  publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    return this.inner.publish(room, body, options);
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
