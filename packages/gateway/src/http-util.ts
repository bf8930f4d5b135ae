import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { methodNotAllowed, retryAfterHeaders } from '@classwire/core';
import { ERROR_CODES, type ErrorCode } from '@classwire/protocol';

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/** Reads a request body, failing once it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(`body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(`body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** An error answer `{code, message}` with the code's status from the error catalogue. */
export function sendError(res: ServerResponse, code: ErrorCode, message: string): void {
  sendJson(res, ERROR_CODES[code].httpStatus, { code, message }, retryAfterHeaders(code));
}

/** 405 with `Allow` for a route called with a method it does not serve: core's `methodNotAllowed`, as on every runtime. */
export function sendMethodNotAllowed(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): void {
  const answer = methodNotAllowed(req.method ?? '', allowed);
  sendJson(res, answer.status, answer.body, answer.headers);
}

/** Answers an upgrade request with a plain HTTP error (the code's status); no WebSocket is created. */
export function rejectUpgrade(socket: Duplex, code: ErrorCode, message: string): void {
  if (socket.destroyed) return;
  const status = ERROR_CODES[code].httpStatus;
  const body = JSON.stringify({ code, message });
  const extra = Object.entries(retryAfterHeaders(code))
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      extra +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Reads a JSON body of at most `limit` bytes; answers 413 or 400 itself and returns undefined on failure. */
export async function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<{ value: unknown } | undefined> {
  let body: Buffer;
  try {
    body = await readBody(req, limit);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      sendError(res, 'payload_too_large', error.message);
      return undefined;
    }
    throw error;
  }
  try {
    return { value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    sendError(res, 'bad_request', 'body is not valid JSON');
    return undefined;
  }
}

/**
 * Whether the client went away before its request was complete (an upload cut short): the route's
 * failure is then the client's doing, and no one is left to answer.
 */
export function isAbandoned(req: IncomingMessage): boolean {
  return req.destroyed && !req.complete;
}

/** The request path without its query string, still percent-encoded. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}

/** Starts listening and returns the port and the `http://host:port` to advertise (loopback for a wildcard host). */
export async function listen(server: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const displayHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return { url: `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${address.port}`, port: address.port };
}
