/**
 * The class timer (docs/classroom.md, "Class timer"): a countdown staff set, pause, resume and clear.
 * The server stamps it with its own clock; every client counts down against its estimate of that clock,
 * so all screens agree whatever their own clocks say. Types and pure functions, browser safe.
 */

export const TIMER_LIMITS = {
  /** Longest countdown, seconds (4 hours). */
  maxSeconds: 14_400,
} as const;

export interface TimerSetData {
  seconds: number;
}

/** The timer as stored and as every timer message carries it (`timer`, null once cleared). */
export interface ClassTimer {
  /** The countdown's full length, ms. */
  durationMs: number;
  running: boolean;
  /** Running: server time (ms) at which it reaches zero. */
  endsAt?: number | undefined;
  /** Paused: what was left, ms. */
  remainingMs?: number | undefined;
}

/** What is left at `now` (server time, or a client's estimate of it), ms, never below zero. */
export function timerRemainingMs(timer: ClassTimer, now: number): number {
  if (!timer.running) return Math.max(0, timer.remainingMs ?? 0);
  return Math.max(0, (timer.endsAt ?? now) - now);
}

/** `m:ss`, or `h:mm:ss` from an hour, rounding up so that 0:00 means the time is up. */
export function formatCountdown(ms: number): string {
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}
