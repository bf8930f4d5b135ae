import type { Broker, StateEffects, StateOp, StateQuery, StateRead } from '../ports.js';
import { COLLECTIONS, parseControl, type ControlState } from './room-state.js';

export type AppendOutcome =
  /** Guard number `guard` did not hold: nothing was stored or delivered. */
  | { kind: 'stale'; guard: number }
  /** The dedup key was used before for a different message. */
  | { kind: 'conflict' }
  /** Stored and delivered to the room now, or (`duplicate`) already before. */
  | { kind: 'stored'; seq: number; ts: number; epoch: string; duplicate: boolean };

/**
 * The classroom's only access to the broker's room storage: reads of the state, the guarded publish that
 * sequences, stores and delivers a classroom message, and the unsequenced state change of private messages.
 */
export class RoomStore {
  constructor(private readonly broker: Broker) {}

  read(room: string, query: StateQuery): Promise<StateRead> {
    return this.broker.readState(room, query);
  }

  async readControl(room: string): Promise<ControlState> {
    const state = await this.broker.readState(room, { [COLLECTIONS.control]: 'all' });
    return parseControl(state.collections[COLLECTIONS.control]);
  }

  /** Publishes the message under the guards with its effects: stored and delivered, or neither. */
  /** `except`: a connection not to deliver it to (its sender, which asked for no echo). */
  async append(room: string, body: string, dedupKey: string, effects: StateEffects, except?: string): Promise<AppendOutcome> {
    const result = await this.broker.publish(room, body, except === undefined ? { dedupKey, effects } : { dedupKey, effects, except });
    if (result.staleGuard !== undefined) return { kind: 'stale', guard: result.staleGuard };
    if (result.conflict) return { kind: 'conflict' };
    return { kind: 'stored', seq: result.seq, ts: result.ts, epoch: result.epoch, duplicate: result.duplicate };
  }

  /** Changes the state without a message, if the guards hold; resolves with the failed guard's index, if any. */
  updateGuarded(room: string, effects: StateEffects): Promise<number | undefined> {
    return this.broker.updateState(room, effects);
  }

  /** Changes the state without a message (private messages are not in the room's log). */
  async update(room: string, ops: StateOp[]): Promise<void> {
    await this.broker.updateState(room, { ops });
  }
}
