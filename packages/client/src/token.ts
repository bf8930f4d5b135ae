import { ClasswireError } from './errors.js';

/** A token that expires within this margin is refreshed before connecting. */
const REFRESH_MARGIN_MS = 30_000;

/**
 * The token for the next connection: the fixed one, or one from `getToken`, fetched again when the last
 * one was refused, expired, or is about to expire.
 */
export class TokenSource {
  /** Fetch a new token before the next connection; true until the first fetch. */
  private stale = true;

  constructor(
    private token: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
  ) {}

  /** The server refused the token or said it expired. */
  markStale(): void {
    this.stale = true;
  }

  /** Whether tokens can be renewed during a connection (only with `getToken`). */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** The current token's `exp`, epoch ms; undefined without a token or when it has no readable `exp`. */
  get expiresAt(): number | undefined {
    return this.token === undefined ? undefined : expiryOf(this.token);
  }

  async current(): Promise<string> {
    const expiresAt = this.expiresAt;
    if (this.getToken !== undefined && (this.stale || this.token === undefined || (expiresAt !== undefined && expiresAt - Date.now() < REFRESH_MARGIN_MS))) {
      return this.fetch();
    }
    if (this.token === undefined) throw new ClasswireError('unauthorized', 'no token');
    return this.token;
  }

  /** Asks `getToken` for a new token, which becomes the current one. */
  async fetch(): Promise<string> {
    if (this.getToken === undefined) throw new ClasswireError('unauthorized', 'no getToken to renew the token with');
    this.token = await this.getToken();
    this.stale = false;
    return this.token;
  }
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
