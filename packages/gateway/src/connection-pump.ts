import type { IncomingMessage } from 'node:http';
import { StoreUnavailableError, type Claims, type ConnectionRegistry, type Engine } from '@classwire/core';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { Connection, type ConnectionEvents } from './connection.js';
import type { LocalFanOut } from './local-fanout.js';
import type { GatewayMetrics } from './metrics.js';
import type { ExpiryQueue } from './expiry-queue.js';
import type { TrustedProxies } from './trusted-proxies.js';

/**
 * Frames (and their bytes) a connection may have waiting for its handler before the gateway stops reading
 * its socket (TCP backpressure then slows the sender); reading resumes once the backlog is down to the low marks.
 */
const QUEUE_HIGH_WATER = 64;
const QUEUE_LOW_WATER = 16;
const QUEUE_HIGH_WATER_BYTES = 256 * 1024;
const QUEUE_LOW_WATER_BYTES = 64 * 1024;
/**
 * How long one connection's frames may keep the event loop before the pump yields to other sockets' I/O:
 * a burst that arrived in one read must not delay everyone else's messages by its whole cost.
 */
const SLICE_MS = 1;
/**
 * The close code `ws` sends for each protocol violation it detects; it drops the socket without waiting
 * for the peer's reply, so its close event would report 1006 (no close frame received) instead.
 */
const VIOLATION_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CLOSE_CODES.messageTooBig,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CLOSE_CODES.messageTooBig,
  WS_ERR_INVALID_UTF8: 1007,
};
/** What `ws` sends for any other framing error: 1002, protocol error. */
const PROTOCOL_ERROR = 1002;

export interface PumpDeps {
  engine: Engine;
  registry: Pick<ConnectionRegistry, 'releaseSlot'>;
  fanout: LocalFanOut;
  metrics: GatewayMetrics;
  logger: Logger;
  nodeId: string;
  maxBufferedBytes: number;
  trustedProxies: TrustedProxies;
  /** Disconnects still being processed; a drain waits for them before it lets go of Redis. */
  disconnecting: Set<Promise<void>>;
  /**
   * Frames a throttled sender may have waiting before it is closed with 4002 (it kept sending after it was
   * told to slow down). The rate limiter's burst.
   */
  abusiveBacklog: number;
  /** Closes each connection when its token expires (one timer for the node). */
  expiries: ExpiryQueue<Connection>;
}

interface InboundFrame {
  text: string;
  bytes: number;
}

/**
 * Waits between attempts to unregister a closed connection whose first attempt failed (Redis unreachable):
 * until one succeeds its record stays in the registry and the user present in its rooms (and, with class
 * records, their attendance open). About two minutes in all; the node's own side was let go of at once.
 */
const DISCONNECT_RETRY_MS = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 60_000];

function retryDisconnect(engine: Engine, id: string, log: () => Logger, attempt: number): void {
  const delay = DISCONNECT_RETRY_MS[attempt];
  if (delay === undefined) {
    log().error({}, 'disconnect failed for good; the connection stays registered until this node stops');
    return;
  }
  setTimeout(() => {
    engine.disconnect(id).catch((error: unknown) => {
      log().warn({ err: error, attempt: attempt + 1 }, 'disconnect failed; retrying');
      retryDisconnect(engine, id, log, attempt + 1);
    });
  }, delay).unref();
}

/** What every connection's pump shares: the node's dependencies and the connection events. */
interface PumpContext extends PumpDeps {
  events: ConnectionEvents;
}

const PUMP = Symbol('classwire.pump');
type PumpedSocket = WebSocket & { [PUMP]?: ConnectionPump };

// The socket's listeners are shared by every connection and find the pump through the socket they are
// called on (an emitter calls its listeners with itself as `this`): closures per connection, and the
// scope they kept, were about 1 KB of heap per idle connection (docs/performance.md).
function onMessage(this: PumpedSocket, data: RawData, isBinary: boolean): void {
  this[PUMP]!.received(data, isBinary);
}
function onPong(this: PumpedSocket): void {
  this[PUMP]!.ponged();
}
function onError(this: PumpedSocket, error: Error & { code?: string }): void {
  this[PUMP]!.failed(error);
}
function onClose(this: PumpedSocket, received: number): void {
  this[PUMP]!.closed(received);
}

/**
 * One connection's read side: frames wait in `queue` and go to `Engine.handleFrame` one at a time in
 * arrival order; the socket's reading pauses while too many wait; a sender the rate limiter throttled waits
 * for it, and is closed if it keeps flooding.
 */
