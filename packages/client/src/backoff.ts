export interface BackoffOptions {
  /** Upper bound of the first retry's delay, ms. @default 300 */
  baseDelayMs?: number;
  /** Cap of the delay, ms. @default 10_000 */
  maxDelayMs?: number;
}

/**
 * "Full jitter": a delay drawn uniformly from [0, min(cap, base * 2^attempt)). Spreading retries over the
 * whole window keeps a class of students whose Wi-Fi dropped at once from coming back in one wave.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseDelayMs ?? 300;
  const cap = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
