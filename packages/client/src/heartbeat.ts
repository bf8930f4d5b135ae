/**
 * Application pings while the connection is open. They detect dead paths that TCP does not report, and
 * keep API Gateway's idle timer from firing. Any inbound frame counts as the answer.
 */
export class Heartbeat {
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private answerTimer: ReturnType<typeof setTimeout> | undefined;
  /** One beat: a ping, and the wait for its answer. Set by `start`. */
  private tick = () => {};

  constructor(private readonly answerTimeoutMs: number) {}

  /** Pings every `intervalMs`: `ping` sends one and says whether it could; `silent` runs when nothing arrived in time after one. */
  start(intervalMs: number, ping: () => boolean, silent: () => void): void {
    this.stop();
    this.tick = () => {
      if (!ping() || this.answerTimer !== undefined) return;
      this.answerTimer = setTimeout(() => {
        this.answerTimer = undefined;
        silent();
      }, this.answerTimeoutMs);
    };
    this.pingTimer = setInterval(this.tick, intervalMs);
  }

  /**
   * Pings every `intervalMs` from now on, the next one `intervalMs` from now (the server asked for it); a
   * ping awaiting its answer still waits for it.
   */
  retime(intervalMs: number): void {
    if (this.pingTimer === undefined) return;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(this.tick, intervalMs);
  }

  /** A frame arrived: the path is alive. */
  alive(): void {
    if (this.answerTimer !== undefined) clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
  }

  stop(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.alive();
  }
}
