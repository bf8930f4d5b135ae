import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkConnect, StoreUnavailableError, type Claims, type ConnectChecks, type ConnectionRegistry } from '@classwire/core';
import { ERROR_CODES, type ErrorCode } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { newConnectionId } from './connection.js';
import { pathOf, rejectUpgrade } from './http-util.js';
import type { GatewayMetrics } from './metrics.js';

export interface UpgradeDeps {
  wsPath: string;
  checks: ConnectChecks & { registry: Pick<ConnectionRegistry, 'reserveSlot' | 'releaseSlot'> };
  wss: WebSocketServer;
  metrics: GatewayMetrics;
  logger: Logger;
  isDraining(): boolean;
  /** Takes over an upgraded socket whose request passed every check (its slot is reserved under `connectionId`). */
  accept(ws: WebSocket, req: IncomingMessage, connectionId: string, claims: Claims, room: string | undefined): void;
}

/**
 * Authentication before the upgrade: the path, then core's `checkConnect` (origin, token, room,
 * per-user limit). A refused request gets an HTTP status and no socket ever exists for it.
 */
export function handleUpgrades(server: Server, deps: UpgradeDeps): void {
  // One listener for every socket, made here rather than in the upgrade callback: it stays attached for
  // the connection's life, and a closure made there would share the callback's scope and so keep each
  // connection's request (headers included) alive, ~1.5 KB per connection.
  const onSocketError = (error: Error) => deps.logger.debug({ err: error }, 'upgrade socket error');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', onSocketError);
    upgrade(deps, req, socket, head).catch((error: unknown) => {
      // Redis unreachable (an outage, a failover) is expected and passes: 503 with Retry-After, so clients
      // and load balancers retry. Anything else is a bug in this process.
      if (error instanceof StoreUnavailableError) {
        deps.metrics.authRejects.inc({ reason: 'unavailable' });
        deps.logger.warn({ err: error, path: pathOf(req) }, 'upgrade refused: store unavailable');
        rejectUpgrade(socket, 'unavailable', 'the store is unavailable; retry later');
        return;
      }
      deps.logger.error({ err: error, path: pathOf(req) }, 'upgrade failed');
      rejectUpgrade(socket, 'internal', 'internal error');
    });
  });
}

async function upgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const refuse = (code: ErrorCode, reason: string, message: string) => {
    deps.metrics.authRejects.inc({ reason });
    deps.logger.info({ path: url.pathname, status: ERROR_CODES[code].httpStatus, reason }, 'upgrade refused');
    rejectUpgrade(socket, code, message);
  };
  if (url.pathname !== deps.wsPath) return refuse('not_found', 'path', 'no WebSocket endpoint at this path');
  if (deps.isDraining()) return refuse('unavailable', 'draining', 'server is shutting down; reconnect elsewhere');
  const connectionId = newConnectionId();
  const decision = await checkConnect(
    {
      connectionId,
      identity: { token: url.searchParams.get('token') ?? bearerToken(req) },
      origin: req.headers.origin,
      room: url.searchParams.get('room') ?? undefined,
    },
    deps.checks,
  );
  if (!decision.allowed) return refuse(decision.code, decision.reason, decision.message);
  let accepted = false;
  if (!socket.destroyed) {
    deps.wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      deps.accept(ws, req, connectionId, decision.claims, decision.room);
    });
  }
  // `ws` answers a malformed handshake itself and never calls back (it completes a valid one at once):
  // the slot reserved for this connection is then freed.
  // Best effort: ws has answered already, and an unfreed reservation lapses by itself (SLOT_RESERVATION_MS).
  if (!accepted) {
    await deps.checks.registry.releaseSlot(decision.claims.userId, connectionId).catch((error: unknown) => deps.logger.warn({ err: error }, 'slot release failed'));
  }
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') === true ? header.slice(7) : undefined;
}
