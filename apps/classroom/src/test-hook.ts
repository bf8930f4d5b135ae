import { ClasswireError, type ClassroomEvent, type ClassroomEventMap } from '@classwire/client';
import type { Breakout, Classroom } from '@classwire/vue';

/** What the browser tests read and do through `window.__classroom` (only with `?debug` in the URL). */
export interface ClassroomTestHook {
  state(): unknown;
  phase(): string;
  connection(): string;
  clientState(): string;
  me(): unknown;
  /** Others' whiteboard cursors shown now. */
  cursors(): { name: string; x: number; y: number }[];
  /** Publishes as the app would, bypassing its controls: the server's answer decides. */
  publish(event: string, data: unknown): Promise<{ ok: true; seq: number | undefined } | { ok: false; code: string }>;
}

export function installTestHook(classroom: Classroom): void {
  if (!new URLSearchParams(globalThis.location.search).has('debug')) return;
  const hook: ClassroomTestHook = {
    state: () => JSON.parse(JSON.stringify(classroom.state.value)) as unknown,
    phase: () => classroom.phase.value,
    connection: () => classroom.connection.value,
    clientState: () => classroom.clientState(),
    me: () => classroom.me.value,
    cursors: () => classroom.cursors.value.map(({ name, x, y }) => ({ name, x, y })),
    // Unchecked on purpose: the browser tests send what the typed controls never would, and the server judges.
    publish: (event, data) =>
      classroom.publish(event as ClassroomEvent, data as ClassroomEventMap[ClassroomEvent]).then(
        (seq) => ({ ok: true as const, seq }),
        (error: unknown) => ({ ok: false as const, code: error instanceof ClasswireError ? error.code : String(error) }),
      ),
  };
  (globalThis as unknown as { __classroom: ClassroomTestHook }).__classroom = hook;
}

/** Breakout rooms for the browser tests (`window.__breakout`, only with `?debug`): the group the viewer is in and its state. */
export function installBreakoutHook(breakout: Breakout): void {
  if (!new URLSearchParams(globalThis.location.search).has('debug')) return;
  (globalThis as unknown as { __breakout: unknown }).__breakout = {
    current: () => breakout.current.value,
    groupState: () => (breakout.group.value === undefined ? null : (JSON.parse(JSON.stringify(breakout.group.value.state.value)) as unknown)),
    shownBoard: () => breakout.shownBoard.value?.length ?? null,
  };
}
