import { randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createHandlers,
  createLambdaEngine,
  loadLambdaConfig,
  type ClasswireHandlers,
  type LambdaEngine,
  type WebSocketEvent,
  type WebSocketResult,
} from '@classwire/aws';
import { CLOSE_CODES } from '@classwire/protocol';
import { Counter, Histogram } from 'prom-client';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  authorizerEvent,
  connectEvent,
  disconnectEvent,
  evaluateAuthorizer,
  lambdaContext,
  messageEvent,
  methodArnFor,
  selectRoute,
  type EventSource,
} from './apigw-events.js';
import type { ApiGatewayEmulatorConfig } from './apigw-config.js';
import { authenticateApiRequest, type ApiCredentials } from './api-auth.js';
import type { GatewayConfig } from './config.js';
import { Connection, newConnectionId } from './connection.js';
import { DevTokenIssuer, randomSecret } from './dev-tokens.js';
import type { Gateway, GatewayOptions } from './gateway.js';
import { BodyTooLargeError, readBody, sendError, sendJson, sendMethodNotAllowed } from './http-util.js';
import { handleConnectionRequest, readManagementBody, sendAwsError, type ConnectionTarget } from './management.js';
import { GatewayMetrics } from './metrics.js';
import { serveStatic } from './static-files.js';

/** API Gateway's inbound and outbound frame limit; larger posts go out as fragments of this size. */
const FRAME_BYTES = 32 * 1024;
const BILLING_UNIT_BYTES = 32 * 1024;
const ROUTE_SELECTION_EXPRESSION = '$request.body.action';
const BUNDLED_WEB_ROOT = fileURLToPath(new URL('../public/', import.meta.url));
const DEV_TOKEN_BODY_LIMIT = 4096;

type Invocable<E, R> = (event: E) => Promise<R>;

/** The functions behind the emulated API: one set of handlers (one execution environment) each. */
interface Functions {
  authorizer: ClasswireHandlers;
  connect: ClasswireHandlers;
  disconnect: ClasswireHandlers;
  message: ClasswireHandlers;
}

interface EmulatedConnection {
  source: EventSource;
  connection: Connection;
  socket: WebSocket;
  idleTimer: NodeJS.Timeout;
  maxTimer: NodeJS.Timeout;
}

/**
 * API Gateway emulation mode: a WebSocket API in front of Classwire's Lambda handlers
 * (`@classwire/aws`), run in this process with the events API Gateway sends, and its `@connections`
 * management API on the same port, which the handlers reach through the real AWS SDK client
 * (`WS_CALLBACK_URL` points here). docs/aws.md lists what is emulated and what is not.
 */
