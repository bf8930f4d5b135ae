import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { ClusterFanOut } from './cluster-fanout.js';
import type { Connection } from './connection.js';
import { BodyTooLargeError, readBody, sendJson } from './http-util.js';

/** API Gateway's limit for one @connections post (a message, not a frame). */
export const MAX_POST_BYTES = 128 * 1024;
const CONNECTION_ID = /^[A-Za-z0-9_-]{15}=$/;
/** `/@connections/{id}` and `/{stage}/@connections/{id}`, with `@` raw or as `%40`. */
const CONNECTIONS_PATH = /^(?:\/[^/@%]+)?\/(?:@|%40)connections\/([^/]+)$/;

export function matchConnectionsPath(rawPath: string): string | undefined {
  const match = CONNECTIONS_PATH.exec(rawPath);
  if (match === null) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return '';
  }
}

/** An error shaped the way API Gateway's management API answers, so AWS SDK v3 maps it to its typed class. */
export function sendAwsError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { message }, { 'x-amzn-ErrorType': type });
}

/**
 * POST, GET and DELETE on `@connections/{id}`, compatible with `@aws-sdk/client-apigatewaymanagementapi`.
 * The caller has authenticated the request.
 */
export async function handleConnectionRequest(
  req: IncomingMessage,
  res: ServerResponse,
  connectionId: string,
  body: Buffer,
  lookup: (id: string) => Connection | undefined,
): Promise<string> {
  if (!CONNECTION_ID.test(connectionId)) {
    sendAwsError(res, 400, 'BadRequestException', 'Invalid connectionId');
    return 'bad_request';
  }
  const connection = lookup(connectionId);
  if (connection === undefined || !connection.registered || !connection.isOpen) {
    sendAwsError(res, 410, 'GoneException', '');
    return 'gone';
  }
  switch (req.method) {
    case 'POST': {
      if (body.length > MAX_POST_BYTES) {
        sendAwsError(res, 413, 'PayloadTooLargeException', `Message exceeds ${MAX_POST_BYTES} bytes`);
        return 'too_large';
      }
      if (!isUtf8(body)) {
        sendAwsError(res, 400, 'BadRequestException', 'Data must be UTF-8 text');
        return 'bad_request';
      }
      if (!connection.canBuffer(body.length)) {
        sendAwsError(res, 429, 'LimitExceededException', 'The client send buffer is full');
        return 'limited';
      }
      connection.send(body);
      res.writeHead(200, { 'content-length': 0 }).end();
      return 'posted';
    }
    case 'GET':
      sendJson(res, 200, {
        connectedAt: new Date(connection.connectedAt).toISOString(),
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
      return 'got';
    case 'DELETE':
      connection.close(1000, 'closed by the server');
      res.writeHead(204).end();
      return 'deleted';
    default:
      sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
      return 'forbidden';
  }
}

export async function readManagementBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
  try {
    return await readBody(req, MAX_POST_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      sendAwsError(res, 413, 'PayloadTooLargeException', `Message exceeds ${MAX_POST_BYTES} bytes`);
      return undefined;
    }
    throw error;
  }
}

/** The same API for a connection held by another node: forwarded through Redis. */
export async function handleRemoteConnectionRequest(
  req: IncomingMessage,
  res: ServerResponse,
  connectionId: string,
  body: Buffer,
  cluster: ClusterFanOut,
): Promise<string> {
  if (!CONNECTION_ID.test(connectionId)) {
    sendAwsError(res, 400, 'BadRequestException', 'Invalid connectionId');
    return 'bad_request';
  }
  switch (req.method) {
    case 'POST': {
      if (body.length > MAX_POST_BYTES) {
        sendAwsError(res, 413, 'PayloadTooLargeException', `Message exceeds ${MAX_POST_BYTES} bytes`);
        return 'too_large';
      }
      if (!isUtf8(body)) {
        sendAwsError(res, 400, 'BadRequestException', 'Data must be UTF-8 text');
        return 'bad_request';
      }
      if (!(await cluster.send(connectionId, body.toString('utf8')))) {
        sendAwsError(res, 410, 'GoneException', '');
        return 'gone';
      }
      res.writeHead(200, { 'content-length': 0 }).end();
      return 'posted';
    }
    case 'GET': {
      const info = await cluster.describe(connectionId);
      if (info === undefined) {
        sendAwsError(res, 410, 'GoneException', '');
        return 'gone';
      }
      sendJson(res, 200, {
        connectedAt: new Date(info.connectedAt).toISOString(),
        identity: { sourceIp: info.sourceIp, userAgent: info.userAgent },
        lastActiveAt: new Date(info.lastActiveAt).toISOString(),
      });
      return 'got';
    }
    case 'DELETE': {
      if ((await cluster.describe(connectionId)) === undefined) {
        sendAwsError(res, 410, 'GoneException', '');
        return 'gone';
      }
      await cluster.close(connectionId, 1000, 'closed by the server');
      res.writeHead(204).end();
      return 'deleted';
    }
    default:
      sendAwsError(res, 403, 'ForbiddenException', 'Forbidden');
      return 'forbidden';
  }
}
