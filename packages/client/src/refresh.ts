import type { RefreshFrame } from '@classwire/protocol/wire';
import type { Link } from './connection.js';
import type { ClasswireError } from './errors.js';
import type { TokenSource } from './token.js';

/** The shortest wait before a refresh: bounds a `getToken` that keeps returning the same token to one a second. */
const MIN_DELAY_MS = 1000;

export interface RefresherHost {
  /** The open socket, or undefined while offline. */
  link(): Link | undefined;
  nextId(kind: string): string;
  reportError(error: unknown): void;
}

/**
 * In-band token refresh: while the connection is open, asks `getToken` ahead of the token's `exp` and
 * sends the new token in a `refresh` frame, so the server moves the connection's expiry instead of
 * closing it (4004) and the rooms never see a reconnect.
 */
export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The id of the refresh awaiting the server's answer. */
  private awaiting: string | undefined;
  /** Bumped by `stop`, so a refresh that was fetching its token when the socket went does nothing. */
  private generation = 0;

  constructor(
    private readonly tokens: TokenSource,
    private readonly host: RefresherHost,
    /** How long before `exp` the refresh is sent, ms. */
    private readonly leadMs: number,
  ) {}

  /**
   * Plans the refresh of the current token: `leadMs` before its `exp`, but never before half its remaining
   * life has passed (and never sooner than a second), so a token shorter-lived than the lead time cannot
   * make the client refresh in a loop.
   */
  schedule(): void {
    this.stop();
    const expiresAt = this.tokens.expiresAt;
    if (!this.tokens.renewable || expiresAt === undefined) return;
    const remaining = expiresAt - Date.now();
    const delay = Math.max(remaining - this.leadMs, remaining / 2, MIN_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, delay);
  }

  /** The socket is gone: a new one opens with a fresh token and schedules again. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.awaiting = undefined;
    this.generation += 1;
  }

  /** Whether the ack answers this refresher's request; if so the next refresh is planned. */
  acknowledged(id: string): boolean {
    if (id !== this.awaiting) return false;
    this.awaiting = undefined;
    this.schedule();
    return true;
  }

  /**
   * Whether the error answers this refresher's request. The old expiry stands: the server closes the
   * connection at it and the reconnect asks `getToken` again.
   */
  refused(id: string | undefined, error: ClasswireError): boolean {
    if (id === undefined || id !== this.awaiting) return false;
    this.awaiting = undefined;
    this.tokens.markStale();
    this.host.reportError(error);
    return true;
  }

  private async refresh(): Promise<void> {
    const generation = this.generation;
    let token: string;
    try {
      token = await this.tokens.fetch();
    } catch (error) {
      // The connection runs on until its token expires; the reconnect then asks again.
      this.host.reportError(error);
      return;
    }
    const link = this.host.link();
    // The socket went meanwhile: the next connection opens with this token.
    if (link === undefined || generation !== this.generation) return;
    const frame: RefreshFrame = { action: 'refresh', token, id: this.host.nextId('r') };
    this.awaiting = frame.id;
    link.send(JSON.stringify(frame));
  }
}
