import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  AuthError,
  Classroom,
  Engine,
  type ConnectionRegistry,
  type PresenceStore,
  JwtAuthorizer,
  MemoryPresence,
  MemoryRateLimiter,
  MemoryRegistry,
  MemoryRoomLog,
  mayJoinRoom,
  type Authorizer,
  type Claims,
} from '@classwire/core';
import { CLOSE_CODES, DEFAULT_LIMITS, ERROR_CODES, EVENT_PATTERN, ProtocolError, ROOM_PATTERN, type ErrorCode } from '@classwire/protocol';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { authenticateApiRequest } from './api-auth.js';
import type { GatewayConfig } from './config.js';
import { Connection, newConnectionId } from './connection.js';
import { DevTokenIssuer, randomSecret } from './dev-tokens.js';
import { BodyTooLargeError, readBody, rejectUpgrade, sendError, sendJson, sendMethodNotAllowed } from './http-util.js';
import { LocalFanOut } from './local-fanout.js';
import { handleConnectionRequest, localTarget, matchConnectionsPath, readManagementBody, remoteTarget } from './management.js';
import { createCluster } from './cluster.js';
import { GatewayMetrics } from './metrics.js';
import { serveStatic } from './static-files.js';
import { startApiGatewayEmulator } from './apigw-emulator.js';

