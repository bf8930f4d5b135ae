import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkConnect, type Claims, type ConnectChecks } from '@classwire/core';
import { ERROR_CODES, type ErrorCode } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { pathOf, rejectUpgrade } from './http-util.js';
import type { GatewayMetrics } from './metrics.js';

export interface UpgradeDeps {
  wsPath: string;
  checks: ConnectChecks;
  wss: WebSocketServer;
  metrics: GatewayMetrics;
  logger: Logger;
  isDraining(): boolean;
  /** Takes over an upgraded socket whose request passed every check. */
  accept(ws: WebSocket, req: IncomingMessage, claims: Claims, room: string | undefined): void;
}

/**
 * Authentication before the upgrade: the path, then core's `checkConnect` (origin, token, room,
 * per-user limit). A refused request gets an HTTP status and no socket ever exists for it.
 */
export function handleUpgrades(server: Server, deps: UpgradeDeps): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => deps.logger.debug({ err: error }, 'upgrade socket error'));
    upgrade(deps, req, socket, head).catch((error: unknown) => {
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
  const decision = await checkConnect(
    { identity: { token: url.searchParams.get('token') ?? bearerToken(req) }, origin: req.headers.origin, room: url.searchParams.get('room') ?? undefined },
    deps.checks,
  );
  if (!decision.allowed) return refuse(decision.code, decision.reason, decision.message);
  if (socket.destroyed) return;
  deps.wss.handleUpgrade(req, socket, head, (ws) => deps.accept(ws, req, decision.claims, decision.room));
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') === true ? header.slice(7) : undefined;
}
