/**
 * The error catalogue: every `code` an error frame or an HTTP error body can carry, and the HTTP status
 * an HTTP answer with that code has. Codes are stable API. docs/protocol.md lists each one; a test keeps
 * the two in sync.
 */
export const ERROR_CODES = {
  bad_request: { retryable: false, httpStatus: 400, description: 'The frame is not valid JSON, has an unknown action, or a field has the wrong type or size.' },
  unauthorized: { retryable: false, httpStatus: 401, description: 'The token is missing, malformed, forged, expired or signed with a disallowed algorithm.' },
  forbidden: { retryable: false, httpStatus: 403, description: 'The claims do not allow this room, event or recipient.' },
  not_joined: { retryable: false, httpStatus: 409, description: 'The connection must join the room before publishing or leaving it.' },
  not_found: { retryable: false, httpStatus: 404, description: 'The recipient, connection or route does not exist.' },
  payload_too_large: { retryable: false, httpStatus: 413, description: 'The resulting frame would exceed the frame size limit.' },
  rate_limited: { retryable: true, httpStatus: 429, description: 'The connection sends faster than its rate limit allows; retry later.' },
  conflict: { retryable: false, httpStatus: 409, description: 'The request conflicts with the current state (for example a publish id reused with different content).' },
  unavailable: { retryable: true, httpStatus: 503, description: 'A backing store is unreachable; nothing was stored or acknowledged. Retry later.' },
  internal: { retryable: true, httpStatus: 500, description: 'An unexpected server error; nothing was acknowledged. Retry later.' },
} as const satisfies Record<string, { retryable: boolean; httpStatus: number; description: string }>;

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
