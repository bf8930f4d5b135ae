import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '@classwire/core';
import { DEFAULT_LIMITS, EVENT_PATTERN, ProtocolError, ROOM_PATTERN } from '@classwire/protocol';
import { z } from 'zod';
import type { AdminApi } from './admin.js';
import { authenticateApiRequest } from './api-auth.js';
import type { Cluster } from './cluster.js';
import type { GatewayConfig } from './config.js';
import { serveDevToken, type DevTokenIssuer } from './dev-tokens.js';
import { BodyTooLargeError, readBody, sendError, sendJson, sendMethodNotAllowed, pathOf } from './http-util.js';
import type { LocalFanOut } from './local-fanout.js';
import { handleConnectionRequest, localTarget, matchConnectionsPath, readManagementBody, remoteTarget } from './management.js';
import type { GatewayMetrics } from './metrics.js';
import { serveStatic } from './static-files.js';

export type NodeStatus = 'starting' | 'ready' | 'draining';

export interface RouteDeps {
  config: Pick<GatewayConfig, 'api' | 'limits'>;
  nodeId: string;
  engine: Engine;
  fanout: LocalFanOut;
  cluster: Cluster | undefined;
  metrics: GatewayMetrics;
  devTokens: DevTokenIssuer | undefined;
  /** The ops console's API; undefined when no admin key is configured. */
  admin?: AdminApi | undefined;
  /** The class records API (docs/records.md): answers its own paths, false for others. */
  records: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
  webRoot: string;
  status(): NodeStatus;
}

const serverPublish = z.object({
  event: z.string().min(1).max(DEFAULT_LIMITS.maxEventLength).regex(EVENT_PATTERN, 'invalid event name'),
  data: z.unknown().optional(),
  id: z.string().min(1).max(DEFAULT_LIMITS.maxIdLength).optional(),
});

/**
 * The gateway's HTTP routes: `/healthz`, `/readyz`, `/metrics`, `/dev/token` (when enabled),
 * `@connections/{id}`, `/rooms/{room}/messages`, and the web app for every other GET.
 */
export function createRoutes(deps: RouteDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { metrics } = deps;
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', node: deps.nodeId });
    if (path === '/readyz') return readiness(deps, res);
    if (path === '/metrics') {
      if (method !== 'GET') return sendMethodNotAllowed(req, res, ['GET']);
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/dev/token' && deps.devTokens !== undefined) return serveDevToken(req, res, deps.devTokens);
    if (path.startsWith('/admin/api/')) return deps.admin === undefined ? sendError(res, 'not_found', 'the ops console is off') : deps.admin.handle(req, res, path);
    const connectionId = matchConnectionsPath(pathOf(req));
    if (connectionId !== undefined) return connectionsApi(deps, req, res, connectionId);
    if (deps.records !== undefined && (await deps.records(req, res))) return;
    const roomMatch = /^\/rooms\/([^/]+)\/messages$/.exec(path);
    if (roomMatch !== null) return roomPublish(deps, req, res, roomMatch[1]!);
    if ((method === 'GET' || method === 'HEAD') && (await serveStatic(req, res, deps.webRoot, path))) return;
    sendError(res, 'not_found', 'not found');
  };
}

function readiness(deps: RouteDeps, res: ServerResponse): void {
  const status = deps.status();
  if (status === 'draining') return sendJson(res, 503, { status: 'draining' });
  if (deps.cluster !== undefined && !deps.cluster.isReady()) return sendJson(res, 503, { status: 'redis unavailable' });
  return status === 'ready' ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'starting' });
}

/** `@connections/{id}`: API Gateway's management API, for a connection on this node or another. */
async function connectionsApi(deps: RouteDeps, req: IncomingMessage, res: ServerResponse, connectionId: string): Promise<void> {
  const body = await readManagementBody(req, res);
  if (body === undefined) return;
  const auth = await authenticateApiRequest(req, body, deps.config.api);
  if (!auth.ok) {
    deps.metrics.managementRequests.inc({ operation: 'connections', status: String(auth.status) });
    res.setHeader('x-amzn-ErrorType', auth.status === 401 ? 'UnauthorizedException' : 'ForbiddenException');
    // API Gateway answers 403 to a missing signature as well as to a bad one.
    return sendJson(res, 403, { message: auth.message });
  }
  const local = deps.fanout.connections.get(connectionId);
  const target = deps.cluster !== undefined && local === undefined ? remoteTarget(deps.cluster.fanout, connectionId) : localTarget(local);
  const outcome = await handleConnectionRequest(req, res, connectionId, body, target);
  deps.metrics.managementRequests.inc({ operation: `connections_${(req.method ?? 'GET').toLowerCase()}`, status: outcome });
}

/** `POST /rooms/{room}/messages`: a publish by the application's backend (`Engine.publishAsServer`). */
async function roomPublish(deps: RouteDeps, req: IncomingMessage, res: ServerResponse, encodedRoom: string): Promise<void> {
  if (req.method !== 'POST') return sendMethodNotAllowed(req, res, ['POST']);
  let body: Buffer;
  try {
    body = await readBody(req, deps.config.limits.maxFrameBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return sendError(res, 'payload_too_large', error.message);
    throw error;
  }
  const auth = await authenticateApiRequest(req, body, deps.config.api);
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
    const result = await deps.engine.publishAsServer(room, parsed.data);
    deps.metrics.managementRequests.inc({ operation: 'room_publish', status: '200' });
    sendJson(res, result.duplicate ? 200 : 201, { room, seq: result.seq, duplicate: result.duplicate, ...(parsed.data.id === undefined ? {} : { id: parsed.data.id }) });
  } catch (error) {
    if (error instanceof ProtocolError) {
      return sendError(res, error.code, error.message);
    }
    throw error;
  }
}
