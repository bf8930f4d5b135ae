/**
 * Application pings while the connection is open. They detect dead paths that TCP does not report, and
 * keep API Gateway's idle timer from firing. Any inbound frame counts as the answer.
 */
export interface Heartbeat {
  /** Pings every `intervalMs`: `ping` sends one and says whether it could; `silent` runs when nothing arrived in time after one. */
  start(intervalMs: number, ping: () => boolean, silent: () => void): void;
  /**
   * Pings every `intervalMs` from now on, the next one `intervalMs` from now (the server asked for it); a
   * ping awaiting its answer still waits for it.
   */
  retime(intervalMs: number): void;
  /** A frame arrived: the path is alive. */
  alive(): void;
  stop(): void;
}

export function createHeartbeat(answerTimeoutMs: number): Heartbeat {
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let answerTimer: ReturnType<typeof setTimeout> | undefined;
  /** One beat: a ping, and the wait for its answer. Set by `start`. */
  let tick = () => {};
  // clearTimeout and clearInterval ignore undefined.
  const alive = () => {
    clearTimeout(answerTimer);
    answerTimer = undefined;
  };
  const stop = () => {
    clearInterval(pingTimer);
    pingTimer = undefined;
    alive();
  };
  return {
    start(intervalMs, ping, silent) {
      stop();
      tick = () => {
        if (!ping() || answerTimer !== undefined) return;
        answerTimer = setTimeout(() => {
          answerTimer = undefined;
          silent();
        }, answerTimeoutMs);
      };
      pingTimer = setInterval(tick, intervalMs);
    },
    retime(intervalMs) {
      if (pingTimer === undefined) return;
      clearInterval(pingTimer);
      pingTimer = setInterval(tick, intervalMs);
    },
    alive,
    stop,
  };
}
