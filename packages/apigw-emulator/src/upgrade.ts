import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketResult } from '@classwire/aws';
import { newConnectionId } from '@classwire/gateway/http';
import { WebSocketServer } from 'ws';
import { acceptConnection, fireDisconnect, FRAME_BYTES } from './connection-pump.js';
import type { EmulatorContext } from './context.js';
import { authorizerEvent, connectEvent, evaluateAuthorizer, methodArnFor, type EventSource } from './events.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The emulated API's upgrade: the stage path, the connect rate, the identity source, the REQUEST
 * authorizer, then `$connect`, whose status (and chosen subprotocol) answers the upgrade.
 */
export function handleUpgrades(server: Server, ctx: EmulatorContext): void {
  const chosenProtocols = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    // API Gateway closes a connection that sends a frame over 32 KB with 1009.
    maxPayload: FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
    // Never pick a subprotocol: only the one `$connect` returned is answered.
    handleProtocols: (_offered, req) => chosenProtocols.get(req) ?? false,
  });
  const connectBucket = new TokenBucket(ctx.apigw.connectsPerSecond, ctx.apigw.connectsPerSecond);

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { apigw, metrics } = ctx;
    const connectedAt = Date.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const refuse = (status: number, message: string, reason: string) => {
      metrics.authRejects.inc({ reason });
      rejectAws(socket, status, message);
    };
    if (path !== `/${apigw.stage}`) return refuse(403, 'Forbidden', 'path');
    const functions = ctx.functions();
    // Not ready: the functions are built once the port (and so the callback URL) is known.
    if (ctx.isDraining() || functions === undefined) return refuse(503, 'Service Unavailable', ctx.isDraining() ? 'draining' : 'starting');
    if (!connectBucket.take()) return refuse(429, 'Too Many Requests', 'connect_rate');
    const source: EventSource = {
      apiId: apigw.apiId,
      stage: apigw.stage,
      domainName: req.headers.host ?? `localhost`,
      connectionId: newConnectionId(),
      connectedAt,
      sourceIp: ctx.config.trustedProxies.sourceIpOf(req),
      userAgent: req.headers['user-agent'],
      authorizer: undefined,
    };
    // The identity source (the `token` query parameter) must be present, or the authorizer is not called.
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    if (token === null || token.length === 0) return refuse(401, 'Unauthorized', 'missing');
    const methodArn = methodArnFor(apigw.region, apigw.accountId, apigw.apiId, apigw.stage);
    const authorization = await ctx.invoke('authorizer', functions.authorizer.authorizer, authorizerEvent(req, source, methodArn, Date.now()));
    const outcome = evaluateAuthorizer(authorization, methodArn);
    if (!outcome.allowed) return refuse(outcome.status, STATUS_TEXT[outcome.status], outcome.reason);
    source.authorizer = outcome.context;

    ctx.connecting.add(source.connectionId);
    let result: PromiseSettledResult<WebSocketResult>;
    try {
      result = await ctx.invoke('$connect', functions.connect.connect, connectEvent(req, source, Date.now()));
    } finally {
      ctx.connecting.delete(source.connectionId);
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
      void ctx.track(fireDisconnect(ctx, source, 1006, ''));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => acceptConnection(ctx, ws, source));
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => ctx.logger.debug({ err: error }, 'upgrade socket error'));
    ctx.track(upgrade(req, socket, head)).catch((error: unknown) => {
      ctx.logger.error({ err: error }, 'upgrade failed');
      rejectAws(socket, 500, 'Internal Server Error');
    });
  });
}

const STATUS_TEXT = { 401: 'Unauthorized', 403: 'Forbidden', 500: 'Internal Server Error' } as const;

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
