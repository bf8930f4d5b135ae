import type { ControlState } from './room-state.js';

/** Rooms whose control state is remembered; past this many the memory starts over. */
const MAX_REMEMBERED_CONTROLS = 10_000;

/**
 * The control state last read per room. A decision taken on it is appended under its version guard, so
 * a stale one costs a retry, never a wrong acceptance; a refusal is confirmed on a fresh read.
 */
export class ControlCache {
  private readonly controls = new Map<string, ControlState>();

  get(room: string): ControlState | undefined {
    return this.controls.get(room);
  }

  remember(room: string, control: ControlState): void {
    if (this.controls.size >= MAX_REMEMBERED_CONTROLS && !this.controls.has(room)) this.controls.clear();
    this.controls.set(room, control);
  }
}
