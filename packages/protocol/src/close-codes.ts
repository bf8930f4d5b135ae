/**
 * WebSocket close codes Classwire sends, and what a client should do with each.
 *
 * 4000-4499: the client should reconnect (with backoff) and resume with `since`.
 * 4500-4999: the client must not reconnect with the same credentials.
 * Standard codes: 1000 (normal) ends the session; 1001, 1006, 1011, 1012, 1013 are transient, so reconnect;
 * 1003 (binary frame) and 1009 (frame too large) are sent when the client broke the protocol: it may reconnect,
 * but must not resend the offending frame.
 */
export const CLOSE_CODES = {
  normal: 1000,
  unsupportedData: 1003,
  messageTooBig: 1009,
  goingAway: 4000,
  slowConsumer: 4001,
  rateLimited: 4002,
  heartbeatTimeout: 4003,
  tokenExpired: 4004,
  serverError: 4005,
  unauthorized: 4500,
  forbidden: 4501,
  removed: 4502,
  classEnded: 4503,
  connectionLimit: 4504,
} as const;

export type CloseCodeName = keyof typeof CLOSE_CODES;
export type CloseCode = (typeof CLOSE_CODES)[CloseCodeName];

const TRANSIENT_STANDARD = new Set([1001, 1003, 1006, 1009, 1011, 1012, 1013]);

/** Whether a client that saw this close code should reconnect. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4000 && code <= 4499) return true;
  if (code >= 4500 && code <= 4999) return false;
  return TRANSIENT_STANDARD.has(code);
}
