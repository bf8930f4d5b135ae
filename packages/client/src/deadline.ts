import { ClasswireError } from './errors.js';

/** Limits on how long one operation (a join, a publish) may take. */
export interface OperationOptions {
  /** Give up after this long, ms: the operation rejects with `ClasswireError` code `timeout`. */
  timeoutMs?: number;
  /** Give up when this signal aborts: the operation rejects with `ClasswireError` code `aborted`. */
  signal?: AbortSignal;
}

/**
 * Calls `expire` once, with the typed error, when the operation's timeout passes or its signal aborts
 * (at once when it already has). Returns the function that stops watching, for when the operation ended.
 */
export function watchDeadline(what: string, options: OperationOptions, expire: (error: ClasswireError) => void): () => void {
  const { timeoutMs, signal } = options;
  const aborted = () => expire(new ClasswireError('aborted', `${what} was aborted`, { cause: signal?.reason }));
  if (signal?.aborted === true) {
    aborted();
    return () => {};
  }
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      expire(new ClasswireError('timeout', `${what} did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
  signal?.addEventListener('abort', aborted, { once: true });
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', aborted);
  };
}
