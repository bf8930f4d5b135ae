import { ProtocolError, timerRemainingMs, type ClassTimer } from '@classwire/protocol';
import { stateField, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import type { EventInput, Plan, SomeEventHandlers } from './handlers.js';
import { COLLECTIONS } from './room-state.js';

/**
 * The class timer (docs/classroom.md, "Class timer"): one countdown per room, in the server's time.
 * Each change is sequenced in the room log and the message carries the timer it leaves (null once
 * cleared), so members apply it as is; the change is guarded on the timer as read, so two staff
 * members pausing and resuming at once cannot both act on the same timer.
 */

/** The `timer` collection's one field. */
const TIMER_FIELD = 't';

const readTimer = (): StateQuery => ({ [COLLECTIONS.timer]: [TIMER_FIELD] });

function storedTimer(state: StateRead): { stored: string | null; timer: ClassTimer | null } {
  const stored = stateField(state.collections[COLLECTIONS.timer], TIMER_FIELD) ?? null;
  return { stored, timer: stored === null ? null : (JSON.parse(stored) as ClassTimer) };
}

/** Replaces the timer read (`stored`) by `next`; members receive `data` with the new timer. */
function change(stored: string | null, next: ClassTimer | null, data: object): Plan {
  return {
    guards: [{ collection: COLLECTIONS.timer, field: TIMER_FIELD, value: stored }],
    ops:
      next === null
        ? [{ op: 'delete', collection: COLLECTIONS.timer, field: TIMER_FIELD }]
        : [{ op: 'set', collection: COLLECTIONS.timer, field: TIMER_FIELD, value: JSON.stringify(next) }],
    guardError: new ProtocolError('conflict', 'the timer changed meanwhile; look again'),
    message: { ...data, timer: next },
  };
}

function running({ state, services }: EventInput<'timer.pause' | 'timer.resume'>): { stored: string | null; timer: ClassTimer; left: number } {
  const { stored, timer } = storedTimer(state);
  if (timer === null) throw new ProtocolError('conflict', 'no timer is set');
  return { stored, timer, left: timerRemainingMs(timer, services.now()) };
}

export const TIMER_HANDLERS: SomeEventHandlers<'timer.set' | 'timer.pause' | 'timer.resume' | 'timer.clear'> = {
  'timer.set': {
    reads: readTimer,
    plan: ({ actor, control, data, state, services }) => {
      authorize('timer.set', actor, control);
      const durationMs = data.seconds * 1000;
      return change(storedTimer(state).stored, { durationMs, running: true, endsAt: services.now() + durationMs }, data);
    },
  },
  'timer.pause': {
    reads: readTimer,
    plan: (input) => {
      authorize('timer.pause', input.actor, input.control);
      const { stored, timer, left } = running(input);
      if (!timer.running) throw new ProtocolError('conflict', 'the timer is paused already');
      if (left === 0) throw new ProtocolError('conflict', 'the timer has run out');
      return change(stored, { durationMs: timer.durationMs, running: false, remainingMs: left }, input.data);
    },
  },
  'timer.resume': {
    reads: readTimer,
    plan: (input) => {
      authorize('timer.resume', input.actor, input.control);
      const { stored, timer, left } = running(input);
      if (timer.running) throw new ProtocolError('conflict', 'the timer is running already');
      return change(stored, { durationMs: timer.durationMs, running: true, endsAt: input.services.now() + left }, input.data);
    },
  },
  'timer.clear': {
    reads: readTimer,
    plan: ({ actor, control, data, state }) => {
      authorize('timer.clear', actor, control);
      const { stored } = storedTimer(state);
      if (stored === null) throw new ProtocolError('conflict', 'no timer is set');
      return change(stored, null, data);
    },
  },
};

/** The timer part of a snapshot. */
export function timerSnapshot(state: StateRead): ClassTimer | null {
  return storedTimer(state).timer;
}

export const timerQuery = readTimer;
