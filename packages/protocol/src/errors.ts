/**
 * The error catalogue: every `code` an error frame or an HTTP error body can carry, and the HTTP status
 * an HTTP answer with that code has. Codes are stable API. docs/protocol.md lists each one; a test keeps
 * the two in sync. The descriptions are doc comments, not strings: the browser SDK bundles this table.
 */
export const ERROR_CODES = {
  /** The frame is not valid JSON, has an unknown action, or a field has the wrong type or size. */
  bad_request: { retryable: false, httpStatus: 400 },
  /** The token is missing, malformed, forged, expired or signed with a disallowed algorithm. */
  unauthorized: { retryable: false, httpStatus: 401 },
  /** The claims do not allow this room, event or recipient. */
  forbidden: { retryable: false, httpStatus: 403 },
  /** The connection must join the room before publishing or leaving it. */
  not_joined: { retryable: false, httpStatus: 409 },
  /** The recipient, connection or route does not exist. */
  not_found: { retryable: false, httpStatus: 404 },
  /** The resulting frame would exceed the frame size limit. */
  payload_too_large: { retryable: false, httpStatus: 413 },
  /** The connection sends faster than its rate limit allows; retry later. */
  rate_limited: { retryable: true, httpStatus: 429 },
  /** The request conflicts with the current state (for example a publish id reused with different content). */
  conflict: { retryable: false, httpStatus: 409 },
  /** A backing store is unreachable; nothing was stored or acknowledged. Retry later. */
  unavailable: { retryable: true, httpStatus: 503 },
  /** An unexpected server error; nothing was acknowledged. Retry later. */
  internal: { retryable: true, httpStatus: 500 },
} as const satisfies Record<string, { retryable: boolean; httpStatus: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** An error that crosses the wire as an error frame. `id` echoes the client frame's id when it had one. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly id?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}
