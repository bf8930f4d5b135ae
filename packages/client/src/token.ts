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

  async current(): Promise<string> {
    const getToken = this.getToken;
    if (getToken !== undefined && (this.stale || this.token === undefined || expiresSoon(this.token))) {
      this.token = await getToken();
      this.stale = false;
    }
    if (this.token === undefined) throw new ClasswireError('unauthorized', 'no token');
    return this.token;
  }
}

/** Whether a JWT's `exp` is within the refresh margin. Unreadable tokens are left to the server to judge. */
function expiresSoon(token: string): boolean {
  const payload = token.split('.')[1];
  if (payload === undefined) return false;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && exp * 1000 - Date.now() < REFRESH_MARGIN_MS;
  } catch {
    return false;
  }
}
