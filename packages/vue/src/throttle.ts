/**
 * Calls `send` at most once per `intervalMs`. With `trailing`, the last value offered during a quiet
 * period is sent when it ends (a cursor comes to rest where the pointer stopped); without, extra calls
 * are dropped (a typing indicator needs no catch-up).
 */
export interface Throttle<T> {
  offer(value: T): void;
  /** Drops a waiting value. */
  cancel(): void;
  /** Forgets the last send: the next offer goes out at once. */
  reset(): void;
}

export function throttle<T>(send: (value: T) => void, intervalMs: number, options: { trailing: boolean }): Throttle<T> {
  let lastSent = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiting: { value: T } | undefined;
  const fire = (value: T) => {
    lastSent = Date.now();
    send(value);
  };
  return {
    offer(value: T) {
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0 && timer === undefined) {
        fire(value);
        return;
      }
      if (!options.trailing) return;
      waiting = { value };
      timer ??= setTimeout(() => {
        timer = undefined;
        const pending = waiting;
        waiting = undefined;
        if (pending !== undefined) fire(pending.value);
      }, Math.max(0, wait));
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      waiting = undefined;
    },
    reset() {
      this.cancel();
      lastSent = -Infinity;
    },
  };
}
