import { createServer, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import {
  Classroom,
  Engine,
  JwtAuthorizer,
  MemoryPresence,
  MemoryRateLimiter,
  MemoryRegistry,
  MemoryBroker,
  StoreUnavailableError,
  type Broker,
  type ConnectionRegistry,
  type PresenceStore,
} from '@classwire/core';
import { CLOSE_CODES, encodeClosingFrame } from '@classwire/protocol';
import { RecordsService } from '@classwire/records';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { AdminApi } from './admin.js';
import { authenticateApiRequest } from './api-auth.js';
import { createCluster } from './cluster.js';
import type { GatewayConfig } from './config.js';
import { closeExpired, createConnectionPump, startHeartbeat } from './connection-pump.js';
import type { Connection } from './connection.js';
import { ExpiryQueue } from './expiry-queue.js';
import { createDevTokens, devTokenWarning } from './dev-tokens.js';
import { isAbandoned, listen, pathOf, sendError } from './http-util.js';
import { LocalFanOut } from './local-fanout.js';
import { createLogger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import { createRoutes, type NodeStatus } from './routes.js';
import { applySecurityHeaders } from './security-headers.js';
import { BUNDLED_WEB_ROOT } from './static-files.js';
import { handleUpgrades } from './upgrade.js';

/**
 * Closes the connections one by one over `windowMs` (4000), each first told in a `closing` frame to wait
 * its offset in the window before reconnecting, so the reconnects spread over twice the window.
 */
function spreadCloses(connections: Connection[], windowMs: number): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  connections.forEach((connection, index) => {
    const offset = Math.floor((index * windowMs) / connections.length);
    const close = () => {
      connection.send(encodeClosingFrame(CLOSE_CODES.goingAway, 'server shutting down', offset));
      connection.close(CLOSE_CODES.goingAway, 'server shutting down');
    };
    if (offset === 0) close();
    else timers.push(setTimeout(close, offset));
  });
  return timers;
}

/** A running server: the gateway, or another runtime on the same HTTP pieces (the API Gateway emulator). */
export interface Gateway {
  /** `http://host:port` of the listening server. */
  readonly url: string;
  readonly port: number;
  readonly engine: Engine;
  readonly metrics: GatewayMetrics;
  /** Number of open sockets on this node. */
  readonly connectionCount: number;
  /** Stops accepting, closes every socket with 4000 ("reconnect") spread over the drain window, and stops the server. */
  drain(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** Where spans go when tracing is on, instead of OTLP (tests). */
  spanExporter?: SpanExporter;
}

const SWEEP_INTERVAL_MS = 30_000;
/** How often a drain looks whether every socket has closed. */
const DRAIN_POLL_MS = 20;

/**
 * Starts one self-hosted gateway node (the lifecycle: build, listen, drain): the engine on memory or
 * Redis ports, the upgrade checks (upgrade.ts), the connection pump (connection-pump.ts) and the HTTP
 * routes (routes.ts), all on one port.
 */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const nodeId = config.nodeId ?? `${hostname()}-${process.pid}`;
  const devTokens = createDevTokens(config);
  const authorizer = new JwtAuthorizer({
    secret: config.auth.secret ?? devTokens?.secret,
    jwksUrl: config.auth.jwksUrl,
    algorithms: config.auth.algorithms,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
  });

  const tracing = config.otelEnabled ? await (await import('./tracing.js')).startTracing(nodeId, options.spanExporter) : undefined;
  const fanout = new LocalFanOut(
    (count) => metrics.deliveries.inc(count),
    (count, bytes) => {
      metrics.framesOut.inc(count);
      metrics.bytesOut.inc(bytes);
    },
  );
  const metrics = new GatewayMetrics({ connections: () => fanout.connections.size, users: () => fanout.userCount(), rooms: () => fanout.roomCount, redisReady: config.redis && ((): boolean => cluster!.isReady()) });
  const describeLocal = (connectionId: string) => fanout.connections.get(connectionId)?.info();
  const cluster = config.redis === undefined ? undefined : await createCluster(config, nodeId, fanout, logger, metrics, describeLocal);
  const memoryBroker =
    cluster === undefined
      ? new MemoryBroker({ maxMessages: config.limits.historySize, maxAgeMs: config.limits.historyTtlMs, delivery: fanout })
      : undefined;
  const registry: ConnectionRegistry = cluster?.registry ?? new MemoryRegistry();
  const presence: PresenceStore = cluster?.presence ?? new MemoryPresence();
  const liveBroker: Broker = cluster?.broker ?? memoryBroker!;
  // Class records (docs/records.md): beside the engine, never on the publish path's critical section.
  const records = config.records && new RecordsService(config.records, { broker: liveBroker, presence, authorizer, logger, lease: cluster?.recordingLease, authenticateBackend: async (req) => (await authenticateApiRequest(req, Buffer.alloc(0), config.api)).ok });
  if (records !== undefined) metrics.watchRecords(records);
  const broker = records?.observe(liveBroker) ?? liveBroker;
  const engineFanout = cluster?.fanout ?? fanout;
  const classroom = config.classroom
    ? new Classroom({ registry, broker, presence, fanout: engineFanout, maxFrameBytes: config.limits.maxFrameBytes, maxBoardBytes: config.limits.maxBoardBytes, boardRate: config.limits.boardRate, eventRate: config.limits.classEventRate })
    : undefined;
  // Token expiries of every connection of this node, behind one timer.
  const expiries = new ExpiryQueue<Connection>(closeExpired);
  const engine = new Engine({
    registry,
    broker,
    presence,
    fanout: engineFanout,
    classroom,
    rateLimiter: new MemoryRateLimiter({
      ratePerSecond: config.limits.ratePerSecond,
      burst: config.limits.rateBurst,
      bytesPerSecond: config.limits.rateBytesPerSecond,
      bytesBurst: config.limits.rateBytesBurst,
    }),
    maxFrameBytes: config.limits.maxFrameBytes,
    maxRoomsPerConnection: config.limits.maxRoomsPerConnection,
    archive: records?.archive,
    roomJoinRate: config.limits.roomJoinRate,
    logger,
    observer: tracing?.observe(metrics) ?? metrics,
    tokens: authorizer,
    // With records on, first joins and last leaves go into the room log for attendance (docs/records.md).
    presenceInLog: records !== undefined,
    expiryChanged: (connectionId, expiresAt) => {
      const connection = fanout.connections.get(connectionId);
      if (connection === undefined) return;
      connection.expiresAt = expiresAt;
      expiries.update(connection);
    },
  });

  const admin = config.api.adminKey === undefined ? undefined : new AdminApi({ key: config.api.adminKey, nodeId, fanout, registry, cluster, metrics });
  let status: NodeStatus = 'starting';
  const disconnecting = new Set<Promise<void>>();
  const routes = createRoutes({
    config,
    nodeId,
    engine,
    fanout,
    cluster,
    metrics,
    devTokens: devTokens?.issuer,
    admin,
    records: records && ((req, res) => records.handle(req, res)),
    webRoot: config.staticDir ?? BUNDLED_WEB_ROOT,
    status: () => status,
  });
  // The latest answer on each socket: a parse error found once it has started must not add a second one.
  const answers = new WeakMap<Duplex, ServerResponse>();
  const server = createServer((req, res) => {
    answers.set(req.socket, res);
    applySecurityHeaders(req, res);
    routes(req, res).catch((error: unknown) => {
      if (isAbandoned(req)) {
        logger.debug({ err: error, method: req.method, path: pathOf(req) }, 'request abandoned by the client');
        res.destroy();
        return;
      }
      // Redis unreachable: 503 with Retry-After, as the upgrade answers; anything else is a bug (500).
      const unavailable = error instanceof StoreUnavailableError;
      if (unavailable) logger.warn({ err: error, method: req.method, path: pathOf(req) }, 'request refused: store unavailable');
      else logger.error({ err: error, method: req.method, path: pathOf(req) }, 'request failed');
      if (!res.headersSent) sendError(res, unavailable ? 'unavailable' : 'internal', unavailable ? 'the store is unavailable; retry later' : 'internal error');
      else res.destroy();
    });
  });
  server.on('clientError', (error, socket) => {
    logger.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable && answers.get(socket)?.headersSent !== true) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  handleUpgrades(server, {
    wsPath: config.wsPath,
    checks: {
      allowedOrigins: config.allowedOrigins,
      maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
      authorizer,
      registry,
      classroom,
    },
    wss: new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameBytes, perMessageDeflate: false, clientTracking: false }),
    metrics,
    logger,
    isDraining: () => status === 'draining',
    accept: createConnectionPump({ engine, registry, fanout, metrics, logger, nodeId, maxBufferedBytes: config.limits.maxBufferedBytes, trustedProxies: config.trustedProxies, disconnecting, abusiveBacklog: config.limits.rateBurst, expiries }),
  });

  const heartbeat = startHeartbeat(fanout.connections, config.pingIntervalMs);
  const sweeper = setInterval(() => {
    memoryBroker?.log.sweep();
    engine.sweep();
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  await cluster?.start((connectionId) => engine.disconnect(connectionId, 'reaped'));

  const { url, port } = await listen(server, config.port, config.host);
  status = 'ready';
  logger.info({ url, node: nodeId, ws: `${url.replace('http', 'ws')}${config.wsPath}` }, 'classwire gateway listening');
  if (devTokens !== undefined) {
    const warning = devTokenWarning(config, url);
    logger.warn(warning.fields, warning.message);
  }

  async function drain(): Promise<void> {
    status = 'draining';
    admin?.stop();
    clearInterval(heartbeat);
    clearInterval(sweeper);
    expiries.stop();
    const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
    const scheduled = spreadCloses([...fanout.connections.values()], config.drainSpreadMs);
    const deadline = Date.now() + config.drainSpreadMs + config.drainTimeoutMs;
    while (fanout.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    for (const timer of scheduled) clearTimeout(timer);
    for (const connection of fanout.connections.values()) connection.socket.terminate();
    server.closeAllConnections();
    await closedServer;
    while (disconnecting.size > 0) await Promise.all([...disconnecting]);
    await cluster?.stop();
    await tracing?.shutdown();
    await records?.close();
    logger.info({ node: nodeId }, 'drained');
  }

  let drained: Promise<void> | undefined;
  return {
    url,
    port,
    engine,
    metrics,
    get connectionCount() {
      return fanout.connections.size;
    },
    drain: () => (drained ??= drain()),
  };
}
