import { CLOSE_CODES, DEFAULT_MAX_FRAME_BYTES, utf8Length, type ClassroomEventMap, type ClientFrame } from '@classwire/protocol/wire';
import { fullJitterDelay, type BackoffOptions } from './backoff.js';
import { watchDeadline, type OperationOptions } from './deadline.js';
import { browserNetwork, Connection, type CloseInfo, type ConnectionState, type NetworkStatus, type WebSocketConstructor } from './connection.js';
import { Inbound, type DirectMessage } from './dispatch.js';
import { Emitter } from './emitter.js';
import { ClasswireError } from './errors.js';
import { Membership } from './membership.js';
import { Outbox, tooLarge } from './outbox.js';
import { Room, type AnyRoom, type PublishOptions, type RoomHost } from './room.js';
import { createPositions, sessionPositionStorage, type Positions, type PositionStorage } from './positions.js';
import { TokenRefresher } from './refresh.js';
import { createTokenSource } from './token.js';

export interface ClientOptions {
  /** The gateway's WebSocket URL, e.g. `wss://classwire.example/ws` (or an API Gateway stage URL). */
  url: string;
  /** A fixed token. Use `getToken` instead when tokens expire during a session. */
  token?: string;
  /**
   * Called for the first connection, whenever the token was refused, expired or is about to, and ahead of
   * the token's `exp` while connected: the new token is sent in-band (`refresh`) and the connection stays open.
   */
  getToken?: () => string | Promise<string>;
  /** How long before the token's `exp` an open connection refreshes it (with `getToken`), ms. @default 60_000 */
  refreshLeadMs?: number;
  /** WebSocket implementation. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff (full jitter). */
  reconnect?: BackoffOptions;
  /**
   * Application ping interval while open, ms. Set, it overrides the interval the server advertises (the
   * AWS runtime asks for 540 s, inside API Gateway's 10-minute idle timeout). @default the server's, else 25_000
   */
  pingIntervalMs?: number;
  /** A connection that answers nothing for this long after a ping is treated as dead, ms. @default 10_000 */
  pongTimeoutMs?: number;
  /** Unacknowledged publishes are resent (same id) after this long on a live connection, ms. @default 10_000 */
  ackTimeoutMs?: number;
  /**
   * A publish the server keeps refusing with a retryable error (`unavailable`, `rate_limited`, `internal`)
   * is retried, with backoff and the same id, until it was retried 8 times and its refusals lasted this
   * long; then it rejects with the last error, ms. Longer than a store failover. @default 30_000
   */
  retryWindowMs?: number;
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
  /**
   * Network events: on `offline` the state becomes `offline` and no reconnect is attempted; on `online`
   * the client reconnects at once. @default the browser's `window` and `navigator.onLine`; none elsewhere
   */
  network?: NetworkStatus;
  /**
   * Resume across page reloads (opt-in): each room's position (seq, epoch) is kept in this storage, and a
   * room joined again from it (after a reload) resumes, receiving only what it missed, instead of starting
   * over. `true` uses `sessionStorage` (per tab) when there is one. Keep your own state of the room (the
   * messages you show) across the reload too, as the missed messages are all a resume delivers.
   */
  rememberPositions?: boolean | PositionStorage;
  /**
   * The largest frame the server accepts, bytes (`CLASSWIRE_MAX_FRAME_BYTES`). A larger publish is
   * rejected with `payload_too_large` before it is sent. @default 32768
   */
  maxFrameBytes?: number;
  /**
   * `false`: the server does not send your own room messages back to this client (on API Gateway each
   * echo is a billed message); the SDK shows them from the publish's ack instead, in seq order, so room
   * handlers see the same messages. Needs a server that supports it (older ones echo, which works too).
   * A classroom event the server stored normalized is echoed all the same. @default true
   */
  echo?: boolean;
  /** Random source for jitter and ids (tests inject a seeded one). @default Math.random */
  random?: () => number;
}

interface ClientEvents {
  [key: string]: unknown;
  state: { state: ConnectionState; previous: ConnectionState };
  direct: DirectMessage;
  error: unknown;
  closed: CloseInfo;
}

