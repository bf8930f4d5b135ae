/**
 * WebSocket close codes Classwire sends, and what a client should do with each.
 *
 * 4000-4499: the client should reconnect (with backoff) and resume with `since`.
 * 4500-4999: the client must not reconnect with the same credentials.
 * Standard codes: 1000 (normal) ends the session and 1008 (policy violation) is final too; every other
 * code (1001 going away, 1005 no status, 1006 abnormal, 1011, 1012, 1013, ...) is transient, so reconnect.
 * 1003 (binary frame) and 1009 (frame too large) are sent when the client broke the protocol: it may
 * reconnect, but must not resend the offending frame.
 */
export const CLOSE_CODES = {
  normal: 1000,
  /** API Gateway's close of an idle connection, one at its 2-hour limit, or on redeployment (the emulator's too). */
  apiGatewayGoingAway: 1001,
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

/** A standard code Classwire never sends, but which ends a session when a proxy or peer sends it. */
const POLICY_VIOLATION = 1008;

/**
 * Whether a client that saw this close code should reconnect. Unknown codes count as transient: a
 * student's client stranded by a proxy's unusual close is worse than one reconnect too many.
 */
export function shouldReconnect(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  return code !== CLOSE_CODES.normal && code !== POLICY_VIOLATION;
}
