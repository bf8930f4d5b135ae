import type { ErrorCode } from '@classwire/protocol/wire';

/** Codes the SDK itself raises, beside the server's error codes. */
export type ClientErrorCode = 'closed' | 'queue_full';

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