/**
 * The Classwire client: one WebSocket, any number of rooms. It reconnects with jittered backoff, resumes
 * every room from the last delivered seq, resends unacknowledged publishes with their ids, and delivers
 * each room's messages to the app in order, exactly once.
 *
 * This class is the public face; the work is done by `Connection` (the socket's lifecycle, with its
 * `TokenSource` and `Heartbeat`), `Membership` (rooms, joins and leaves), `Outbox` (acknowledged
 * publishing) and `Inbound` (dispatch of server frames).
 */
export class ClasswireClient<Events = ClassroomEventMap> {
  private readonly events: Emitter<ClientEvents>;
  private readonly connection: Connection;
  private readonly membership: Membership;
  private readonly outbox: Outbox;
  private readonly inbound: Inbound;
  private readonly refresher: TokenRefresher;
  private readonly roomHost: RoomHost;
  private readonly positions: Positions | undefined;
  private readonly idPrefix: string;
  private counter = 0;
  private readonly echo: boolean;

  constructor(options: ClientOptions) {
    if (options.token === undefined && options.getToken === undefined) throw new Error('token or getToken is required');
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocket === undefined) {
      throw new Error('no WebSocket implementation: pass options.WebSocket (for Node 20, import from "@classwire/client/node")');
    }
    const random = options.random ?? Math.random;
    this.echo = options.echo !== false;
    this.idPrefix = Math.floor(random() * 36 ** 8).toString(36);
    this.events = new Emitter((error) => this.reportError(error));
    const backoff = (attempt: number) => fullJitterDelay(attempt, options.reconnect, random);
    const link = () => this.connection.link;
    const tokens = createTokenSource(options.token, options.getToken);
    this.connection = new Connection(
      {
        url: options.url,
        WebSocket,
        pingIntervalMs: options.pingIntervalMs,
        pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
        reconnectDelay: backoff,
        network: options.network ?? browserNetwork(),
      },
      tokens,
      {
        // Listeners run after the current call stack, so one added right after `connect()` sees every state.
        stateChanged: (state, previous) => queueMicrotask(() => this.events.emit('state', { state, previous })),
        opened: () => {
          this.refresher.schedule();
          this.membership.rejoinAll();
          // Direct messages need no room; publishes wait for their room's `joined`.
          this.outbox.flush();
        },
        frame: (data) => this.inbound.receive(data),
        lost: (code) => {
          this.refresher.stop();
          this.outbox.unsendAll(code);
          this.membership.connectionLost();
        },
        ended: (info) => this.ended(info),
        reportError: (error) => this.reportError(error),
      },
    );
    this.outbox = new Outbox(
      {
        maxPending: options.maxPendingPublishes ?? 1000,
        maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
        maxInFlight: options.maxInFlight ?? 1,
        ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
        retryDelay: backoff,
        retryWindowMs: options.retryWindowMs ?? 30_000,
      },
      { link, rejoin: (room) => this.membership.sendJoin(room) },
    );
    this.membership = new Membership({
      link,
      nextId: (kind) => this.nextId(kind),
      retryDelay: () => backoff(1),
      failed: (room, error) => this.outbox.rejectRoom(room, error),
    });
    this.refresher = new TokenRefresher(
      tokens,
      { link, nextId: (kind) => this.nextId(kind), reportError: (error) => this.reportError(error) },
      options.refreshLeadMs ?? 60_000,
    );
    this.inbound = new Inbound({
      connection: this.connection,
      membership: this.membership,
      outbox: this.outbox,
      refresher: this.refresher,
      direct: (message) => this.events.emit('direct', message),
      reportError: (error) => this.reportError(error),
    });
    const storage = options.rememberPositions === true ? sessionPositionStorage() : options.rememberPositions || undefined;
    this.positions = storage === undefined ? undefined : createPositions(storage, options.url);
    this.roomHost = {
      publish: (room, event, data, publishOptions) => this.publishTo(room, event, data, publishOptions),
      leave: (room) => this.leaveRoom(room),
      resume: (room) => this.membership.sendJoin(room),
      moved: (room) => {
        if (room.lastSeq !== undefined && room.epoch !== undefined) this.positions?.write(room.id, { seq: room.lastSeq, epoch: room.epoch });
      },
      reportError: (error) => this.reportError(error),
      gapTimeoutMs: options.gapTimeoutMs ?? 1000,
      // Sent like a publish, in the room's lane: resent after a reconnect, retried when refused with a retryable code.
      ask: (frame, room) => this.request({ ...frame, id: this.nextId('q') }, room),
    };
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Starts connecting (idempotent). Resolves when the connection is open. */
  connect(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ClasswireError('closed', 'the client is closed'));
    this.connection.start();
    return this.whenOpen();
  }

  /** Resolves the next time the connection is open (now, if it is). */
  whenOpen(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
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

  /**
   * Joins a room (or returns the room already joined). Connects if needed. With `timeoutMs` or `signal`,
   * a room not joined in time fails: `ready` rejects with code `timeout` or `aborted` and the room is left.
   */
  join<E = Events>(roomId: string, options: OperationOptions = {}): Room<E> {
    const existing = this.membership.get(roomId);
    if (existing !== undefined && existing.state !== 'left' && existing.state !== 'failed') return existing as Room<E>;
    const room: AnyRoom = new Room(roomId, this.roomHost);
    const saved = this.positions?.read(roomId);
    if (saved !== undefined) {
      room.lastSeq = saved.seq;
      room.epoch = saved.epoch;
    }
    this.membership.add(room);
    if (options.timeoutMs !== undefined || options.signal !== undefined) {
      const unwatch = watchDeadline(`joining room "${roomId}"`, options, (error) => {
        if (room.state !== 'joining') return;
        room.fail(error);
        void this.leaveRoom(room);
      });
      room.ready.then(unwatch, unwatch);
    }
    if (this.state === 'idle') void this.connect().catch(() => undefined);
    return room as Room<E>;
  }

  /** A room this client joined. */
  room<E = Events>(roomId: string): Room<E> | undefined {
    return this.membership.get(roomId) as Room<E> | undefined;
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
    if (this.state === 'closed') return;
    this.connection.close({ code: CLOSE_CODES.normal, reason: 'closed by the client' });
  }

  /** Publishes waiting for an ack (sent or queued). */
  get pendingCount(): number {
    return this.outbox.size;
  }

  private ended(info: CloseInfo): void {
    this.refresher.stop();
    const error = new ClasswireError('closed', `the connection closed (${info.code}${info.reason === '' ? '' : `: ${info.reason}`})`);
    this.outbox.rejectAll(error);
    this.membership.ended(error);
    this.events.emit('closed', info);
  }

  private publishTo(room: AnyRoom, event: string, data: unknown, options: PublishOptions): Promise<number | undefined> {
    if (room.state === 'left' || room.state === 'failed') {
      return Promise.reject(new ClasswireError('not_joined', `room "${room.id}" was left`));
    }
    if (options.ephemeral === true) {
      // Ephemeral events are for the present moment: dropped, not queued, while offline.
      const link = this.connection.link;
      if (link !== undefined && room.state === 'joined') {
        const frame: ClientFrame = { action: 'publish', room: room.id, event, data, ephemeral: true };
        const text = JSON.stringify(frame);
        const bytes = utf8Length(text);
        if (bytes > this.outbox.maxFrameBytes) return Promise.reject(tooLarge(bytes, this.outbox.maxFrameBytes));
        link.send(text);
      }
      return Promise.resolve(undefined);
    }
    const frame: ClientFrame & { id: string } = { action: 'publish', room: room.id, event, data, id: options.id ?? this.nextId('p') };
    if (!this.echo) frame.echo = false;
    return this.request(frame, room, options);
  }

  private request<T = number | undefined>(frame: ClientFrame & { id: string }, room: AnyRoom | undefined, limits: OperationOptions = {}): Promise<T> {
    if (this.state === 'closed') return Promise.reject(new ClasswireError('closed', 'the client is closed'));
    return this.outbox.add<T>(frame, room, limits);
  }

  private leaveRoom(room: AnyRoom): Promise<void> {
    if (!this.membership.remove(room)) return Promise.resolve();
    this.positions?.forget(room.id);
    this.outbox.rejectRoom(room, new ClasswireError('not_joined', `room "${room.id}" was left`));
    room.closed();
    return this.membership.sendLeave(room);
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

/** Creates a client and starts connecting. `Events` is the rooms' event map (the classroom's by default). */
export function connect<Events = ClassroomEventMap>(options: ClientOptions): ClasswireClient<Events> {
  const client = new ClasswireClient<Events>(options);
  void client.connect().catch(() => undefined);
  return client;
}
