import {
  ERROR_CODES,
  isErrorCode,
  shouldReconnect,
  type ClientFrame,
  type DirectMessageFrame,
  type ErrorCode,
  type ServerFrame,
  type Sender,
} from '@classwire/protocol/wire';
import { fullJitterDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { ClasswireError } from './errors.js';
import { Room, type PublishOptions, type RoomHost } from './room.js';

/** The connection's state. It changes only in `setState`. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

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

export interface ClientOptions {
  /** The gateway's WebSocket URL, e.g. `wss://classwire.example/ws` (or an API Gateway stage URL). */
  url: string;
  /** A fixed token. Use `getToken` instead when tokens expire during a session. */
  token?: string;
  /** Called for the first connection and whenever the token was refused, expired or is about to. */
  getToken?: () => string | Promise<string>;
  /** WebSocket implementation. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff (full jitter). */
  reconnect?: BackoffOptions;
  /** Application ping interval while open, ms. Keeps API Gateway's 10-minute idle timer away. @default 25_000 */
  pingIntervalMs?: number;
  /** A connection that answers nothing for this long after a ping is treated as dead, ms. @default 10_000 */
  pongTimeoutMs?: number;
  /** Unacknowledged publishes are resent (same id) after this long on a live connection, ms. @default 10_000 */
  ackTimeoutMs?: number;
  /** Publishes (and direct messages) waiting for an ack, including while offline. @default 1000 */
  maxPendingPublishes?: number;
  /** How long an out-of-order message waits for the missing ones before the room resumes, ms. @default 1000 */
  gapTimeoutMs?: number;
  /**
   * Publishes of one room (and direct messages) in flight at once, awaiting their ack. With 1, the server
   * stores a client's messages in the order it published them even when it refuses or loses one (rate
   * limits, reconnects) and on API Gateway, which invokes handlers concurrently. Larger values trade that
   * guarantee for throughput on high-latency links. @default 1
   */
  maxInFlight?: number;
  /** Random source for jitter and ids (tests inject a seeded one). @default Math.random */
  random?: () => number;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface DirectMessage<T = unknown> {
  event: string;
  data: T;
  from: Sender;
  ts: number;
  id?: string;
}

interface ClientEvents {
  [key: string]: unknown;
  state: { state: ConnectionState; previous: ConnectionState };
  direct: DirectMessage;
  error: unknown;
  closed: CloseInfo;
}

interface PendingRequest {
  id: string;
  frame: ClientFrame & { id: string };
  room: Room | undefined;
  resolve: (seq: number | undefined) => void;
  reject: (error: ClasswireError) => void;
  /** The socket it was last written to; undefined while it waits to be (re)sent. */
  sentOn: WebSocketLike | undefined;
  ackTimer: ReturnType<typeof setTimeout> | undefined;
  retries: number;
  /** Times a `not_joined` answer made the client join the room again for this request. */
  rejoins: number;
  /** Set while a refused request waits out its backoff; its lane waits with it. */
  retryTimer: ReturnType<typeof setTimeout> | undefined;
}

const OPEN = 1;
/** A token that expires within this margin is refreshed before connecting. */
const TOKEN_REFRESH_MARGIN_MS = 30_000;
/** Times one publish answered `not_joined` makes the client join its room again before giving up. */
const MAX_REJOINS = 3;
const MAX_REMEMBERED_DIRECT_IDS = 1000;

/**
 * The Classwire client: one WebSocket, any number of rooms. It reconnects with jittered backoff, resumes
 * every room from the last delivered seq, resends unacknowledged publishes with their ids, and delivers
 * each room's messages to the app in order, exactly once.
 */
export class ClasswireClient {
  private currentState: ConnectionState = 'idle';
  private socket: WebSocketLike | undefined;
  private readonly rooms = new Map<string, Room>();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly joinRequests = new Map<string, Room>();
  private readonly leaveRequests = new Map<string, () => void>();
  private readonly events: Emitter<ClientEvents>;
  private readonly roomHost: RoomHost;
  private readonly seenDirect = new Set<string>();
  private readonly idPrefix: string;
  private counter = 0;
  private attempt = 0;
  private token: string | undefined;
  private tokenStale = true;
  /** A `closing` frame's code, applied when the socket closes. */
  private closingNotice: CloseInfo | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly random: () => number;
  private readonly WebSocketImpl: WebSocketConstructor;

  constructor(private readonly options: ClientOptions) {
    if (options.token === undefined && options.getToken === undefined) throw new Error('token or getToken is required');
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (impl === undefined) {
      throw new Error('no WebSocket implementation: pass options.WebSocket (for Node 20, import from "@classwire/client/node")');
    }
    this.WebSocketImpl = impl;
    this.random = options.random ?? Math.random;
    this.idPrefix = Math.floor(this.random() * 36 ** 8).toString(36);
    this.token = options.token;
    this.events = new Emitter((error) => this.reportError(error));
    this.roomHost = {
      publish: (room, event, data, publishOptions) => this.publishTo(room, event, data, publishOptions),
      leave: (room) => this.leaveRoom(room),
      resume: (room) => this.sendJoin(room),
      reportError: (error) => this.reportError(error),
      gapTimeoutMs: options.gapTimeoutMs ?? 1000,
    };
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Starts connecting (idempotent). Resolves when the connection is open. */
  connect(): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(new ClasswireError('closed', 'the client is closed'));
    if (this.currentState === 'idle') {
      this.setState('connecting');
      void this.openSocket();
    }
    return this.whenOpen();
  }

  /** Resolves the next time the connection is open (now, if it is). */
  whenOpen(): Promise<void> {
    if (this.currentState === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.events.on('state', ({ state }) => {
        if (state === 'open') {
          off();
          resolve();
        } else if (state === 'closed') {
          off();
          reject(new ClasswireError('closed', 'the client is closed'));
        }
      });
    });
  }

  /** Joins a room (or returns the room already joined). Connects if needed. */
  join(roomId: string): Room {
    const existing = this.rooms.get(roomId);
    if (existing !== undefined && existing.state !== 'left' && existing.state !== 'failed') return existing;
    const room = new Room(roomId, this.roomHost);
    this.rooms.set(roomId, room);
    if (this.currentState === 'idle') void this.connect().catch(() => undefined);
    else if (this.isOpen()) this.sendJoin(room);
    return room;
  }

  /** A room this client joined. */
  room(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  /** Sends a private message to every connection of `userId`; resolves when the server accepted it. */
  async direct<T>(userId: string, event: string, data: T): Promise<void> {
    const id = this.nextId('d');
    await this.request({ action: 'direct', to: userId, event, data, id }, undefined);
  }

  on<K extends keyof ClientEvents & string>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Closes for good: rejects what is pending and stops reconnecting. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.finish({ code: 1000, reason: 'closed by the client' });
  }

  /** Publishes waiting for an ack (sent or queued). */
  get pendingCount(): number {
    return this.pending.size;
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  private setState(next: ConnectionState): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    // Listeners run after the current call stack, so one added right after `connect()` sees every state.
    queueMicrotask(() => this.events.emit('state', { state: next, previous }));
  }

  private isOpen(): boolean {
    return this.currentState === 'open' && this.socket !== undefined && this.socket.readyState === OPEN;
  }

  private async openSocket(): Promise<void> {
    let token: string;
    try {
      token = await this.currentToken();
    } catch (error) {
      this.reportError(error);
      this.scheduleReconnect();
      return;
    }
    if (this.currentState === 'closed') return;
    const separator = this.options.url.includes('?') ? '&' : '?';
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(`${this.options.url}${separator}token=${encodeURIComponent(token)}`);
    } catch (error) {
      this.reportError(error);
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
      if (this.socket === socket) this.onFrame(event.data);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      // A socket that never opened may have been refused (an expired or revoked token): refresh it.
      if (!opened) this.tokenStale = true;
      // On API Gateway the server announces its close code in a `closing` frame (DeleteConnection
      // cannot set one); it decides over the code the socket actually closed with.
      const notice = this.closingNotice;
      this.closingNotice = undefined;
      if (notice !== undefined) this.onSocketClosed(notice.code, notice.reason);
      else this.onSocketClosed(event.code, event.reason);
    };
  }

  private async currentToken(): Promise<string> {
    const { getToken } = this.options;
    if (getToken !== undefined && (this.tokenStale || this.token === undefined || expiresSoon(this.token))) {
      this.token = await getToken();
      this.tokenStale = false;
    }
    if (this.token === undefined) throw new ClasswireError('unauthorized', 'no token');
    return this.token;
  }

  private onOpen(socket: WebSocketLike): void {
    this.setState('open');
    this.startPing(socket);
    for (const room of this.rooms.values()) if (room.state !== 'failed' && room.state !== 'left') this.sendJoin(room);
    // Direct messages need no room; publishes wait for their room's `joined`.
    this.flush();
  }

  private onSocketClosed(code: number, reason: string): void {
    this.socket = undefined;
    this.stopPing();
    for (const request of this.pending.values()) this.unsend(request);
    for (const room of this.rooms.values()) room.disconnected();
    this.joinRequests.clear();
    if (code === 1000 || !shouldReconnect(code)) {
      this.finish({ code, reason });
      return;
    }
    if (code === 4004) this.tokenStale = true;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.currentState === 'closed') return;
    this.setState('reconnecting');
    const delay = fullJitterDelay(this.attempt, this.options.reconnect, this.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.openSocket();
    }, delay);
  }

  private finish(info: CloseInfo): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      detach(socket);
      try {
        socket.close(1000, 'client closed');
      } catch {
        // already closing
      }
    }
    this.stopPing();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.setState('closed');
    const error = new ClasswireError('closed', `the connection closed (${info.code}${info.reason === '' ? '' : `: ${info.reason}`})`);
    for (const request of this.pending.values()) {
      this.unsend(request);
      this.clearRetry(request);
      request.reject(error);
    }
    this.pending.clear();
    for (const room of this.rooms.values()) {
      if (room.state === 'joining') room.fail(error);
      room.closed();
    }
    for (const done of this.leaveRequests.values()) done();
    this.leaveRequests.clear();
    this.events.emit('closed', info);
  }

  private startPing(socket: WebSocketLike): void {
    this.stopPing();
    const interval = this.options.pingIntervalMs ?? 25_000;
    const timeout = this.options.pongTimeoutMs ?? 10_000;
    this.pingTimer = setInterval(() => {
      if (this.socket !== socket || socket.readyState !== OPEN) return;
      socket.send(JSON.stringify({ action: 'ping' }));
      if (this.pongTimer === undefined) {
        this.pongTimer = setTimeout(() => {
          this.pongTimer = undefined;
          // Nothing came back: the network path is dead even if the socket does not know it yet.
          if (this.socket === socket) {
            detach(socket);
            try {
              socket.close(4003, 'no answer to ping');
            } catch {
              // ignore
            }
            this.onSocketClosed(4003, 'no answer to ping');
          }
        }, timeout);
      }
    }, interval);
  }

  private stopPing(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    if (this.pongTimer !== undefined) clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }

  // ---- inbound frames ---------------------------------------------------------------------------

  private onFrame(data: unknown): void {
    // Any frame proves the path is alive.
    if (this.pongTimer !== undefined) {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
    }
    let frame: ServerFrame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as ServerFrame;
    } catch (error) {
      this.reportError(error);
      return;
    }
    switch (frame.type) {
      case 'message':
        this.rooms.get(frame.room)?.handleMessage(frame);
        return;
      case 'joined': {
        const room = (frame.id !== undefined ? this.joinRequests.get(frame.id) : undefined) ?? this.rooms.get(frame.room);
        if (frame.id !== undefined) this.joinRequests.delete(frame.id);
        if (room === undefined || room !== this.rooms.get(frame.room)) return;
        this.attempt = 0;
        room.handleJoined(frame);
        this.flush();
        return;
      }
      case 'presence':
        this.rooms.get(frame.room)?.handlePresence(frame);
        return;
      case 'snapshot':
        try {
          this.rooms.get(frame.room)?.handleSnapshotPart(frame);
        } catch (error) {
          this.reportError(error);
        }
        return;
      case 'ack': {
        const request = this.pending.get(frame.id);
        if (request === undefined) return;
        this.settle(request);
        request.resolve(frame.seq);
        this.flush();
        return;
      }
      case 'left':
        if (frame.id !== undefined) {
          this.leaveRequests.get(frame.id)?.();
          this.leaveRequests.delete(frame.id);
        }
        return;
      case 'direct':
        this.onDirect(frame);
        return;
      case 'error':
        this.onError(frame.code, frame.message, frame.id);
        return;
      case 'pong':
        return;
      case 'closing':
        this.closingNotice = { code: frame.code, reason: frame.reason };
        return;
    }
  }

  private onDirect(frame: DirectMessageFrame): void {
    if (frame.id !== undefined) {
      // A resent direct message (its ack was lost) is delivered once.
      const key = `${frame.from.userId}\n${frame.id}`;
      if (this.seenDirect.has(key)) return;
      this.seenDirect.add(key);
      if (this.seenDirect.size > MAX_REMEMBERED_DIRECT_IDS) this.seenDirect.delete(this.seenDirect.values().next().value!);
    }
    const message: DirectMessage = { event: frame.event, data: frame.data, from: frame.from, ts: frame.ts };
    if (frame.id !== undefined) message.id = frame.id;
    this.events.emit('direct', message);
  }

  private onError(code: string, message: string, id: string | undefined): void {
    const errorCode: ErrorCode = isErrorCode(code) ? code : 'internal';
    const error = new ClasswireError(errorCode, message);
    const joining = id === undefined ? undefined : this.joinRequests.get(id);
    if (joining !== undefined) {
      this.joinRequests.delete(id!);
      if (ERROR_CODES[errorCode].retryable) {
        joining.resuming = false;
        setTimeout(() => {
          if (this.isOpen() && this.rooms.get(joining.id) === joining) this.sendJoin(joining);
        }, fullJitterDelay(1, this.options.reconnect, this.random));
      } else {
        this.rooms.delete(joining.id);
        joining.fail(error);
        this.rejectRoomRequests(joining, error);
      }
      return;
    }
    const request = id === undefined ? undefined : this.pending.get(id);
    if (request === undefined) {
      this.reportError(error);
      return;
    }
    const room = request.room;
    if (errorCode === 'not_joined' && room !== undefined && room.state === 'joined' && request.rejoins < MAX_REJOINS) {
      // This client never left: the server lost the membership (its store failed over, or the
      // registration expired). Join again (resuming from lastSeq) and resend with the same id after it.
      this.unsend(request);
      request.rejoins += 1;
      if (!room.resuming) this.sendJoin(room);
      return;
    }
    if (ERROR_CODES[errorCode].retryable) {
      // Same id, so a retry the server already stored is answered with the original ack. Its lane waits.
      this.unsend(request);
      request.retries += 1;
      request.retryTimer = setTimeout(() => {
        request.retryTimer = undefined;
        this.flush();
      }, fullJitterDelay(request.retries, this.options.reconnect, this.random));
      return;
    }
    this.settle(request);
    request.reject(error);
    this.flush();
  }

  // ---- outbound ---------------------------------------------------------------------------------

  private sendJoin(room: Room): void {
    if (!this.isOpen()) return;
    const id = this.nextId('j');
    this.joinRequests.set(id, room);
    room.resuming = true;
    const frame: ClientFrame = { action: 'join', room: room.id, id };
    if (room.lastSeq !== undefined && room.epoch !== undefined) {
      frame.since = room.lastSeq;
      frame.epoch = room.epoch;
    }
    this.socket!.send(JSON.stringify(frame));
  }

  private publishTo(room: Room, event: string, data: unknown, options: PublishOptions): Promise<number | undefined> {
    if (room.state === 'left' || room.state === 'failed') {
      return Promise.reject(new ClasswireError('not_joined', `room "${room.id}" was left`));
    }
    if (options.ephemeral === true) {
      // Ephemeral events are for the present moment: dropped, not queued, while offline.
      if (this.isOpen() && room.state === 'joined') {
        this.socket!.send(JSON.stringify({ action: 'publish', room: room.id, event, data, ephemeral: true }));
      }
      return Promise.resolve(undefined);
    }
    return this.request({ action: 'publish', room: room.id, event, data, id: this.nextId('p') }, room);
  }

  private request(frame: ClientFrame & { id: string }, room: Room | undefined): Promise<number | undefined> {
    if (this.currentState === 'closed') return Promise.reject(new ClasswireError('closed', 'the client is closed'));
    const limit = this.options.maxPendingPublishes ?? 1000;
    if (this.pending.size >= limit) {
      return Promise.reject(new ClasswireError('queue_full', `${limit} messages are already waiting for an ack`));
    }
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        id: frame.id,
        frame,
        room,
        resolve,
        reject,
        sentOn: undefined,
        ackTimer: undefined,
        retries: 0,
        rejoins: 0,
        retryTimer: undefined,
      };
      this.pending.set(frame.id, request);
      this.flush();
    });
  }

  /**
   * Sends what may be sent, oldest first. Each lane (a room's publishes, or direct messages) keeps FIFO
   * order: a request goes out only when every older request of its lane is on the wire and fewer than
   * `maxInFlight` await their ack.
   */
  private flush(): void {
    if (!this.isOpen()) return;
    const socket = this.socket!;
    const window = this.options.maxInFlight ?? 1;
    const inFlight = new Map<string, number>();
    const blocked = new Set<string>();
    for (const request of this.pending.values()) {
      const lane = request.room === undefined ? '' : `#${request.room.id}`;
      if (blocked.has(lane)) continue;
      const sent = inFlight.get(lane) ?? 0;
      if (request.sentOn === socket) {
        inFlight.set(lane, sent + 1);
        continue;
      }
      const room = request.room;
      const ready = room === undefined || (room.state === 'joined' && !room.resuming);
      if (!ready || request.retryTimer !== undefined || sent >= window) {
        blocked.add(lane);
        continue;
      }
      this.transmit(request, socket);
      inFlight.set(lane, sent + 1);
    }
  }

  private transmit(request: PendingRequest, socket: WebSocketLike): void {
    request.sentOn = socket;
    socket.send(JSON.stringify(request.frame));
    if (request.ackTimer !== undefined) clearTimeout(request.ackTimer);
    request.ackTimer = setTimeout(() => {
      request.ackTimer = undefined;
      // No ack on a live connection: resend with the same id; the server answers a duplicate with the first ack.
      if (this.pending.get(request.id) === request && request.sentOn === socket) {
        request.sentOn = undefined;
        this.flush();
      }
    }, this.options.ackTimeoutMs ?? 10_000);
  }

  private unsend(request: PendingRequest): void {
    request.sentOn = undefined;
    if (request.ackTimer !== undefined) clearTimeout(request.ackTimer);
    request.ackTimer = undefined;
  }

  private clearRetry(request: PendingRequest): void {
    if (request.retryTimer !== undefined) clearTimeout(request.retryTimer);
    request.retryTimer = undefined;
  }

  private settle(request: PendingRequest): void {
    this.unsend(request);
    this.clearRetry(request);
    this.pending.delete(request.id);
  }

  private rejectRoomRequests(room: Room, error: ClasswireError): void {
    for (const request of [...this.pending.values()]) {
      if (request.room === room) {
        this.settle(request);
        request.reject(error);
      }
    }
  }

  private leaveRoom(room: Room): Promise<void> {
    if (this.rooms.get(room.id) !== room) return Promise.resolve();
    this.rooms.delete(room.id);
    this.rejectRoomRequests(room, new ClasswireError('not_joined', `room "${room.id}" was left`));
    room.closed();
    if (!this.isOpen()) return Promise.resolve();
    const id = this.nextId('l');
    const done = new Promise<void>((resolve) => this.leaveRequests.set(id, resolve));
    this.socket!.send(JSON.stringify({ action: 'leave', room: room.id, id }));
    return done;
  }

  private nextId(kind: string): string {
    this.counter += 1;
    return `${kind}-${this.idPrefix}-${this.counter.toString(36)}`;
  }

  private reportError(error: unknown): void {
    if (this.events.has('error')) this.events.emit('error', error);
    else console.error('[classwire]', error);
  }
}

/** Creates a client and starts connecting. */
export function connect(options: ClientOptions): ClasswireClient {
  const client = new ClasswireClient(options);
  void client.connect().catch(() => undefined);
  return client;
}

function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // Keep a listener: `ws` reports closing a still-connecting socket as an 'error' event, fatal if unheard.
  socket.onerror = () => {};
}

/** Whether a JWT's `exp` is within the refresh margin. Unreadable tokens are left to the server to judge. */
function expiresSoon(token: string): boolean {
  const payload = token.split('.')[1];
  if (payload === undefined) return false;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && exp * 1000 - Date.now() < TOKEN_REFRESH_MARGIN_MS;
  } catch {
    return false;
  }
}
