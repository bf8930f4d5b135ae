import { CLOSE_CODES, shouldReconnect, type PingFrame } from '@classwire/protocol/wire';
import { createHeartbeat, type Heartbeat } from './heartbeat.js';
import type { TokenSource } from './token.js';

/**
 * The connection's state. It changes only in `Connection.setState`. `offline`: the browser reported the
 * network gone; the client reconnects as soon as it reports it back.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';

/** The browser's network events (`window`, with `navigator.onLine`); absent outside browsers. */
export interface NetworkStatus {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
  /** False when the network is known to be down. */
  readonly onLine?: boolean;
}

/** The browser's `window` and `navigator` as a NetworkStatus; undefined in Node and workers without them. */
export function browserNetwork(): NetworkStatus | undefined {
  const scope = globalThis as { addEventListener?: unknown; navigator?: { onLine?: boolean } };
  if (typeof scope.addEventListener !== 'function' || typeof scope.navigator?.onLine !== 'boolean') return undefined;
  const target = globalThis as unknown as Pick<NetworkStatus, 'addEventListener' | 'removeEventListener'>;
  const navigator = scope.navigator;
  return {
    addEventListener: (type, listener) => target.addEventListener(type, listener),
    removeEventListener: (type, listener) => target.removeEventListener(type, listener),
    get onLine() {
      return navigator.onLine;
    },
  };
}

/** The part of the WebSocket API the SDK uses: the browser's, `ws`'s, or Node 22's global one. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** An open socket as the senders see it; its identity tells one connection from the next. */
export type Link = Pick<WebSocketLike, 'send'>;

export interface CloseInfo {
  code: number;
  reason: string;
}

/** A `closing` frame's content: the code the connection closes with, and when to reconnect. */
type CloseNotice = CloseInfo & { retryAfterMs?: number | undefined };

export interface ConnectionSettings {
  url: string;
  WebSocket: WebSocketConstructor;
  /** Undefined: the interval the server advertises, else 25 s. */
  pingIntervalMs: number | undefined;
  pongTimeoutMs: number;
  /** The wait before reconnect attempt `attempt` (0 for the first). */
  reconnectDelay(attempt: number): number;
  network: NetworkStatus | undefined;
}

/** What the rest of the client does at each step of the connection's life. */
export interface ConnectionHooks {
  stateChanged(state: ConnectionState, previous: ConnectionState): void;
  opened(): void;
  frame(data: unknown): void;
  /** The socket is gone (with this close code); a reconnect or the end follows. Nothing sent on it will be answered. */
  lost(code: number): void;
  /** Closed for good. */
  ended(info: CloseInfo): void;
  reportError(error: unknown): void;
}

const OPEN = 1;
/** The ping interval when neither the app nor the server names one. */
const DEFAULT_PING_MS = 25_000;
/** The longest reconnect delay a server's hint may impose. */
const MAX_SERVER_DELAY_MS = 60_000;

/**
 * The socket's lifecycle: opens it with the current token, reconnects with jittered backoff after any
 * transient close, applies the close code rules of the protocol, and runs the heartbeat while open.
 */
