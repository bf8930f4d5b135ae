import { StoreUnavailableError } from '@classwire/core';

/**
 * Socket errors of a connection that could not be made or was lost: the database host is down,
 * unreachable, restarting, or its name does not resolve right now.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATEs of a server that will not serve us now (class 08, connection exception, is matched by its
 * prefix): shutting down, crashed, starting up or in recovery, out of connection slots.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
// Not 57014 (query_canceled, what the server's `statement_timeout` answers): the server was reached and
// answered, but a statement ran for most of a minute, far past anything the records run, so something
// here is wrong (a plan gone bad, a lock held too long): a `500 internal` logged as an error, for someone
// to look at. A `503` with `Retry-After: 5` would have clients rerun the same minute-long statement
// against a database that is already struggling. A server that goes silent is still caught by the
// client's own timeout ("Query read timeout" below, which fires later): that one is an outage.

/**
 * What `pg`, `pg-pool` and PGlite throw, without a code, when the connection is gone or never came:
 * the pool's and the client's connect timeouts, the client's query timeout, a connection the server or
 * the network ended, a client or embedded database already closed.
 */
const DRIVER_MESSAGES = [
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated( unexpectedly| due to connection timeout)?$/,
  /^Query read timeout$/,
  /^Client (has encountered a connection error|was closed) and is not queryable$/,
  /^PGlite is closed$/,
];

/** How deep `cause` and `AggregateError` chains are followed (a wrapper of a wrapper, not a cycle). */
const MAX_DEPTH = 4;

/**
 * Whether an error means the records' stores cannot be reached right now, so a request should be
 * answered `503 unavailable` (retry later) rather than `500 internal`: the records database unreachable
 * (the errors above, found also as the `cause` of a wrapper such as a failed migration, or inside the
 * `AggregateError` of a connect that tried several addresses), or Redis unreachable (core's
 * StoreUnavailableError). A programming error (TypeError and the like) and any SQL error the server
 * answered (a constraint, a syntax error) are not: those are bugs.
 */
export function isStoreUnreachable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > MAX_DEPTH) return false;
  if (error instanceof StoreUnavailableError) return true;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError || error instanceof ReferenceError) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (DRIVER_MESSAGES.some((pattern) => pattern.test(error.message))) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isStoreUnreachable(inner, depth + 1))) return true;
  return isStoreUnreachable(error.cause, depth + 1);
}
