/**
 * Application pings while the connection is open. They detect dead paths that TCP does not report, and
 * keep API Gateway's idle timer from firing. Any inbound frame counts as the answer.
 */
export class Heartbeat {
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private answerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly answerTimeoutMs: number,
  ) {}

  /** `ping` sends a ping and says whether it could; `silent` runs when nothing arrived in time after one. */
  start(ping: () => boolean, silent: () => void): void {
    this.stop();
    this.pingTimer = setInterval(() => {
      if (!ping() || this.answerTimer !== undefined) return;
      this.answerTimer = setTimeout(() => {
        this.answerTimer = undefined;
        silent();
      }, this.answerTimeoutMs);
    }, this.intervalMs);
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