export class Connection {
  private current: ConnectionState = 'idle';
  private socket: WebSocketLike | undefined;
  /** Reconnect attempts since a room was last joined: the backoff's exponent. */
  private attempt = 0;
  /** A `closing` frame's code (and reconnect delay), applied when the socket closes. */
  private closingNotice: CloseNotice | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly heartbeat: Heartbeat;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly tokens: TokenSource,
    private readonly hooks: ConnectionHooks,
  ) {
    this.heartbeat = createHeartbeat(settings.pongTimeoutMs);
    settings.network?.addEventListener('offline', this.onOffline);
    settings.network?.addEventListener('online', this.onOnline);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The socket while the connection is open; undefined otherwise. */
  get link(): Link | undefined {
    const socket = this.socket;
    return this.current === 'open' && socket?.readyState === OPEN ? socket : undefined;
  }

  /** Opens the first socket; later calls do nothing. */
  start(): void {
    if (this.current !== 'idle') return;
    this.setState('connecting');
    void this.openSocket();
  }

  /** A room was joined: the connection works, so the next outage's backoff starts from the beginning. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  /**
   * A `closing` frame. On API Gateway the server announces its close code this way (DeleteConnection
   * cannot set one); it decides over the code the socket actually closes with. `retryAfterMs`, from a
   * draining server, replaces the backoff's delay before the next attempt.
   */
  announceClose(notice: CloseNotice): void {
    this.closingNotice = notice;
  }

  /**
   * The server's advertised ping interval (`joined`, `pong`): used for this socket unless the app chose
   * one. Values outside 5 s – 1 h are ignored, so a server cannot make the client flood or go deaf.
   */
  keepAlive(intervalMs: unknown): void {
    if (this.settings.pingIntervalMs === undefined && typeof intervalMs === 'number' && intervalMs >= 5e3 && intervalMs <= 36e5) {
      this.heartbeat.retime(intervalMs);
    }
  }

  /** Closes for good. */
  close(info: CloseInfo): void {
    if (this.socket !== undefined) abandon(this.socket, CLOSE_CODES.normal, 'client closed');
    this.socket = undefined;
    this.heartbeat.stop();
    this.cancelReconnect();
    this.settings.network?.removeEventListener('offline', this.onOffline);
    this.settings.network?.removeEventListener('online', this.onOnline);
    this.setState('closed');
    this.hooks.ended(info);
  }

  /** The network is gone: drop the socket (it cannot work) and wait for `online` instead of retrying. */
  private readonly onOffline = (): void => {
    if (this.current === 'idle' || this.current === 'closed') return;
    this.cancelReconnect();
    const socket = this.socket;
    if (socket !== undefined) {
      this.socket = undefined;
      abandon(socket, CLOSE_CODES.normal, 'network offline');
      this.heartbeat.stop();
      this.hooks.lost(CLOSE_CODES.normal);
    }
    this.setState('offline');
  };

  /** The network is back: reconnect at once, from the start of the backoff. */
  private readonly onOnline = (): void => {
    if (this.current !== 'offline' && this.current !== 'reconnecting') return;
    this.cancelReconnect();
    this.attempt = 0;
    this.setState('connecting');
    void this.openSocket();
  };

  private cancelReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private setState(next: ConnectionState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    this.hooks.stateChanged(next, previous);
  }

  private async openSocket(): Promise<void> {
    let token: string;
    try {
      token = await this.tokens.current();
    } catch (error) {
      this.hooks.reportError(error);
      this.scheduleReconnect();
      return;
    }
    if (this.current === 'closed') return;
    const { url } = this.settings;
    const separator = url.includes('?') ? '&' : '?';
    let socket: WebSocketLike;
    try {
      socket = new this.settings.WebSocket(`${url}${separator}token=${encodeURIComponent(token)}`);
    } catch (error) {
      this.hooks.reportError(error);
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.onOpen(socket);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.heartbeat.alive();
      this.hooks.frame(event.data);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      // A socket that never opened may have been refused (an expired or revoked token): refresh it.
      if (!opened) this.tokens.markStale();
      const notice = this.closingNotice ?? event;
      const retryAfterMs = this.closingNotice?.retryAfterMs;
      this.closingNotice = undefined;
      this.onSocketClosed(notice.code, notice.reason, retryAfterMs);
    };
  }

  private onOpen(socket: WebSocketLike): void {
    this.setState('open');
    // Each socket starts from the app's interval (or the default) until its server advertises one.
    this.heartbeat.start(
      this.settings.pingIntervalMs ?? DEFAULT_PING_MS,
      () => this.ping(socket),
      () => this.onSilence(socket),
    );
    this.hooks.opened();
  }

  private ping(socket: WebSocketLike): boolean {
    if (this.socket !== socket || socket.readyState !== OPEN) return false;
    const ping: PingFrame = { action: 'ping' };
    socket.send(JSON.stringify(ping));
    return true;
  }

  /** Nothing answered a ping: the network path is dead even if the socket does not know it yet. */
  private onSilence(socket: WebSocketLike): void {
    if (this.socket !== socket) return;
    const reason = 'no answer to ping';
    abandon(socket, CLOSE_CODES.heartbeatTimeout, reason);
    this.onSocketClosed(CLOSE_CODES.heartbeatTimeout, reason);
  }

  private onSocketClosed(code: number, reason: string, retryAfterMs?: number): void {
    this.socket = undefined;
    this.heartbeat.stop();
    this.hooks.lost(code);
    if (!shouldReconnect(code)) {
      this.close({ code, reason });
      return;
    }
    if (code === CLOSE_CODES.tokenExpired) this.tokens.markStale();
    this.scheduleReconnect(retryAfterMs);
  }

  private scheduleReconnect(serverDelayMs?: number): void {
    if (this.current === 'closed') return;
    // Attempts cannot succeed without a network: the `online` event reconnects.
    if (this.settings.network?.onLine === false) {
      this.setState('offline');
      return;
    }
    this.setState('reconnecting');
    const hinted = typeof serverDelayMs === 'number' && Number.isFinite(serverDelayMs) && serverDelayMs >= 0;
    const delay = hinted ? Math.min(serverDelayMs, MAX_SERVER_DELAY_MS) : this.settings.reconnectDelay(this.attempt);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.openSocket();
    }, delay);
  }
}

/** Closes a socket this connection is done with; none of its events reach the connection any more. */
function abandon(socket: WebSocketLike, code: number, reason: string): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // Keep a listener: `ws` reports closing a still-connecting socket as an 'error' event, fatal if unheard.
  socket.onerror = () => {};
  try {
    socket.close(code, reason);
  } catch {
    // already closing
  }
}
