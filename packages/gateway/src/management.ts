import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import { CLOSE_CODES } from '@classwire/protocol';
import type { ClusterFanOut } from './cluster-fanout.js';
import type { Connection, ConnectionInfo } from './connection.js';
import { BodyTooLargeError, readBody, sendJson } from './http-util.js';

/** API Gateway's limit for one @connections post (a message, not a frame). */
const MAX_POST_BYTES = 128 * 1024;
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

/** One connection as the management API sees it, wherever it is held. */
export interface ConnectionTarget {
  /** Delivers one text frame; 'gone' when no node holds the connection, 'limited' when its buffer is full. */
  post(data: Buffer): Promise<'posted' | 'gone' | 'limited'>;
  describe(): Promise<ConnectionInfo | undefined>;
  /** Closes it (code 1000); false when no node holds it. */
  close(): Promise<boolean>;
}

/** A connection on this node. */
export function localTarget(connection: Connection | undefined): ConnectionTarget {
  return {
    post: (data) => {
      if (connection?.info() === undefined) return Promise.resolve('gone');
      if (!connection.canBuffer(data.length)) return Promise.resolve('limited');
      connection.send(data);
      return Promise.resolve('posted');
    },
    describe: () => Promise.resolve(connection?.info()),
    close: () => {
      if (connection?.info() === undefined) return Promise.resolve(false);
      connection.close(CLOSE_CODES.normal, 'closed by the server');
      return Promise.resolve(true);
    },
  };
}

/** A connection on another node, reached through Redis. */
export function remoteTarget(cluster: ClusterFanOut, connectionId: string): ConnectionTarget {
  return {
    post: async (data) => ((await cluster.send(connectionId, data.toString('utf8'))) ? 'posted' : 'gone'),
    describe: () => cluster.describe(connectionId),
    close: async () => {
      if ((await cluster.describe(connectionId)) === undefined) return false;
      await cluster.close(connectionId, CLOSE_CODES.normal, 'closed by the server');
      return true;
    },
  };
}

/**
 * POST, GET and DELETE on `@connections/{id}`, compatible with `@aws-sdk/client-apigatewaymanagementapi`.
 * The caller has authenticated the request. Returns the outcome, for metrics.
 */
export async function handleConnectionRequest(
  req: IncomingMessage,
  res: ServerResponse,
  connectionId: string,
  body: Buffer,
  target: ConnectionTarget,
): Promise<string> {
  if (!CONNECTION_ID.test(connectionId)) {
    sendAwsError(res, 400, 'BadRequestException', 'Invalid connectionId');
    return 'bad_request';
  }
  const gone = () => {
    sendAwsError(res, 410, 'GoneException', '');
    return 'gone';
  };
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
      const outcome = await target.post(body);
      if (outcome === 'gone') return gone();
      if (outcome === 'limited') {
        sendAwsError(res, 429, 'LimitExceededException', 'The client send buffer is full');
        return 'limited';
      }
      res.writeHead(200, { 'content-length': 0 }).end();
      return 'posted';
    }
    case 'GET': {
      const info = await target.describe();
      if (info === undefined) return gone();
      sendJson(res, 200, {
        connectedAt: new Date(info.connectedAt).toISOString(),
        identity: { sourceIp: info.sourceIp, userAgent: info.userAgent },
        lastActiveAt: new Date(info.lastActiveAt).toISOString(),
      });
      return 'got';
    }
    case 'DELETE':
      if (!(await target.close())) return gone();
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
