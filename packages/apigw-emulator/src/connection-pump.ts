import { Connection } from '@classwire/gateway/http';
import type { ConnectionTarget } from '@classwire/gateway/http';
import { CLOSE_CODES } from '@classwire/protocol';
import type { RawData, WebSocket } from 'ws';
import type { EmulatedConnection, EmulatorContext } from './context.js';
import { disconnectEvent, messageEvent, selectRoute, type EventSource } from './events.js';

/** API Gateway's inbound and outbound frame limit; larger posts go out as fragments of this size. */
export const FRAME_BYTES = 32 * 1024;
const ROUTE_SELECTION_EXPRESSION = '$request.body.action';
/** Only `$default` has an integration: every protocol action goes to the same handler. */
const ROUTES: ReadonlySet<string> = new Set(['$default']);

/**
 * The connection pump of the emulated API: every inbound message is its own `$default` invocation, run
 * concurrently with the others as on API Gateway; idle and maximum-age timers close the socket; a close
 * fires `$disconnect`.
 */
export function acceptConnection(ctx: EmulatorContext, ws: WebSocket, source: EventSource): void {
  const { apigw, metrics } = ctx;
  const connection = new Connection(
    source.connectionId,
    ws,
    String(source.authorizer?.principalId ?? ''),
    Number.POSITIVE_INFINITY,
    source.sourceIp,
    source.userAgent ?? '',
    ctx.config.limits.maxBufferedBytes,
    { slowConsumer: () => metrics.slowConsumers.inc(), framesOut: (n) => metrics.framesOut.inc(n) },
  );
  connection.registered = true;
  const close = () => connection.close(CLOSE_CODES.apiGatewayGoingAway, 'Going away');
  const entry: EmulatedConnection = {
    source,
    connection,
    socket: ws,
    idleTimer: setTimeout(close, apigw.idleTimeoutMs),
    maxTimer: setTimeout(close, apigw.maxConnectionMs),
  };
  entry.idleTimer.unref();
  entry.maxTimer.unref();
  ctx.live.set(source.connectionId, entry);

  ws.on('message', (data: RawData, isBinary: boolean) => {
    metrics.framesIn.inc();
    if (isBinary) {
      connection.close(CLOSE_CODES.unsupportedData, 'Binary frames are not supported');
      return;
    }
    connection.lastActiveAt = Date.now();
    entry.idleTimer.refresh();
    const body = data.toString();
    metrics.billMessage('in', Buffer.byteLength(body), body);
    void ctx.track(dispatch(ctx, entry, body));
  });
  ws.on('error', (error) => ctx.logger.debug({ err: error, connectionId: source.connectionId }, 'socket error'));
  ws.on('close', (code: number, reason: Buffer) => {
    clearTimeout(entry.idleTimer);
    clearTimeout(entry.maxTimer);
    ctx.live.delete(source.connectionId);
    metrics.closes.inc({ code: String(code) });
    metrics.connectionClosed(source.connectedAt, Date.now());
    void ctx.track(fireDisconnect(ctx, source, code, reason.toString()));
  });
}

async function dispatch(ctx: EmulatorContext, entry: EmulatedConnection, body: string): Promise<void> {
  if (ctx.apigw.invokeJitterMs > 0) await new Promise((r) => setTimeout(r, Math.random() * ctx.apigw.invokeJitterMs));
  const routeKey = selectRoute(ROUTE_SELECTION_EXPRESSION, body, ROUTES);
  const event = messageEvent(entry.source, routeKey, body, Date.now());
  const result = await ctx.invoke(routeKey, ctx.functions()!.message.message, event);
  if (result.status === 'rejected' && entry.connection.isOpen) {
    entry.connection.send(JSON.stringify({ message: 'Internal server error', connectionId: entry.source.connectionId, requestId: event.requestContext.requestId }));
  }
}

export async function fireDisconnect(ctx: EmulatorContext, source: EventSource, code: number, reason: string): Promise<void> {
  // API Gateway delivers `$disconnect` on a best-effort basis; the drop rate lets tests rely on that.
  if (ctx.apigw.disconnectDropRate > 0 && Math.random() < ctx.apigw.disconnectDropRate) {
    ctx.metrics.invocations.inc({ route: '$disconnect', outcome: 'dropped' });
    return;
  }
  await ctx.invoke('$disconnect', ctx.functions()!.disconnect.disconnect, disconnectEvent(source, code, reason, Date.now()));
}

/** A connection as `@connections` reaches it: posts split into 32 KB fragments and billed. */
export function connectionTarget(ctx: EmulatorContext, entry: EmulatedConnection | undefined): ConnectionTarget {
  return {
    post: (data) => {
      if (entry === undefined || !entry.connection.isOpen) return Promise.resolve('gone');
      if (!entry.connection.canBuffer(data.length)) return Promise.resolve('limited');
      sendFragmented(entry.socket, data);
      ctx.metrics.framesOut.inc();
      entry.idleTimer.refresh();
      ctx.metrics.billMessage('out', data.length, data.toString());
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
