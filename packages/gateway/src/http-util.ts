import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
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
  sendJson(res, ERROR_CODES[code].httpStatus, { code, message });
}

/** 405 for a route called with another method: a fault of the route, not one the error catalogue names. */
export function sendMethodNotAllowed(res: ServerResponse, allowed: string): void {
  sendJson(res, 405, { code: 'bad_request', message: `use ${allowed}` });
}

/** Answers an upgrade request with a plain HTTP error (the code's status); no WebSocket is created. */
export function rejectUpgrade(socket: Duplex, code: ErrorCode, message: string): void {
  if (socket.destroyed) return;
  const status = ERROR_CODES[code].httpStatus;
  const body = JSON.stringify({ code, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
