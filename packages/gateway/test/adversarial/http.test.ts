import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, isErrorCode } from '@classwire/protocol';
import type { Gateway } from '../../src/index.js';
import { capturingLogger, fuzzParameters, hostileJson, hostileString } from '../../../../test-support/adversarial.js';
import { API_KEY, TestClient, eventually, makeToken, startRuntime, type RuntimeName } from '../../../../test-support/harness.js';

/**
 * Every HTTP endpoint fuzzed over raw TCP (so methods, paths and headers are exactly what a hostile
 * client writes): the server never answers 500 or logs an unexpected exception, every JSON error body
 * carries a catalogue code with that code's status (API Gateway's own shape on `@connections`), and no
 * path escapes the web root.
 */

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes one request (Connection: close) and reads the whole answer, until the server closes. */
function rawRequest(url: string, request: Buffer): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may close while a large request is still being written: what it answered counts.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const headerEnd = text.indexOf('\r\n\r\n');
      const head = (headerEnd < 0 ? text : text.slice(0, headerEnd)).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = headerEnd < 0 ? '' : Buffer.from(text.slice(headerEnd + 4), 'latin1').toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0), headers, body });
    });
    // Not `end`: Node's server drops a half-closed connection whose answer is still being prepared.
    socket.write(request);
  });
}

const SENTINEL = 'SENTINEL-OUTSIDE-THE-WEB-ROOT';

const traversal = fc.constantFrom(
  '/../secret.txt',
  '/..%2fsecret.txt',
  '/%2e%2e/secret.txt',
  '/%2e%2e%2fsecret.txt',
  '/assets/../../secret.txt',
  '/assets/%2e%2e/%2e%2e/secret.txt',
  '/..\\secret.txt',
  '/%5c..%5csecret.txt',
  '//secret.txt',
  '/....//secret.txt',
  '/%252e%252e/secret.txt',
  '/secret.txt%00.html',
  '/%c0%ae%c0%ae/secret.txt',
  '/web/../../secret.txt',
);