export interface Gateway {
  /** `http://host:port` of the listening server. */
  readonly url: string;
  readonly port: number;
  readonly engine: Engine;
  readonly metrics: GatewayMetrics;
  /** Number of open sockets on this node. */
  readonly connectionCount: number;
  /** Stops accepting, closes every socket with 4000 ("reconnect"), and stops the server. */
  drain(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
}

/**
 * Frames a connection may have waiting for its handler before the gateway stops reading its socket
 * (TCP backpressure then slows the sender); reading resumes once the backlog is down to the low mark.
 */
const QUEUE_HIGH_WATER = 64;
const QUEUE_LOW_WATER = 16;
const SWEEP_INTERVAL_MS = 30_000;
const DEV_TOKEN_BODY_LIMIT = 4096;
const BUNDLED_WEB_ROOT = fileURLToPath(new URL('../public/', import.meta.url));
/** The classroom app's build in this repository (`npm run build`); from src/ and dist/ alike. */
const CLASSROOM_APP_ROOT = fileURLToPath(new URL('../../../apps/classroom/dist/', import.meta.url));

/** The classroom app when it was built, else the bundled development console. */
function defaultWebRoot(): string {
  return existsSync(`${CLASSROOM_APP_ROOT}index.html`) ? CLASSROOM_APP_ROOT : BUNDLED_WEB_ROOT;
}

const serverPublish = z.object({
  event: z.string().min(1).max(DEFAULT_LIMITS.maxEventLength).regex(EVENT_PATTERN, 'invalid event name'),
  data: z.unknown().optional(),
  id: z.string().min(1).max(DEFAULT_LIMITS.maxIdLength).optional(),
});

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'classwire' },
    // Tokens travel in query strings and headers; neither is ever logged.
    redact: { paths: ['token', '*.token', 'req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}

/** Starts one self-hosted gateway node: WebSocket endpoint, HTTP APIs, health and metrics on one port. */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logLevel);
  if (config.apigw !== undefined) return startApiGatewayEmulator(config, config.apigw, { ...options, logger });
  const nodeId = config.nodeId ?? `${hostname()}-${process.pid}`;
  const devSecret = config.devTokens && config.auth.secret === undefined ? randomSecret() : undefined;
  const authorizer: Authorizer = new JwtAuthorizer({
    secret: config.auth.secret ?? devSecret,
    jwksUrl: config.auth.jwksUrl,
    algorithms: config.auth.algorithms,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
  });
  const devTokens = config.devTokens
    ? new DevTokenIssuer((config.auth.secret ?? devSecret)!, { issuer: config.auth.issuer, audience: config.auth.audience })
    : undefined;

  const fanout = new LocalFanOut((count) => metrics.deliveries.inc(count));
  const metrics = new GatewayMetrics({ connections: () => fanout.connections.size, rooms: () => fanout.roomCount });
  const describeLocal = (connectionId: string) => fanout.connections.get(connectionId)?.info();
  const cluster = config.redis === undefined ? undefined : await createCluster(config, nodeId, fanout, logger, metrics, describeLocal);
  const memoryLog = cluster === undefined ? new MemoryRoomLog({ maxMessages: config.limits.historySize, maxAgeMs: config.limits.historyTtlMs }) : undefined;
  const registry: ConnectionRegistry = cluster?.registry ?? new MemoryRegistry();
  const presence: PresenceStore = cluster?.presence ?? new MemoryPresence();
  const roomLog = cluster?.roomLog ?? memoryLog!;
  const engineFanout = cluster?.fanout ?? fanout;
  const classroom = config.classroom
    ? new Classroom({ registry, roomLog, presence, fanout: engineFanout, maxFrameBytes: config.limits.maxFrameBytes })
    : undefined;
  const engine = new Engine({
    registry,
    roomLog,
    presence,
    fanout: engineFanout,
    classroom,
    rateLimiter: new MemoryRateLimiter({ ratePerSecond: config.limits.ratePerSecond, burst: config.limits.rateBurst }),
    maxFrameBytes: config.limits.maxFrameBytes,
    maxRoomsPerConnection: config.limits.maxRoomsPerConnection,
    logger,
    observer: metrics,
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.limits.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const connectionEvents = {
    slowConsumer: (connection: Connection) => {
      metrics.slowConsumers.inc();
      logger.warn({ connectionId: connection.id, userId: connection.userId }, 'slow consumer closed');
    },
    framesOut: (count: number) => metrics.framesOut.inc(count),
  };
  const webRoot = config.staticDir ?? defaultWebRoot();
  let draining = false;
  let ready = false;
  /** Disconnects still being processed; a drain waits for them before it lets go of Redis. */
  const disconnecting = new Set<Promise<void>>();

  const server: Server = createServer((req, res) => {
    handleRequest(req, res).catch((error: unknown) => {
      logger.error({ err: error, method: req.method, path: pathOf(req) }, 'request failed');
      if (!res.headersSent) sendError(res, 'internal', 'internal error');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => logger.debug({ err: error }, 'upgrade socket error'));
    handleUpgrade(req, socket, head).catch((error: unknown) => {
      logger.error({ err: error, path: pathOf(req) }, 'upgrade failed');
      rejectUpgrade(socket, 'internal', 'internal error');
    });
  });
  server.on('clientError', (error, socket) => {
    logger.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refuse = (code: ErrorCode, reason: string, message: string) => {
      metrics.authRejects.inc({ reason });
      logger.info({ path: url.pathname, status: ERROR_CODES[code].httpStatus, reason }, 'upgrade refused');
      rejectUpgrade(socket, code, message);
    };
    if (url.pathname !== config.wsPath) return refuse('not_found', 'path', 'no WebSocket endpoint at this path');
    if (draining) return refuse('unavailable', 'draining', 'server is shutting down; reconnect elsewhere');
    const origin = req.headers.origin;
    if (config.allowedOrigins.length > 0 && origin !== undefined && !config.allowedOrigins.includes(origin)) {
      return refuse('forbidden', 'origin', 'origin not allowed');
    }
    const bearer = req.headers.authorization?.startsWith('Bearer ') === true ? req.headers.authorization.slice(7) : undefined;
    const token = url.searchParams.get('token') ?? bearer;
    if (token === undefined || token.length === 0) return refuse('unauthorized', 'missing', 'a token is required');
    let claims: Claims;
    try {
      claims = await authorizer.authorize(token);
    } catch (error) {
      if (error instanceof AuthError) return refuse('unauthorized', error.reason, error.message);
      throw error;
    }
    const room = url.searchParams.get('room') ?? undefined;
    if (room !== undefined) {
      if (room.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(room)) {
        return refuse('bad_request', 'room', 'invalid room name');
      }
      if (!mayJoinRoom(claims, room)) return refuse('forbidden', 'room', 'not allowed to join this room');
      // Removed from the class, or a student after it ended: refused here rather than after the upgrade.
      try {
        await classroom?.checkJoin(claims, room);
      } catch (error) {
        if (error instanceof ProtocolError) return refuse('forbidden', 'room', error.message);
        throw error;
      }
    }
    if ((await registry.countForUser(claims.userId)) >= config.limits.maxConnectionsPerUser) {
      return refuse('rate_limited', 'connections', 'too many connections for this user');
    }
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, claims, room));
  }

  function accept(ws: WebSocket, req: IncomingMessage, claims: Claims, room: string | undefined): void {
    const id = newConnectionId();
    const forwarded = req.headers['x-forwarded-for'];
    const sourceIp = (typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim() : undefined) ?? req.socket.remoteAddress ?? '';
    const connection = new Connection(
      id,
      ws,
      claims.userId,
      claims.expiresAt,
      sourceIp,
      req.headers['user-agent'] ?? '',
      config.limits.maxBufferedBytes,
      connectionEvents,
    );
    fanout.connections.set(id, connection);
    const log = logger.child({ connectionId: id, userId: claims.userId });

    // Frames of one connection are handled one after another, in arrival order.
    const queue: string[] = [];
    let busy = true;
    let closed = false;
    const finish = () => {
      const done = engine.disconnect(id).catch((error: unknown) => log.error({ err: error }, 'disconnect failed'));
      disconnecting.add(done);
      void done.finally(() => disconnecting.delete(done));
    };
    let paused = false;
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
      node: nodeId,
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
  }

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', node: nodeId });
    if (path === '/readyz') {
      if (draining) return sendJson(res, 503, { status: 'draining' });
      if (cluster !== undefined && !cluster.isReady()) return sendJson(res, 503, { status: 'redis unavailable' });
      return ready ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'starting' });
    }
    if (path === '/metrics' && method === 'GET') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/dev/token' && devTokens !== undefined) {
      if (method !== 'POST') return sendMethodNotAllowed(res, 'POST');
      const input = await readJson(req, res, DEV_TOKEN_BODY_LIMIT);
      if (input === undefined) return;
      const issued = await devTokens.issue(input);
      if ('error' in issued) return sendError(res, 'bad_request', issued.error);
      return sendJson(res, 200, issued);
    }
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const connectionId = matchConnectionsPath(rawPath);
    if (connectionId !== undefined) {
      const body = await readManagementBody(req, res);
      if (body === undefined) return;
      const auth = await authenticateApiRequest(req, body, config.api);
      if (!auth.ok) {
        metrics.managementRequests.inc({ operation: 'connections', status: String(auth.status) });
        res.setHeader('x-amzn-ErrorType', auth.status === 401 ? 'UnauthorizedException' : 'ForbiddenException');
        return sendJson(res, auth.status === 401 ? 403 : 403, { message: auth.message });
      }
      const local = fanout.connections.get(connectionId);
      const target = cluster !== undefined && local === undefined ? remoteTarget(cluster.fanout, connectionId) : localTarget(local);
      const outcome = await handleConnectionRequest(req, res, connectionId, body, target);
      metrics.managementRequests.inc({ operation: `connections_${method.toLowerCase()}`, status: outcome });
      return;
    }
    const roomMatch = /^\/rooms\/([^/]+)\/messages$/.exec(path);
    if (roomMatch !== null) return handleRoomPublish(req, res, roomMatch[1]!);
    if ((method === 'GET' || method === 'HEAD') && (await serveStatic(req, res, webRoot, path))) return;
    sendError(res, 'not_found', 'not found');
  }

  async function handleRoomPublish(req: IncomingMessage, res: ServerResponse, encodedRoom: string): Promise<void> {
    if (req.method !== 'POST') return sendMethodNotAllowed(res, 'POST');
    let body: Buffer;
    try {
      body = await readBody(req, config.limits.maxFrameBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return sendError(res, 'payload_too_large', error.message);
      throw error;
    }
    const auth = await authenticateApiRequest(req, body, config.api);
    if (!auth.ok) return sendError(res, auth.status === 401 ? 'unauthorized' : 'forbidden', auth.message);
    let room: string;
    try {
      room = decodeURIComponent(encodedRoom);
    } catch {
      return sendError(res, 'bad_request', 'invalid room name');
    }
    if (room.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(room)) {
      return sendError(res, 'bad_request', 'invalid room name');
    }
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 'bad_request', 'body is not valid JSON');
    }
    const parsed = serverPublish.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return sendError(res, 'bad_request', `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid body'}`);
    }
    try {
      const result = await engine.publishAsServer(room, parsed.data);
      metrics.managementRequests.inc({ operation: 'room_publish', status: '200' });
      sendJson(res, result.duplicate ? 200 : 201, { room, seq: result.seq, duplicate: result.duplicate, ...(parsed.data.id === undefined ? {} : { id: parsed.data.id }) });
    } catch (error) {
      if (error instanceof ProtocolError) {
        return sendError(res, error.code, error.message);
      }
      throw error;
    }
  }

  async function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
    let body: Buffer;
    try {
      body = await readBody(req, limit);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        sendError(res, 'payload_too_large', error.message);
        return undefined;
      }
      throw error;
    }
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      sendError(res, 'bad_request', 'body is not valid JSON');
      return undefined;
    }
  }

  const heartbeat = setInterval(() => {
    const now = Date.now();
    for (const connection of fanout.connections.values()) {
      if (connection.expiresAt <= now) {
        connection.close(CLOSE_CODES.tokenExpired, 'token expired');
      } else if (!connection.alive) {
        connection.socket.terminate();
      } else {
        connection.alive = false;
        connection.socket.ping();
      }
    }
  }, config.pingIntervalMs);
  heartbeat.unref();
  const sweeper = setInterval(() => memoryLog?.sweep(), SWEEP_INTERVAL_MS);
  sweeper.unref();
  await cluster?.start((connectionId) => engine.disconnect(connectionId));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  ready = true;
  const address = server.address() as AddressInfo;
  const displayHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${address.port}`;
  logger.info({ url, node: nodeId, ws: `${url.replace('http', 'ws')}${config.wsPath}` }, 'classwire gateway listening');
  if (devTokens !== undefined) {
    logger.warn(
      { endpoint: `${url}/dev/token` },
      'DEVELOPMENT TOKENS ARE ON: anyone who reaches this server can mint a token for any user and role. Never enable this in production.',
    );
  }

  let drained: Promise<void> | undefined;
  async function drain(): Promise<void> {
    draining = true;
    ready = false;
    clearInterval(heartbeat);
    clearInterval(sweeper);
    const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of fanout.connections.values()) connection.close(CLOSE_CODES.goingAway, 'server shutting down');
    const deadline = Date.now() + config.drainTimeoutMs;
    while (fanout.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const connection of fanout.connections.values()) connection.socket.terminate();
    server.closeAllConnections();
    await closedServer;
    while (disconnecting.size > 0) await Promise.all([...disconnecting]);
    await cluster?.stop();
    logger.info({ node: nodeId }, 'drained');
  }

  return {
    url,
    port: address.port,
    engine,
    metrics,
    get connectionCount() {
      return fanout.connections.size;
    },
    drain: () => (drained ??= drain()),
  };
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
