import type { IncomingMessage } from 'node:http';
import type { Claims, Engine } from '@classwire/core';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { Connection, newConnectionId, type ConnectionEvents } from './connection.js';
import { sourceIpOf } from './http-util.js';
import type { LocalFanOut } from './local-fanout.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * Frames a connection may have waiting for its handler before the gateway stops reading its socket
 * (TCP backpressure then slows the sender); reading resumes once the backlog is down to the low mark.
 */
const QUEUE_HIGH_WATER = 64;
const QUEUE_LOW_WATER = 16;

export interface PumpDeps {
  engine: Engine;
  fanout: LocalFanOut;
  metrics: GatewayMetrics;
  logger: Logger;
  nodeId: string;
  maxBufferedBytes: number;
  /** Disconnects still being processed; a drain waits for them before it lets go of Redis. */
  disconnecting: Set<Promise<void>>;
}

/**
 * The connection pump: registers an upgraded socket with the engine, then feeds its frames to
 * `Engine.handleFrame` one at a time in arrival order, and disconnects it when the socket closes.
 */
export function createConnectionPump(deps: PumpDeps): (ws: WebSocket, req: IncomingMessage, claims: Claims, room: string | undefined) => void {
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

  return (ws, req, claims, room) => {
    const id = newConnectionId();
    const connection = new Connection(id, ws, claims.userId, claims.expiresAt, sourceIpOf(req), req.headers['user-agent'] ?? '', deps.maxBufferedBytes, events);
    fanout.connections.set(id, connection);
    const log = logger.child({ connectionId: id, userId: claims.userId });

    const queue: string[] = [];
    // Busy until the engine has registered the connection: frames wait in the queue meanwhile.
    let busy = true;
    let closed = false;
    let paused = false;
    const finish = () => {
      const done = engine.disconnect(id).catch((error: unknown) => log.error({ err: error }, 'disconnect failed'));
      deps.disconnecting.add(done);
      void done.finally(() => deps.disconnecting.delete(done));
    };
    const pump = async () => {
      busy = true;
      for (let raw = queue.shift(); raw !== undefined && !closed; raw = queue.shift()) {
        if (paused && queue.length <= QUEUE_LOW_WATER) {
          paused = false;
          ws.resume();
        }
        await engine.handleFrame(id, raw);
      }
      busy = false;
      if (closed) finish();
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      metrics.framesIn.inc();
      metrics.bytesIn.inc(Array.isArray(data) ? data.reduce((total, part) => total + part.length, 0) : data.byteLength);
      connection.lastActiveAt = Date.now();
      if (isBinary) {
        connection.close(CLOSE_CODES.unsupportedData, 'binary frames are not supported');
        return;
      }
      queue.push(data.toString());
      if (!paused && queue.length >= QUEUE_HIGH_WATER) {
        paused = true;
        ws.pause();
      }
      if (!busy) void pump();
    });
    ws.on('pong', () => {
      connection.alive = true;
      // Only the answer to our ping counts: a client may send unsolicited pongs.
      if (connection.pingSentAt !== undefined) metrics.pingRoundTrip.observe((performance.now() - connection.pingSentAt) / 1000);
      connection.pingSentAt = undefined;
    });
    ws.on('error', (error) => log.debug({ err: error }, 'socket error'));
    ws.on('close', (code: number) => {
      closed = true;
      queue.length = 0;
      fanout.connections.delete(id);
      metrics.closes.inc({ code: String(code) });
      log.debug({ code }, 'closed');
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
        log.debug({ room }, 'connected');
        return pump();
      })
      .catch((error: unknown) => {
        log.error({ err: error }, 'connect failed');
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
