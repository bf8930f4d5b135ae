import type {
  BroadcastOptions,
  Broker,
  PublishOptions,
  PublishResult,
  ReadResult,
  RoomDelivery,
  StateEffects,
  StateQuery,
  StateRead,
} from '../ports.js';
import { MemoryRoomLog, type MemoryRoomLogOptions } from './room-log.js';

export interface MemoryBrokerOptions extends MemoryRoomLogOptions {
  /** This node's members (LocalFanOut on the gateway). */
  delivery: RoomDelivery;
}

/**
 * The broker of a single node: the memory room log, and delivery straight to this node's members. A
 * message is delivered in the same synchronous step as its append, so deliveries leave in seq order.
 */
export class MemoryBroker implements Broker {
  readonly log: MemoryRoomLog;
  private readonly delivery: RoomDelivery;

  constructor(options: MemoryBrokerOptions) {
    const { delivery, ...logOptions } = options;
    this.log = new MemoryRoomLog(logOptions);
    this.delivery = delivery;
  }

  publish(room: string, body: string, options: PublishOptions = {}): Promise<PublishResult> {
    const { result, frame } = this.log.append(room, body, options.dedupKey, options.effects);
    if (frame !== undefined) this.delivery.deliver(room, frame, { seq: result.seq, except: options.except });
    return Promise.resolve(result);
  }

  broadcast(room: string, frame: string, options?: BroadcastOptions): Promise<void> {
    this.delivery.deliver(room, frame, options);
    return Promise.resolve();
  }

  /** Every member is on this node: there is nothing to subscribe to. */
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
