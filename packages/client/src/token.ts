import { ClasswireError } from './errors.js';

/** A token that expires within this margin is refreshed before connecting. */
const REFRESH_MARGIN_MS = 30_000;

/**
 * The token for the next connection: the fixed one, or one from `getToken`, fetched again when the last
 * one was refused, expired, or is about to expire.
 */
export interface TokenSource {
  /** The server refused the token or said it expired. */
  markStale(): void;
  /** Whether tokens can be renewed during a connection (only with `getToken`). */
  readonly renewable: boolean;
  /** The current token's `exp`, epoch ms; undefined without a token or when it has no readable `exp`. */
  readonly expiresAt: number | undefined;
  current(): Promise<string>;
  /** Asks `getToken` for a new token, which becomes the current one. */
  fetch(): Promise<string>;
}

export function createTokenSource(token: string | undefined, getToken: (() => string | Promise<string>) | undefined): TokenSource {
  /** Fetch a new token before the next connection; true until the first fetch. */
  let stale = true;
  const fetch = async () => {
    if (getToken === undefined) throw new ClasswireError('unauthorized', 'no getToken to renew the token with');
    token = await getToken();
    stale = false;
    return token;
  };
  const expiresAt = () => (token === undefined ? undefined : expiryOf(token));
  return {
    markStale() {
      stale = true;
    },
    renewable: getToken !== undefined,
    get expiresAt() {
      return expiresAt();
    },
    async current() {
      const expiry = expiresAt();
      if (getToken !== undefined && (stale || token === undefined || (expiry !== undefined && expiry - Date.now() < REFRESH_MARGIN_MS))) {
        return fetch();
      }
      if (token === undefined) throw new ClasswireError('unauthorized', 'no token');
      return token;
    },
    fetch,
  };
}

/** A JWT's `exp` in epoch ms. Unreadable tokens are left to the server to judge. */
function expiryOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
