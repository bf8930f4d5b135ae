import type { IncomingMessage } from 'node:http';
import { StoreUnavailableError, type Claims, type ConnectionRegistry, type Engine } from '@classwire/core';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { Connection, type ConnectionEvents } from './connection.js';
import type { LocalFanOut } from './local-fanout.js';
import type { GatewayMetrics } from './metrics.js';
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

/** setTimeout's largest delay; a token living longer is caught by the per-frame check and the heartbeat. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
}

interface InboundFrame {
  text: string;
  bytes: number;
}

/**
 * The connection pump: registers an upgraded socket with the engine, then feeds its frames to
 * `Engine.handleFrame` one at a time in arrival order, and disconnects it when the socket closes.
 */
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

export function createConnectionPump(deps: PumpDeps): (ws: WebSocket, req: IncomingMessage, id: string, claims: Claims, room: string | undefined) => void {
  const { engine, fanout, metrics, logger } = deps;
  const events: ConnectionEvents = {
    slowConsumer: (connection) => {
      metrics.slowConsumers.inc();
      logger.warn({ connectionId: connection.id, userId: connection.userId }, 'slow consumer closed');
    },
    framesOut: (count, bytes) => {
      metrics.framesOut.inc(count);
      metrics.bytesOut.inc(bytes);
    },
  };

  return (ws, req, id, claims, room) => {
    const connection = new Connection(id, ws, claims.userId, claims.expiresAt, deps.trustedProxies.sourceIpOf(req), req.headers['user-agent'] ?? '', deps.maxBufferedBytes, events);
    fanout.connections.set(id, connection);
    // The connection's child logger is made on its first use: most connections never log anything.
    let childLog: Logger | undefined;
    const log = (): Logger => (childLog ??= logger.child({ connectionId: id, userId: claims.userId }));
    const closeExpired = () => connection.close(CLOSE_CODES.tokenExpired, 'token expired');
    let expiryTimer: NodeJS.Timeout | undefined;
    const armExpiry = () => {
      const untilExpiry = connection.expiresAt - Date.now();
      expiryTimer = untilExpiry <= MAX_TIMER_MS ? setTimeout(onExpiry, Math.max(0, untilExpiry)) : undefined;
      expiryTimer?.unref();
    };
    // An in-band refresh may have moved the expiry since the timer was armed: then it waits for the new one.
    const onExpiry = () => (Date.now() < connection.expiresAt ? armExpiry() : closeExpired());
    armExpiry();

    const queue: InboundFrame[] = [];
    let queuedBytes = 0;
    // Busy until the engine has registered the connection: frames wait in the queue meanwhile.
    let busy = true;
    let closed = false;
    let paused = false;
    // Set once the rate limiter refused a frame, until a frame is admitted without waiting: meanwhile each frame
    // waits until the limiter admits it, rather than being parsed and refused one by one (what made a flood
    // cost the server as much as it could read). A sender that keeps sending a burst's worth is closed.
    let throttled = false;
    let flooded = false;
    let wakeThrottled: (() => void) | undefined;
    const pauseReading = () => {
      if (paused) return;
      paused = true;
      ws.pause();
    };
    const closeFlooder = () => {
      flooded = true;
      queue.length = 0;
      queuedBytes = 0;
      wakeThrottled?.();
      // Nothing more is read from it: the close handshake would otherwise make the gateway read, unmask and
      // drop everything the flooder has in flight ahead of its reply (megabytes), and the socket is
      // destroyed after the close grace period instead.
      pauseReading();
      connection.close(CLOSE_CODES.rateLimited, 'rate limit exceeded');
    };
    const finish = () => {
      const done = engine.disconnect(id, 'disconnected', connection.subscribedRooms()).catch((error: unknown) => {
        log().warn({ err: error }, 'disconnect failed; retrying');
        retryDisconnect(engine, id, log, 0);
      });
      deps.disconnecting.add(done);
      void done.finally(() => deps.disconnecting.delete(done));
    };
    const pump = async () => {
      busy = true;
      let sliceStart = performance.now();
      // Whether the frame at the head of the queue had to wait for the limiter.
      let headWaited = false;
      for (let next = queue[0]; next !== undefined && !closed && !flooded; next = queue[0]) {
        if (paused && queue.length <= QUEUE_LOW_WATER && queuedBytes <= QUEUE_LOW_WATER_BYTES) {
          paused = false;
          ws.resume();
        }
        if (throttled) {
          const waitMs = engine.admissionDelayMs(id, next.bytes);
          if (waitMs > 0) {
            headWaited = true;
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, waitMs);
              wakeThrottled = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wakeThrottled = undefined;
            sliceStart = performance.now();
            continue;
          }
        }
        queue.shift();
        queuedBytes -= next.bytes;
        // Frames queued before the token's expiry but handled after it are refused too.
        if (Date.now() >= connection.expiresAt) {
          closeExpired();
          break;
        }
        const verdict = await engine.handleFrame(id, next.text, next.bytes);
        if (verdict === 'limited') {
          if (!throttled) {
            throttled = true;
            metrics.inboundThrottles.inc();
          }
          if (queue.length > deps.abusiveBacklog) {
            closeFlooder();
            break;
          }
        } else if (!headWaited) {
          // Admitted without waiting: the sender is back within its rate.
          throttled = false;
        }
        headWaited = false;
        if (queue.length > 0 && performance.now() - sliceStart >= SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
      if (paused && !closed && !flooded) {
        paused = false;
        ws.resume();
      }
      busy = false;
      if (closed) finish();
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = Array.isArray(data) ? data.reduce((total, part) => total + part.length, 0) : data.byteLength;
      metrics.framesIn.inc();
      metrics.bytesIn.inc(bytes);
      connection.lastActiveAt = Date.now();
      if (isBinary) {
        connection.close(CLOSE_CODES.unsupportedData, 'binary frames are not supported');
        return;
      }
      if (flooded) return;
      queue.push({ text: data.toString(), bytes });
      queuedBytes += bytes;
      const backlogFull = queue.length >= QUEUE_HIGH_WATER || queuedBytes >= QUEUE_HIGH_WATER_BYTES;
      // Told to slow down (its last frame refused) and still sending a burst's worth, or enough to fill the
      // backlog: a flood, not a burst.
      if (throttled && (backlogFull || queue.length > deps.abusiveBacklog)) closeFlooder();
      else if (backlogFull) pauseReading();
      if (!busy) void pump();
    });
    ws.on('pong', () => {
      connection.alive = true;
      // Only the answer to our ping counts: a client may send unsolicited pongs.
      if (connection.pingSentAt !== undefined) metrics.pingRoundTrip.observe((performance.now() - connection.pingSentAt) / 1000);
      connection.pingSentAt = undefined;
    });
    let violation: number | undefined;
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code?.startsWith('WS_ERR_') === true) {
        violation = VIOLATION_CLOSE_CODES[error.code] ?? PROTOCOL_ERROR;
        log().info({ code: violation, error: error.code, message: error.message }, 'closed for a protocol violation');
      } else {
        if (logger.isLevelEnabled('debug')) log().debug({ err: error }, 'socket error');
      }
    });
    ws.on('close', (received: number) => {
      closed = true;
      clearTimeout(expiryTimer);
      queue.length = 0;
      wakeThrottled?.();
      fanout.connections.delete(id);
      // The code this side closed with when it closed first (what the peer echoes, or would have).
      const code = violation ?? connection.closedWith ?? received;
      metrics.closes.inc({ code: String(code) });
      if (logger.isLevelEnabled('debug')) log().debug({ code, received }, 'closed');
      if (!busy) finish();
    });

    const record = {
      connectionId: id,
      userId: claims.userId,
      name: claims.name,
      role: claims.role,
      rooms: claims.rooms,
      expiresAt: claims.expiresAt,
      connectedAt: connection.connectedAt,
      node: deps.nodeId,
    };
    engine
      .connect(record, room)
      .then(() => {
        connection.registered = true;
        if (logger.isLevelEnabled('debug')) log().debug({ room }, 'connected');
        return pump();
      })
      .catch((error: unknown) => {
        // Redis unreachable between the upgrade and the registration: expected, and the client reconnects (4005).
        if (error instanceof StoreUnavailableError) log().warn({ err: error }, 'connect failed: store unavailable');
        else log().error({ err: error }, 'connect failed');
        // Not registered, so no disconnect frees the slot checkConnect reserved.
        deps.registry.releaseSlot(claims.userId, id).catch((releaseError: unknown) => log().warn({ err: releaseError }, 'slot release failed'));
        connection.close(CLOSE_CODES.serverError, 'could not register the connection');
        busy = false;
        if (closed) finish();
      });
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
        connection.close(CLOSE_CODES.tokenExpired, 'token expired');
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
