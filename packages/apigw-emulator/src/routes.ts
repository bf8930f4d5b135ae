import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  authenticateApiRequest,
  handleConnectionRequest,
  pathOf,
  readManagementBody,
  sendAwsError,
  sendJson,
  serveDevToken,
  serveStatic,
  type ApiCredentials,
  type DevTokenIssuer,
} from '@classwire/gateway/http';
import { connectionTarget } from './connection-pump.js';
import type { EmulatorContext } from './context.js';
import { TokenBucket } from './token-bucket.js';

export interface RouteOptions {
  /** What `@connections` calls authenticate with (the functions sign theirs with `awsCredentials`). */
  apiCredentials: ApiCredentials;
  devTokens: DevTokenIssuer | undefined;
  webRoot: string;
  isReady(): boolean;
}

/**
 * The emulator's HTTP routes: health, readiness, metrics, the `@connections` management API (with API
 * Gateway's callback rate limit), development tokens, the web app; API Gateway's 403 for anything else.
 */
export function createRoutes(ctx: EmulatorContext, options: RouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const callbackBucket = new TokenBucket(ctx.apigw.callbackRps, Math.max(1, Math.floor(ctx.apigw.callbackRps / 2)));

  const management = async (req: IncomingMessage, res: ServerResponse, stage: string | undefined, encodedId: string): Promise<void> => {
    res.setHeader('x-amzn-RequestId', randomUUID());
    const body = await readManagementBody(req, res);
    if (body === undefined) return;
    // Only this API's stage exists; a custom domain's base path may leave the stage out.
    if (stage !== undefined && stage !== ctx.apigw.stage) return sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
    const auth = await authenticateApiRequest(req, body, options.apiCredentials);
    if (!auth.ok) return sendAwsError(res, 403, 'ForbiddenException', auth.message);
    if (!callbackBucket.take()) return sendAwsError(res, 429, 'LimitExceededException', 'Rate exceeded');
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(encodedId);
    } catch {
      return sendAwsError(res, 400, 'BadRequestException', 'Invalid connectionId');
    }
    // A connection whose `$connect` is still running does not exist yet for @connections: 410.
    const entry = ctx.connecting.has(connectionId) ? undefined : ctx.live.get(connectionId);
    const outcome = await handleConnectionRequest(req, res, connectionId, body, connectionTarget(ctx, entry));
    if (outcome === 'gone') ctx.metrics.gonePosts.inc();
    ctx.metrics.managementRequests.inc({ operation: `connections_${(req.method ?? 'GET').toLowerCase()}`, status: outcome });
  };

  return async (req, res) => {
    const rawPath = pathOf(req);
    const method = req.method ?? 'GET';
    if (rawPath === '/healthz') return sendJson(res, 200, { status: 'ok', mode: 'apigw-emulator' });
    if (rawPath === '/readyz') {
      const ready = options.isReady() && !ctx.isDraining();
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    }
    if (rawPath === '/metrics' && method === 'GET') {
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(await ctx.metrics.registry.metrics());
      return;
    }
    const managementPath = /^(?:\/([^/@%]+))?\/(?:@|%40)connections\/([^/]+)$/.exec(rawPath);
    if (managementPath !== null) return management(req, res, managementPath[1], managementPath[2]!);
    if (rawPath === '/dev/token' && options.devTokens !== undefined) return serveDevToken(req, res, options.devTokens);
    if ((method === 'GET' || method === 'HEAD') && (await serveStatic(req, res, options.webRoot, rawPath))) return;
    sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
  };
}