class ConnectionPump {
  private readonly queue: InboundFrame[] = [];
  private queuedBytes = 0;
  /** Busy until the engine has registered the connection: frames wait in the queue meanwhile. */
  private busy = true;
  private isClosed = false;
  private paused = false;
  /**
   * Set once the rate limiter refused a frame, until a frame is admitted without waiting: meanwhile each
   * frame waits until the limiter admits it, rather than being parsed and refused one by one (what made a
   * flood cost the server as much as it could read). A sender that keeps sending a burst's worth is closed.
   */
  private throttled = false;
  private flooded = false;
  private wakeThrottled: (() => void) | undefined = undefined;
  /** The close code for a protocol violation `ws` reported, which closes without a handshake. */
  private violation: number | undefined = undefined;
  /** The connection's child logger, made on its first use: most connections never log anything. */
  private childLog: Logger | undefined = undefined;

  constructor(
    private readonly context: PumpContext,
    readonly connection: Connection,
  ) {}

  log(): Logger {
    return (this.childLog ??= this.context.logger.child({ connectionId: this.connection.id, userId: this.connection.userId }));
  }

  received(data: RawData, isBinary: boolean): void {
    const { connection, context } = this;
    const bytes = Array.isArray(data) ? data.reduce((total, part) => total + part.length, 0) : data.byteLength;
    context.metrics.framesIn.inc();
    context.metrics.bytesIn.inc(bytes);
    connection.lastActiveAt = Date.now();
    if (isBinary) {
      connection.close(CLOSE_CODES.unsupportedData, 'binary frames are not supported');
      return;
    }
    if (this.flooded) return;
    this.queue.push({ text: data.toString(), bytes });
    this.queuedBytes += bytes;
    const backlogFull = this.queue.length >= QUEUE_HIGH_WATER || this.queuedBytes >= QUEUE_HIGH_WATER_BYTES;
    // Told to slow down (its last frame refused) and still sending a burst's worth, or enough to fill the
    // backlog: a flood, not a burst.
    if (this.throttled && (backlogFull || this.queue.length > context.abusiveBacklog)) this.closeFlooder();
    else if (backlogFull) this.pauseReading();
    if (!this.busy) void this.pump();
  }

  ponged(): void {
    const connection = this.connection;
    connection.alive = true;
    // Only the answer to our ping counts: a client may send unsolicited pongs.
    if (connection.pingSentAt !== undefined) this.context.metrics.pingRoundTrip.observe((performance.now() - connection.pingSentAt) / 1000);
    connection.pingSentAt = undefined;
  }

  failed(error: Error & { code?: string }): void {
    if (error.code?.startsWith('WS_ERR_') === true) {
      this.violation = VIOLATION_CLOSE_CODES[error.code] ?? PROTOCOL_ERROR;
      this.log().info({ code: this.violation, error: error.code, message: error.message }, 'closed for a protocol violation');
    } else if (this.context.logger.isLevelEnabled('debug')) {
      this.log().debug({ err: error }, 'socket error');
    }
  }

  closed(received: number): void {
    const { connection, context } = this;
    this.isClosed = true;
    context.expiries.remove(connection);
    this.queue.length = 0;
    this.wakeThrottled?.();
    context.fanout.connections.delete(connection.id);
    // The code this side closed with when it closed first (what the peer echoes, or would have).
    const code = this.violation ?? connection.closedWith ?? received;
    context.metrics.closes.inc({ code: String(code) });
    if (context.logger.isLevelEnabled('debug')) this.log().debug({ code, received }, 'closed');
    if (!this.busy) this.finish();
  }

  /** Registers the connection with the engine, then handles the frames that waited meanwhile. */
  start(claims: Claims, room: string | undefined): void {
    const { connection, context } = this;
    const record = {
      connectionId: connection.id,
      userId: claims.userId,
      name: claims.name,
      role: claims.role,
      rooms: claims.rooms,
      expiresAt: claims.expiresAt,
      connectedAt: connection.connectedAt,
      node: context.nodeId,
    };
    context.engine
      .connect(record, room)
      .then(() => {
        connection.registered = true;
        if (context.logger.isLevelEnabled('debug')) this.log().debug({ room }, 'connected');
        return this.pump();
      })
      .catch((error: unknown) => {
        // Redis unreachable between the upgrade and the registration: expected, and the client reconnects (4005).
        if (error instanceof StoreUnavailableError) this.log().warn({ err: error }, 'connect failed: store unavailable');
        else this.log().error({ err: error }, 'connect failed');
        // Not registered, so no disconnect frees the slot checkConnect reserved.
        context.registry.releaseSlot(connection.userId, connection.id).catch((releaseError: unknown) => this.log().warn({ err: releaseError }, 'slot release failed'));
        connection.close(CLOSE_CODES.serverError, 'could not register the connection');
        this.busy = false;
        if (this.isClosed) this.finish();
      });
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.connection.socket.pause();
  }

