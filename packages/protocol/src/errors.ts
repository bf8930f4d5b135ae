/**
 * The error catalogue: every `code` an error frame or an HTTP error body can carry.
 * Codes are stable API. docs/protocol.md lists each one; a test keeps the two in sync.
 */
export const ERROR_CODES = {
  bad_request: { retryable: false, description: 'The frame is not valid JSON, has an unknown action, or a field has the wrong type or size.' },
  unauthorized: { retryable: false, description: 'The token is missing, malformed, forged, expired or signed with a disallowed algorithm.' },
  forbidden: { retryable: false, description: 'The claims do not allow this room, event or recipient.' },
  not_joined: { retryable: false, description: 'The connection must join the room before publishing or leaving it.' },
  not_found: { retryable: false, description: 'The recipient, connection or route does not exist.' },
  payload_too_large: { retryable: false, description: 'The resulting frame would exceed the frame size limit.' },
  rate_limited: { retryable: true, description: 'The connection sends faster than its rate limit allows; retry later.' },
  conflict: { retryable: false, description: 'The request conflicts with the current state (for example a publish id reused with different content).' },
  unavailable: { retryable: true, description: 'A backing store is unreachable; nothing was stored or acknowledged. Retry later.' },
  internal: { retryable: true, description: 'An unexpected server error; nothing was acknowledged. Retry later.' },
} as const satisfies Record<string, { retryable: boolean; description: string }>;

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
