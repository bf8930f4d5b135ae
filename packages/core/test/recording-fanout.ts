import type { DeliveryOptions, FanOut, RoomDelivery } from '@classwire/core';

export type Frame = Record<string, unknown> & { type: string };

interface Subscription {
  holding: boolean;
  held: { frame: string; seq: number }[];
}

/**
 * An in-memory FanOut and RoomDelivery that records what each connection would receive. Implements the
 * ports' documented semantics: room deliveries reach subscribed connections in call order; `except` is
 * skipped; while a subscription is held, sequenced frames wait and `release(seq)` delivers those with a
 * higher seq and drops the rest; unsequenced frames are never held. It does not deduplicate anything
 * else, so a test sees every frame the engine caused.
 */
export class RecordingFanOut implements FanOut, RoomDelivery {
  readonly received = new Map<string, string[]>();
  readonly closed: { connectionId: string; code: number; reason: string }[] = [];
  private readonly subscriptions = new Map<string, Map<string, Subscription>>();

  send(connectionId: string, frame: string): Promise<boolean> {
    if (this.isClosed(connectionId)) return Promise.resolve(false);
    this.record(connectionId, frame);
    return Promise.resolve(true);
  }

  sendMany(connectionId: string, frames: readonly string[]): Promise<boolean> {
    if (this.isClosed(connectionId)) return Promise.resolve(false);
    for (const frame of frames) this.record(connectionId, frame);
    return Promise.resolve(true);
  }

  deliver(room: string, frame: string | Buffer, options?: DeliveryOptions): void {
    const text = frame.toString();
    for (const [connectionId, subscription] of this.subscriptions.get(room) ?? []) {
      if (connectionId === options?.except) continue;
      if (options?.seq !== undefined && subscription.holding) subscription.held.push({ frame: text, seq: options.seq });
      else this.record(connectionId, text);
    }
  }

  hasMembers(room: string): boolean {
    return this.subscriptions.has(room);
  }

  closeMembers(room: string, code: number, reason: string): void {
    for (const connectionId of this.subscriptions.get(room)?.keys() ?? []) this.closed.push({ connectionId, code, reason });
  }

  subscribe(connectionId: string, room: string, held: boolean): Promise<void> {
    let members = this.subscriptions.get(room);
    if (members === undefined) {
      members = new Map();
      this.subscriptions.set(room, members);
    }
    const existing = members.get(connectionId);
    if (existing === undefined) members.set(connectionId, { holding: held, held: [] });
    else if (held) existing.holding = true;
    return Promise.resolve();
  }

  release(connectionId: string, room: string, seq: number): Promise<void> {
    const subscription = this.subscriptions.get(room)?.get(connectionId);
    if (subscription !== undefined) {
      subscription.holding = false;
      const held = subscription.held;
      subscription.held = [];
      for (const h of held) if (h.seq > seq) this.record(connectionId, h.frame);
    }
    return Promise.resolve();
  }

  unsubscribe(connectionId: string, room: string): Promise<void> {
    const members = this.subscriptions.get(room);
    members?.delete(connectionId);
    if (members?.size === 0) this.subscriptions.delete(room);
    return Promise.resolve();
  }

  close(connectionId: string, code: number, reason: string): Promise<void> {
    this.closed.push({ connectionId, code, reason });
    return Promise.resolve();
  }

  /** Every frame the connection received, parsed, in order. */
  frames(connectionId: string): Frame[] {
    return (this.received.get(connectionId) ?? []).map((f) => JSON.parse(f) as Frame);
  }

  raw(connectionId: string): string[] {
    return [...(this.received.get(connectionId) ?? [])];
  }

  ofType(connectionId: string, type: string): Frame[] {
    return this.frames(connectionId).filter((f) => f.type === type);
  }

  last(connectionId: string): Frame | undefined {
    return this.frames(connectionId).at(-1);
  }

  clear(connectionId?: string): void {
    if (connectionId === undefined) this.received.clear();
    else this.received.delete(connectionId);
  }

  isSubscribed(connectionId: string, room: string): boolean {
    return this.subscriptions.get(room)?.has(connectionId) ?? false;
  }

  private isClosed(connectionId: string): boolean {
    return this.closed.some((c) => c.connectionId === connectionId);
  }

  private record(connectionId: string, frame: string): void {
    let list = this.received.get(connectionId);
    if (list === undefined) {
      list = [];
      this.received.set(connectionId, list);
    }
    list.push(frame);
  }
}