export async function startApiGatewayEmulator(config: GatewayConfig, apigw: ApiGatewayEmulatorConfig, options: GatewayOptions & { logger: Logger }): Promise<Gateway> {
  const { logger } = options;
  const devSecret = config.devTokens && config.auth.secret === undefined ? randomSecret() : undefined;
  const devTokens = config.devTokens
    ? new DevTokenIssuer((config.auth.secret ?? devSecret)!, { issuer: config.auth.issuer, audience: config.auth.audience })
    : undefined;
  // The functions sign @connections calls with these; without configured ones, a pair of this run's own.
  const awsCredentials = config.api.awsCredentials ?? { accessKeyId: `AKIDEMU${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64url') };
  const apiCredentials: ApiCredentials = { key: config.api.key, awsCredentials };

  const live = new Map<string, EmulatedConnection>();
  const connecting = new Set<string>();
  const metrics = new GatewayMetrics({ connections: () => live.size, rooms: () => 0 });
  const registers = [metrics.registry];
  const invocations = new Counter({ name: 'classwire_apigw_invocations_total', help: 'Emulated Lambda invocations by route and outcome.', labelNames: ['route', 'outcome'], registers });
  const invocationSeconds = new Histogram({ name: 'classwire_apigw_invocation_seconds', help: 'Emulated Lambda invocation time by route.', labelNames: ['route'], registers });
  const billedMessages = new Counter({ name: 'classwire_apigw_billed_messages_total', help: 'Messages API Gateway would bill, in 32 KB units, by direction.', labelNames: ['direction'], registers });
  const gonePosts = new Counter({ name: 'classwire_apigw_gone_total', help: '@connections calls answered 410.', registers });
  const connectionMs = new Counter({ name: 'classwire_apigw_connection_milliseconds_total', help: 'Connection time of closed connections (API Gateway bills connection minutes).', registers });

  let callbackUrl = '';
  const functionEnvironment = (name: string): Record<string, string> => ({
    ...apigw.functionEnvironment,
    ...(devSecret === undefined ? {} : { CLASSWIRE_JWT_SECRET: devSecret }),
    WS_CALLBACK_URL: callbackUrl,
    AWS_REGION: apigw.region,
    AWS_ACCESS_KEY_ID: awsCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: awsCredentials.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: name,
  });
  // Built after listening: the callback URL carries the port.
  let functions: Functions | undefined;
  let backend: LambdaEngine | undefined;
  const fns = () => functions!;

  const wss = new WebSocketServer({
    noServer: true,
    // API Gateway closes a connection that sends a frame over 32 KB with 1009.
    maxPayload: FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
    // Never pick a subprotocol: only the one `$connect` returned is answered.
    handleProtocols: (_offered, req) => chosenProtocols.get(req) ?? false,
  });
  const chosenProtocols = new WeakMap<IncomingMessage, string>();
  const connectBucket = new TokenBucket(apigw.connectsPerSecond, apigw.connectsPerSecond);
  const callbackBucket = new TokenBucket(apigw.callbackRps, Math.max(1, Math.floor(apigw.callbackRps / 2)));
  let draining = false;
  let ready = false;
  const pending = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise)).catch(() => undefined);
    return promise;
  };

  async function invoke<E, R>(route: string, fn: Invocable<E, R>, event: E): Promise<PromiseSettledResult<R>> {
    const started = Date.now();
    const context = lambdaContext(`classwire-${route.replace('$', '')}`, apigw.integrationTimeoutMs, started);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`integration timed out after ${apigw.integrationTimeoutMs} ms`)), apigw.integrationTimeoutMs);
      });
      const value = await Promise.race([fn(event), timeout]);
      invocations.inc({ route, outcome: 'ok' });
      return { status: 'fulfilled', value };
    } catch (error) {
      invocations.inc({ route, outcome: 'error' });
      logger.warn({ err: error, route, requestId: context.awsRequestId }, 'integration failed');
      return { status: 'rejected', reason: error };
    } finally {
      clearTimeout(timer);
      invocationSeconds.observe({ route }, (Date.now() - started) / 1000);
    }
  }

  const handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const connectedAt = Date.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const refuse = (status: number, message: string, reason: string) => {
      metrics.authRejects.inc({ reason });
      rejectAws(socket, status, message);
    };
    if (path !== `/${apigw.stage}`) return refuse(403, 'Forbidden', 'path');
    // Not ready: the functions are built once the port (and so the callback URL) is known.
    if (draining || functions === undefined) return refuse(503, 'Service Unavailable', draining ? 'draining' : 'starting');
    if (!connectBucket.take()) return refuse(429, 'Too Many Requests', 'connect_rate');
    const forwarded = req.headers['x-forwarded-for'];
    const source: EventSource = {
      apiId: apigw.apiId,
      stage: apigw.stage,
      domainName: req.headers.host ?? `localhost`,
      connectionId: newConnectionId(),
      connectedAt,
      sourceIp: (typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim() : undefined) ?? req.socket.remoteAddress ?? '',
      userAgent: req.headers['user-agent'],
      authorizer: undefined,
    };
    // The identity source (the `token` query parameter) must be present, or the authorizer is not called.
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    if (token === null || token.length === 0) return refuse(401, 'Unauthorized', 'missing');
    const methodArn = methodArnFor(apigw.region, apigw.accountId, apigw.apiId, apigw.stage);
    const authorization = await invoke('authorizer', fns().authorizer.authorizer, authorizerEvent(req, source, methodArn, Date.now()));
    const outcome = evaluateAuthorizer(authorization, methodArn);
    if (!outcome.allowed) return refuse(outcome.status, outcome.status === 401 ? 'Unauthorized' : outcome.status === 403 ? 'Forbidden' : 'Internal Server Error', outcome.reason);
    source.authorizer = outcome.context;

    connecting.add(source.connectionId);
    let result: PromiseSettledResult<WebSocketResult>;
    try {
      result = await invoke('$connect', fns().connect.connect, connectEvent(req, source, Date.now()));
    } finally {
      connecting.delete(source.connectionId);
    }
    if (result.status === 'rejected') return refuse(500, 'Internal Server Error', 'connect_error');
    const status = result.value.statusCode;
    if (status < 200 || status > 299) {
      metrics.authRejects.inc({ reason: `connect_${status}` });
      return rejectRaw(socket, status, result.value.body ?? '');
    }
    const protocol = headerOf(result.value.headers, 'sec-websocket-protocol');
    if (protocol !== undefined) chosenProtocols.set(req, protocol);
    if (socket.destroyed) {
      // The client left while `$connect` ran: it was registered, so it is disconnected.
      void track(fireDisconnect(source, 1006, ''));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, source));
  };

  function accept(ws: WebSocket, source: EventSource): void {
    const connection = new Connection(
      source.connectionId,
      ws,
      String(source.authorizer?.principalId ?? ''),
      Number.POSITIVE_INFINITY,
      source.sourceIp,
      source.userAgent ?? '',
      config.limits.maxBufferedBytes,
      { slowConsumer: () => metrics.slowConsumers.inc(), framesOut: (n) => metrics.framesOut.inc(n) },
    );
    connection.registered = true;
    const close = (code: number, reason: string) => connection.close(code, reason);
    const entry: EmulatedConnection = {
      source,
      connection,
      socket: ws,
      idleTimer: setTimeout(() => close(CLOSE_CODES.apiGatewayGoingAway, 'Going away'), apigw.idleTimeoutMs),
      maxTimer: setTimeout(() => close(CLOSE_CODES.apiGatewayGoingAway, 'Going away'), apigw.maxConnectionMs),
    };
    entry.idleTimer.unref();
    entry.maxTimer.unref();
    live.set(source.connectionId, entry);

    ws.on('message', (data: RawData, isBinary: boolean) => {
      metrics.framesIn.inc();
      if (isBinary) {
        connection.close(CLOSE_CODES.unsupportedData, 'Binary frames are not supported');
        return;
      }
      connection.lastActiveAt = Date.now();
      entry.idleTimer.refresh();
      const body = data.toString();
      billedMessages.inc({ direction: 'in' }, Math.max(1, Math.ceil(Buffer.byteLength(body) / BILLING_UNIT_BYTES)));
      // Every message is its own invocation, run concurrently with the others, as on API Gateway.
      void track(dispatch(entry, body));
    });
    ws.on('error', (error) => logger.debug({ err: error, connectionId: source.connectionId }, 'socket error'));
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(entry.idleTimer);
      clearTimeout(entry.maxTimer);
      live.delete(source.connectionId);
      metrics.closes.inc({ code: String(code) });
      connectionMs.inc(Date.now() - source.connectedAt);
      void track(fireDisconnect(source, code, reason.toString()));
    });
  }

  async function dispatch(entry: EmulatedConnection, body: string): Promise<void> {
    if (apigw.invokeJitterMs > 0) await new Promise((r) => setTimeout(r, Math.random() * apigw.invokeJitterMs));
    const routeKey = selectRoute(ROUTE_SELECTION_EXPRESSION, body, ROUTES);
    const event: WebSocketEvent = messageEvent(entry.source, routeKey, body, Date.now());
    const result = await invoke(routeKey, fns().message.message, event);
    if (result.status === 'rejected' && entry.connection.isOpen) {
      entry.connection.send(JSON.stringify({ message: 'Internal server error', connectionId: entry.source.connectionId, requestId: event.requestContext.requestId }));
    }
  }

  async function fireDisconnect(source: EventSource, code: number, reason: string): Promise<void> {
    // API Gateway delivers `$disconnect` on a best-effort basis; the drop rate lets tests rely on that.
    if (apigw.disconnectDropRate > 0 && Math.random() < apigw.disconnectDropRate) {
      invocations.inc({ route: '$disconnect', outcome: 'dropped' });
      return;
    }
    await invoke('$disconnect', fns().disconnect.disconnect, disconnectEvent(source, code, reason, Date.now()));
  }

  function target(entry: EmulatedConnection | undefined): ConnectionTarget {
    return {
      post: (data) => {
        if (entry === undefined || !entry.connection.isOpen) return Promise.resolve('gone');
        if (!entry.connection.canBuffer(data.length)) return Promise.resolve('limited');
        sendFragmented(entry.socket, data);
        metrics.framesOut.inc();
        entry.idleTimer.refresh();
        billedMessages.inc({ direction: 'out' }, Math.max(1, Math.ceil(data.length / BILLING_UNIT_BYTES)));
        return Promise.resolve('posted');
      },
      describe: () => Promise.resolve(entry?.connection.info()),
      close: () => {
        if (entry === undefined || !entry.connection.isOpen) return Promise.resolve(false);
        entry.connection.close(CLOSE_CODES.normal, 'Connection deleted');
        return Promise.resolve(true);
      },
    };
  }

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    if (rawPath === '/healthz') return sendJson(res, 200, { status: 'ok', mode: 'apigw-emulator' });
    if (rawPath === '/readyz') return sendJson(res, ready && !draining ? 200 : 503, { status: ready && !draining ? 'ready' : 'not ready' });
    if (rawPath === '/metrics' && method === 'GET') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return;
    }
    const management = /^(?:\/([^/@%]+))?\/(?:@|%40)connections\/([^/]+)$/.exec(rawPath);
    if (management !== null) return handleManagement(req, res, management[1], management[2]!);
    if (rawPath === '/dev/token' && devTokens !== undefined) {
      if (method !== 'POST') return sendMethodNotAllowed(res, 'POST');
      let input: unknown;
      try {
        input = JSON.parse((await readBody(req, DEV_TOKEN_BODY_LIMIT)).toString('utf8'));
      } catch (error) {
        return error instanceof BodyTooLargeError ? sendError(res, 'payload_too_large', error.message) : sendError(res, 'bad_request', 'body is not valid JSON');
      }
      const issued = await devTokens.issue(input as never);
      return 'error' in issued ? sendError(res, 'bad_request', issued.error) : sendJson(res, 200, issued);
    }
    if ((method === 'GET' || method === 'HEAD') && (await serveStatic(req, res, config.staticDir ?? BUNDLED_WEB_ROOT, rawPath))) return;
    sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
  }

  async function handleManagement(req: IncomingMessage, res: ServerResponse, stage: string | undefined, encodedId: string): Promise<void> {
    res.setHeader('x-amzn-RequestId', randomUUID());
    const body = await readManagementBody(req, res);
    if (body === undefined) return;
    // Only this API's stage exists; a custom domain's base path may leave the stage out.
    if (stage !== undefined && stage !== apigw.stage) return sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
    const auth = await authenticateApiRequest(req, body, apiCredentials);
    if (!auth.ok) return sendAwsError(res, 403, 'ForbiddenException', auth.message);
    if (!callbackBucket.take()) return sendAwsError(res, 429, 'LimitExceededException', 'Rate exceeded');
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(encodedId);
    } catch {
      return sendAwsError(res, 400, 'BadRequestException', 'Invalid connectionId');
    }
    // A connection whose `$connect` is still running does not exist yet for @connections: 410.
    const entry = connecting.has(connectionId) ? undefined : live.get(connectionId);
    const outcome = await handleConnectionRequest(req, res, connectionId, body, target(entry));
    if (outcome === 'gone') gonePosts.inc();
    metrics.managementRequests.inc({ operation: `connections_${(req.method ?? 'GET').toLowerCase()}`, status: outcome });
  }

  const server: Server = createServer((req, res) => {
    handleRequest(req, res).catch((error: unknown) => {
      logger.error({ err: error, method: req.method }, 'request failed');
      if (!res.headersSent) sendAwsError(res, 500, 'InternalServerErrorException', 'Internal server error');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => logger.debug({ err: error }, 'upgrade socket error'));
    track(handleUpgrade(req, socket, head)).catch((error: unknown) => {
      logger.error({ err: error }, 'upgrade failed');
      rejectAws(socket, 500, 'Internal Server Error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const displayHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${address.port}`;
  callbackUrl = `${url}/${apigw.stage}`;
  try {
    const createFunction: typeof createHandlers =
      apigw.handlerModule === undefined
        ? createHandlers
        : ((await import(pathToFileURL(resolve(apigw.handlerModule)).href)) as { createHandlers: typeof createHandlers }).createHandlers;
    // One set of handlers per function: like separate Lambda functions, they share nothing but Redis.
    functions = {
      authorizer: createFunction(functionEnvironment('classwire-authorizer'), { logger: logger.child({ function: 'authorizer' }) }),
      connect: createFunction(functionEnvironment('classwire-connect'), { logger: logger.child({ function: 'connect' }) }),
      disconnect: createFunction(functionEnvironment('classwire-disconnect'), { logger: logger.child({ function: 'disconnect' }) }),
      message: createFunction(functionEnvironment('classwire-default'), { logger: logger.child({ function: 'default' }) }),
    };
    // An application backend's engine (server-side publishes), built like the handlers' own.
    backend = createLambdaEngine(loadLambdaConfig(functionEnvironment('classwire-backend')), { logger: logger.child({ function: 'backend' }) });
  } catch (error) {
    server.close();
    throw error;
  }
  ready = true;
  logger.info({ url, ws: `${url.replace('http', 'ws')}/${apigw.stage}`, apiId: apigw.apiId, callbackUrl, handlers: apigw.handlerModule ?? '@classwire/aws' }, 'classwire API Gateway emulator listening');
  if (devTokens !== undefined) logger.warn({ endpoint: `${url}/dev/token` }, 'DEVELOPMENT TOKENS ARE ON. Never enable this in production.');

  let drained: Promise<void> | undefined;
  async function drain(): Promise<void> {
    draining = true;
    ready = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const entry of live.values()) entry.connection.close(CLOSE_CODES.apiGatewayGoingAway, 'Going away');
    const deadline = Date.now() + config.drainTimeoutMs;
    while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const entry of live.values()) entry.socket.terminate();
    server.closeAllConnections();
    await closed;
    while (pending.size > 0) await Promise.allSettled([...pending]);
    const all = functions === undefined ? [] : Object.values(functions);
    await Promise.all([...all.map((f) => f.close()), backend?.close()]);
    logger.info('emulator drained');
  }

  return {
    url,
    port: address.port,
    engine: backend.engine,
    metrics,
    get connectionCount() {
      return live.size;
    },
    drain: () => (drained ??= drain()),
  };
}

/** Only `$default` has an integration: every protocol action goes to the same handler. */
const ROUTES: ReadonlySet<string> = new Set(['$default']);

/** Writes one text message, split into continuation frames of at most 32 KB as API Gateway does. */
function sendFragmented(socket: WebSocket, data: Buffer): void {
  if (data.length <= FRAME_BYTES) {
    socket.send(data, { binary: false });
    return;
  }
  for (let offset = 0; offset < data.length; offset += FRAME_BYTES) {
    socket.send(data.subarray(offset, offset + FRAME_BYTES), { binary: false, fin: offset + FRAME_BYTES >= data.length });
  }
}

/** API Gateway answers an upgrade it refuses itself with `{"message": ...}`. */
function rejectAws(socket: Duplex, status: number, message: string): void {
  rejectRaw(socket, status, JSON.stringify({ message }));
}

/** Answers an upgrade with a status and body and no WebSocket (a `$connect` refusal passes its body on). */
function rejectRaw(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** A token bucket refilled continuously: `ratePerSecond`, holding at most `burst`. */
class TokenBucket {
  private tokens: number;
  private updated = Date.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.ratePerSecond);
    this.updated = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
