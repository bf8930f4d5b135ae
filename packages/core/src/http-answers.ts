/**
 * The answer every runtime gives to a path called with a method it does not serve (RFC 9110 §15.5.6):
 * 405, an `Allow` header naming the methods the path does serve, and a body in the error catalogue's
 * shape. The catalogue has no code of its own for this, so the body carries `bad_request` (the client's
 * fault, not retryable). Transport-free: each runtime writes it its own way.
 */
export interface MethodNotAllowedAnswer {
  status: 405;
  headers: { allow: string };
  body: { code: 'bad_request'; message: string };
}

/**
 * Builds the 405 answer for `method` on a path that serves `allowed` (in the order given, each once).
 * A path that serves no method does not exist: answer it 404, never with an empty `Allow`.
 */
export function methodNotAllowed(method: string, allowed: readonly string[]): MethodNotAllowedAnswer {
  if (allowed.length === 0) throw new RangeError('a 405 needs at least one allowed method');
  const allow = [...new Set(allowed)].join(', ');
  return { status: 405, headers: { allow }, body: { code: 'bad_request', message: `method ${method} is not supported here; use ${allow}` } };
}
