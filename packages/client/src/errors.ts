import type { ErrorCode } from '@classwire/protocol/wire';

/**
 * Codes the SDK itself raises, beside the server's error codes: `timeout` and `aborted` end an operation
 * given `timeoutMs` or `signal` (a publish may still have been stored: retry it with the same `id`).
 */
export type ClientErrorCode = 'closed' | 'queue_full' | 'timeout' | 'aborted';

/** Every error the SDK rejects a promise with or reports: `code` is the server's code or the SDK's own. */
export class ClasswireError extends Error {
  override readonly name = 'ClasswireError';
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