  private resumeReading(): void {
    this.paused = false;
    this.connection.socket.resume();
  }

  private closeFlooder(): void {
    this.flooded = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.wakeThrottled?.();
    // Nothing more is read from it: the close handshake would otherwise make the gateway read, unmask and
    // drop everything the flooder has in flight ahead of its reply (megabytes), and the socket is
    // destroyed after the close grace period instead.
    this.pauseReading();
    this.connection.close(CLOSE_CODES.rateLimited, 'rate limit exceeded');
  }

  private finish(): void {
    const { connection, context } = this;
    const id = connection.id;
    const done = context.engine.disconnect(id, 'disconnected', connection.subscribedRooms()).catch((error: unknown) => {
      this.log().warn({ err: error }, 'disconnect failed; retrying');
      retryDisconnect(context.engine, id, () => this.log(), 0);
    });
    context.disconnecting.add(done);
    void done.finally(() => context.disconnecting.delete(done));
  }

  private async pump(): Promise<void> {
    const { connection, context, queue } = this;
    const engine = context.engine;
    this.busy = true;
    let sliceStart = performance.now();
    // Whether the frame at the head of the queue had to wait for the limiter.
    let headWaited = false;
    for (let next = queue[0]; next !== undefined && !this.isClosed && !this.flooded; next = queue[0]) {
      if (this.paused && queue.length <= QUEUE_LOW_WATER && this.queuedBytes <= QUEUE_LOW_WATER_BYTES) this.resumeReading();
      if (this.throttled) {
        const waitMs = engine.admissionDelayMs(connection.id, next.bytes);
        if (waitMs > 0) {
          headWaited = true;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, waitMs);
            this.wakeThrottled = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wakeThrottled = undefined;
          sliceStart = performance.now();
          continue;
        }
      }
      queue.shift();
      this.queuedBytes -= next.bytes;
      // Frames queued before the token's expiry but handled after it are refused too.
      if (Date.now() >= connection.expiresAt) {
        closeExpired(connection);
        break;
      }
      const verdict = await engine.handleFrame(connection.id, next.text, next.bytes);
      if (verdict === 'limited') {
        if (!this.throttled) {
          this.throttled = true;
          context.metrics.inboundThrottles.inc();
        }
        if (queue.length > context.abusiveBacklog) {
          this.closeFlooder();
          break;
        }
      } else if (!headWaited) {
        // Admitted without waiting: the sender is back within its rate.
        this.throttled = false;
      }
      headWaited = false;
      if (queue.length > 0 && performance.now() - sliceStart >= SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    if (this.paused && !this.isClosed && !this.flooded) this.resumeReading();
    this.busy = false;
    if (this.isClosed) this.finish();
  }
}

/** Closes a connection whose token expired (4004). */
export function closeExpired(connection: Connection): void {
  connection.close(CLOSE_CODES.tokenExpired, 'token expired');
}

/**
 * The connection pump: registers an upgraded socket with the engine, then feeds its frames to
 * `Engine.handleFrame` one at a time in arrival order, and disconnects it when the socket closes.
 */
export function createConnectionPump(deps: PumpDeps): (ws: WebSocket, req: IncomingMessage, id: string, claims: Claims, room: string | undefined) => void {
  const { metrics, logger } = deps;
  const context: PumpContext = {
    ...deps,
    events: {
      slowConsumer: (connection) => {
        metrics.slowConsumers.inc();
        logger.warn({ connectionId: connection.id, userId: connection.userId }, 'slow consumer closed');
      },
      framesOut: (count, bytes) => {
        metrics.framesOut.inc(count);
        metrics.bytesOut.inc(bytes);
      },
    },
  };

  return (ws, req, id, claims, room) => {
    const connection = new Connection(id, ws, claims.userId, claims.expiresAt, deps.trustedProxies.sourceIpOf(req), req.headers['user-agent'] ?? '', deps.maxBufferedBytes, context.events);
    deps.fanout.connections.set(id, connection);
    deps.expiries.add(connection);
    const pump = new ConnectionPump(context, connection);
    (ws as PumpedSocket)[PUMP] = pump;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
    pump.start(claims, room);
  };
}

/**
 * Every interval: closes connections whose token expired, terminates those that did not answer
 * the previous ping, and pings the rest.
 */
export function startHeartbeat(connections: ReadonlyMap<string, Connection>, intervalMs: number): NodeJS.Timeout {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const connection of connections.values()) {
      if (connection.expiresAt <= now) {
        closeExpired(connection);
      } else if (!connection.alive) {
        connection.socket.terminate();
      } else {
        connection.alive = false;
        connection.pingSentAt = performance.now();
        connection.socket.ping();
      }
    }
  }, intervalMs);
  timer.unref();
  return timer;
}