/** Every byte percent-encoded (lone surrogates as UTF-8's replacement character; raw bytes as they are, valid UTF-8 or not). */
function percentEncoded(value: string | Uint8Array): string {
  return [...Buffer.from(value)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

const CONNECTION_IDS = ['AbCdEfGhIjKlMnO=', 'AAAAAAAAAAAAAAA=', '__proto__', '%00', '%ff', 'x'.repeat(300), '..%2f..', '%'];

/** One raw request; failures print its summary, not its bytes. */
class RawRequest {
  constructor(
    readonly bytes: Buffer,
    readonly summary: string,
  ) {}

  [fc.toStringMethod](): string {
    return this.summary;
  }
}

function requestArbitrary(connectionId: () => string): fc.Arbitrary<RawRequest> {
  const method = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD') },
    { weight: 2, arbitrary: fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'FOO') },
  );
  const path = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom('/healthz', '/readyz', '/metrics', '/dev/token', '/', '/index.html', '/favicon.ico', '/ws', '/nope') },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom('/@connections/', '/%40connections/', '/ws/@connections/', '/other/@connections/', '/a/b/@connections/')
        .chain((prefix) => fc.oneof(fc.constant(connectionId()), fc.constantFrom(...CONNECTION_IDS)).map((id) => prefix + id)),
    },
    {
      weight: 3,
      arbitrary: fc
        .oneof(fc.constantFrom('class', 'a.b:c', '__proto__', '%00', '%', '..', 'x'.repeat(200)), fc.oneof(hostileString.map(percentEncoded), fc.uint8Array({ maxLength: 12 }).map(percentEncoded)))
        .map((room) => `/rooms/${room}/messages`),
    },
    { weight: 2, arbitrary: traversal },
    { weight: 1, arbitrary: hostileString.map((s) => `/${percentEncoded(s)}`) },
  );
  const query = fc.oneof(fc.constant(''), fc.constantFrom('?', '?a=1&a=2', '?token=x', '?%zz', `?${'q'.repeat(3000)}`));
  const authorization = fc.oneof(
    fc.constant(undefined),
    fc.constant(`Bearer ${API_KEY}`),
    fc.constantFrom('Bearer wrong', 'Bearer ', 'Basic YTpi', 'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=' + '0'.repeat(64)),
  );
  const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', '*/*');
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constant(Buffer.alloc(0)) },
    {
      weight: 4,
      arbitrary: fc
        .record({ event: fc.oneof(fc.constantFrom('chat.message', 'custom.note', 'class.end'), hostileString), data: hostileJson(3), id: fc.oneof(hostileString, fc.nat().map(String)) }, { requiredKeys: [] })
        .map((v) => Buffer.from(JSON.stringify(v))),
    },
    { weight: 1, arbitrary: fc.record({ name: hostileString, role: fc.oneof(fc.constantFrom('teacher', 'student', 'admin'), hostileString), rooms: hostileJson(2), ttlSeconds: hostileJson(1), userId: hostileJson(1) }, { requiredKeys: [] }).map((v) => Buffer.from(JSON.stringify(v))) },
    { weight: 2, arbitrary: hostileJson(4).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom(40 * 1024, 140 * 1024).map((n) => Buffer.alloc(n, 'x')) },
  );
  const extraHeader = fc.oneof(
    fc.constant(''),
    fc.constantFrom('X-Forwarded-For: 1.2.3.4, ::1\r\n', 'Origin: https://evil.example\r\n', 'Transfer-Encoding: identity\r\n', 'Expect: 100-continue\r\n', 'Accept: */*\r\n'),
    fc.integer({ min: 1, max: 20 }).map((kb) => `X-Huge: ${'h'.repeat(kb * 1024)}\r\n`),
    fc.integer({ min: 1, max: 200 }).map((n) => Array.from({ length: n }, (_, i) => `X-Many-${i}: v\r\n`).join('')),
  );
  return fc.record({ method, path, query, authorization, contentType, body, extraHeader }).map(({ method, path, query, authorization, contentType, body, extraHeader }) => {
    let head = `${method} ${path}${query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`;
    if (authorization !== undefined) head += `Authorization: ${authorization}\r\n`;
    if (contentType !== undefined) head += `Content-Type: ${contentType}\r\n`;
    head += extraHeader;
    if (body.length > 0) head += `Content-Length: ${body.length}\r\n`;
    const summary = `${method} ${path.slice(0, 80)}${query.slice(0, 20)} [auth: ${authorization ?? 'none'}, type: ${contentType ?? 'none'}, extra headers: ${extraHeader.length} B, body: ${body.subarray(0, 80).toString('latin1')}… ${body.length} B]`;
    return new RawRequest(Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]), summary);
  });
}

/** Asserts what every answer must satisfy. `awsShaped`: may this path answer in API Gateway's error shape. */
function checkResponse(request: RawRequest, response: RawResponse, awsShaped: (path: string) => boolean): void {
  const line = request.summary;
  const path = (line.split(' ')[1] ?? '').split('?')[0]!;
  expect(response.status, `${line} → no status`).toBeGreaterThanOrEqual(100);
  expect(response.status, `${line} → ${response.status} ${response.body.slice(0, 200)}`).toBeLessThan(500);
  expect(response.body, `${line} escaped the web root`).not.toContain(SENTINEL);
  const isJson = response.headers['content-type']?.startsWith('application/json') === true;
  if (!isJson || response.status < 400 || line.startsWith('HEAD ')) return;
  const body = JSON.parse(response.body) as { code?: unknown; message?: unknown };
  expect(typeof body.message, `${line}: ${response.body}`).toBe('string');
  if (body.code === undefined) {
    // API Gateway's own shape (its management API, and the emulator's answer to unknown routes), which
    // the AWS SDK maps to typed errors.
    expect(awsShaped(path), `${line}: ${response.body}`).toBe(true);
    expect(response.headers['x-amzn-errortype'] ?? '', `${line}: ${response.body}`).toMatch(/Exception$/);
    return;
  }
  expect(isErrorCode(body.code), `${line}: ${response.body}`).toBe(true);
  const code = body.code as keyof typeof ERROR_CODES;
  // 405: a known route called with another method (core's `methodNotAllowed`), coded bad_request, its Allow naming what the route serves.
  if (response.status === 405) {
    expect(code).toBe('bad_request');
    expect(response.headers.allow ?? '', `${line}: 405 without Allow`).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
  } else expect(response.status, `${line}: ${response.body}`).toBe(ERROR_CODES[code].httpStatus);
}

