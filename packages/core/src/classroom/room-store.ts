import type { FanOut, RoomLog, StateEffects, StateOp, StateQuery, StateRead } from '../ports.js';
import { COLLECTIONS, parseControl, type ControlState } from './room-state.js';

export type AppendOutcome =
  /** Guard number `guard` did not hold: nothing was stored or delivered. */
  | { kind: 'stale'; guard: number }
  /** The dedup key was used before for a different message. */
  | { kind: 'conflict' }
  /** Stored and delivered to the room now, or (`duplicate`) already before. */
  | { kind: 'stored'; seq: number; duplicate: boolean };

/**
 * The classroom's only access to the room log: reads of the state, the guarded append that sequences,
 * stores and delivers a classroom message, and the unsequenced state change of private messages.
 */
export class RoomStore {
  constructor(
    private readonly roomLog: RoomLog,
    private readonly fanout: FanOut,
  ) {}

  read(room: string, query: StateQuery): Promise<StateRead> {
    return this.roomLog.readState(room, query);
  }

  async readControl(room: string): Promise<ControlState> {
    const state = await this.roomLog.readState(room, { [COLLECTIONS.control]: 'all' });
    return parseControl(state.collections[COLLECTIONS.control]);
  }

  /** Appends the message under the guards with its effects and broadcasts it, in the append's continuation. */
  async append(room: string, body: string, dedupKey: string, effects: StateEffects): Promise<AppendOutcome> {
    const result = await this.roomLog.append(room, body, dedupKey, effects);
    if (result.staleGuard !== undefined) return { kind: 'stale', guard: result.staleGuard };
    if (result.conflict) return { kind: 'conflict' };
    if (!result.duplicate) await this.fanout.broadcast(room, result.frame, { seq: result.seq });
    return { kind: 'stored', seq: result.seq, duplicate: result.duplicate };
  }

  /** Changes the state without a message (private messages are not in the room's log). */
  async update(room: string, ops: StateOp[]): Promise<void> {
    await this.roomLog.updateState(room, { ops });
  }
}