describe.each<[RuntimeName, number]>([
  ['gateway', 300],
  ['apigw-emulator', 60],
])('adversarial HTTP on %s', (runtime, numRuns) => {
  const { logger, errors, records } = capturingLogger('debug');
  let gateway: Gateway;
  let dir: string;
  let member: TestClient;
  let connectionId = 'AbCdEfGhIjKlMnO=';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'classwire-http-fuzz-'));
    await mkdir(join(dir, 'web', 'assets'), { recursive: true });
    await writeFile(join(dir, 'web', 'index.html'), '<!doctype html><title>app</title>');
    await writeFile(join(dir, 'web', 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'secret.txt'), SENTINEL);
    gateway = await startRuntime(
      runtime,
      { CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: '1', CLASSWIRE_STATIC_DIR: join(dir, 'web'), CLASSWIRE_CLASSROOM: '1' },
      { logger },
    );
    // A live connection, so some management calls reach a real target.
    member = await TestClient.connect(gateway, await makeToken({ rooms: ['class'] }));
    const joined = await member.join('class');
    connectionId = String(joined.connectionId);
  });
  afterAll(async () => {
    await gateway.drain();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the app for a client route a browser navigates to, and a JSON 404 to an API client on a missing route', async () => {
    const page = await fetch(`${gateway.url}/report/class`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>app</title>');
    // API Gateway answers a route it does not have with 403 and its own JSON body, and so does its emulator.
    const missing = runtime === 'gateway' ? 404 : 403;
    const api = await fetch(`${gateway.url}/classes/1/attendance`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(missing);
    expect(api.headers.get('content-type')).toMatch(/^application\/json/);
    if (runtime === 'gateway') expect(((await api.json()) as { code: string }).code).toBe('not_found');
    // fetch's default Accept (*/*) is an API client too.
    expect((await fetch(`${gateway.url}/classes/1/attendance`)).status).toBe(missing);
  });

  it('answers a request once, even when the parser refuses it after its answer has started', async () => {
    // `Transfer-Encoding: identity` is refused by the parser only after the request was dispatched.
    const response = await rawRequest(
      gateway.url,
      Buffer.from('DELETE /rooms/class/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: identity\r\n\r\n'),
    );
    expect(response.status).toBe(runtime === 'gateway' ? 405 : 403);
    // A second answer after the first would be read by a keep-alive client as the answer to its next request.
    expect(response.body).not.toContain('HTTP/1.1');
    expect(() => JSON.parse(response.body) as unknown).not.toThrow();
  });

  it('logs a request its client abandoned mid-body as a client fault, not as a server error', async () => {
    const { hostname, port } = new URL(gateway.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const continued = new Promise((resolve) => socket.once('data', resolve));
    socket.write(`POST /ws/@connections/AAAAAAAAAAAAAAA= HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n`);
    // 100 Continue: the server has dispatched the request and now waits for its body.
    await continued;
    socket.end('{"event":');
    socket.destroy();
    await eventually(() => records.some((r) => typeof r.msg === 'string' && /request (failed|abandoned)/.test(r.msg)));
    expect(errors.map((e) => e.msg)).not.toContain('request failed');
  });

  it('never answers 500, answers JSON errors from the catalogue, serves nothing outside the web root', { timeout: 60_000 }, async () => {
    // The management API's paths, as the gateway matches them (management.ts).
    const awsShaped = (path: string) => runtime === 'apigw-emulator' || /^(?:\/[^/@%]+)?\/(?:@|%40)connections\/[^/]+$/.test(path);
    await fc.assert(
      fc.asyncProperty(requestArbitrary(() => connectionId), async (request) => {
        const before = errors.length;
        const response = await rawRequest(gateway.url, request.bytes);
        checkResponse(request, response, awsShaped);
        expect(errors.slice(before).map((e) => `${e.msg}: ${e.err?.message}`)).toEqual([]);
      }),
      fuzzParameters(numRuns, runtime === 'gateway' ? 10 : 11),
    );
    const health = await rawRequest(gateway.url, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expect(health.status).toBe(200);
  });
});
