import { createServer, request } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { JwtAuthorizer, MemoryRegistry, StoreUnavailableError } from '@classwire/core';
import { WebSocketServer } from 'ws';
import { listen } from '../src/http-util.js';
import type { Gateway } from '../src/index.js';
import { GatewayMetrics } from '../src/metrics.js';
import { handleUpgrades } from '../src/upgrade.js';
import { API_KEY, SECRET, TestClient, eventually, makeToken, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface UpgradeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends a WebSocket handshake and reads the refusal (status, headers, body); 101 when it was accepted. */
function upgradeAnswer(url: string): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('Redis unreachable', () => {
  it('refuses upgrades with 503 unavailable and retry-after, answers a join with unavailable, and accepts again once Redis is back', async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.stop());
    const logs: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    const gateway: Gateway = await startTestGateway(
      { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: '500', CLASSWIRE_NODE_ID: 'outage-a' },
      { logger: pino({ level: 'info' }, sink) },
    );
    cleanups.push(() => gateway.drain());
    const wsUrl = `${gateway.url.replace('http', 'ws')}/ws`;
    const token = await makeToken({ rooms: ['outage'] });
    const connected = await TestClient.connect(gateway, token);
    cleanups.push(() => connected.close());

    await redis.kill();
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 503, 10_000);

    const refused = await upgradeAnswer(`${gateway.url}/ws?token=${token}`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'unavailable' });
    // An outage is an expected failure: logged as a warning, not as an internal error.
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(logs.some((l) => l.level === 40 && /store unavailable/.test(l.msg))).toBe(true);
    expect((await gateway.metrics.authRejects.get()).values.find((v) => v.labels.reason === 'unavailable')?.value).toBe(1);

    // The backend's publish route needs Redis too: the same answer.
    const published = await fetch(`${gateway.url}/rooms/outage/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'class.notice', data: 'hi', id: 'n-1' }),
    });
    expect({ status: published.status, retryAfter: published.headers.get('retry-after'), body: (await published.json()) as unknown }).toMatchObject({
      status: 503,
      retryAfter: '5',
      body: { code: 'unavailable' },
    });
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);

    // A connection opened before the outage asks to join: the documented error, not a generic one.
    const joined = await connected.join('outage');
    expect(joined).toMatchObject({ type: 'error', code: 'unavailable' });

    await redis.launch();
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 20_000);
    // The node is ready again; its command connection may still be reconnecting for a moment.
    await eventually(async () => (await upgradeStatus(`${wsUrl}?token=${token}`)) === 101, 10_000);
    const after = await TestClient.connect(gateway, token);
    cleanups.push(() => after.close());
    expect(await after.join('outage')).toMatchObject({ type: 'joined', room: 'outage' });
  });
});

describe('Redis unreachable behind the API Gateway emulator', () => {
  it("refuses $connect with 503 unavailable (the Lambda handler's answer), and connects again once Redis is back", async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.stop());
    const emulator = await startTestGateway({ CLASSWIRE_MODE: 'apigw-emulator', CLASSWIRE_REDIS_URL: redis.url });
    cleanups.push(() => emulator.drain());
    const token = await makeToken({ rooms: ['outage'] });
    const wsUrl = `${emulator.url.replace('http', 'ws')}/ws?token=${token}`;
    expect(await upgradeStatus(wsUrl)).toBe(101);

    await redis.kill();
    const refused = await upgradeAnswer(`${emulator.url}/ws?token=${token}`);
    expect({ status: refused.status, body: JSON.parse(refused.body) as unknown }).toMatchObject({ status: 503, body: { code: 'unavailable' } });

    await redis.launch();
    await eventually(async () => (await upgradeStatus(wsUrl)) === 101, 10_000);
  });
});

describe('upgrade failures', () => {
  /** The upgrade handler alone, over a registry whose slot reservation throws `error`. */
  async function upgradeWith(error: Error): Promise<UpgradeAnswer> {
    const registry = new MemoryRegistry();
    registry.reserveSlot = () => Promise.reject(error);
    const server = createServer();
    handleUpgrades(server, {
      wsPath: '/ws',
      checks: { allowedOrigins: [], maxConnectionsPerUser: 5, authorizer: new JwtAuthorizer({ secret: SECRET }), registry },
      wss: new WebSocketServer({ noServer: true }),
      metrics: new GatewayMetrics({ connections: () => 0, users: () => 0, rooms: () => 0, redisReady: undefined }),
      logger: pino({ level: 'silent' }),
      isDraining: () => false,
      accept: (ws) => ws.close(),
    });
    const { url } = await listen(server, 0, '127.0.0.1');
    try {
      return await upgradeAnswer(`${url}/ws?token=${await makeToken()}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it('answers a store outage 503 unavailable with retry-after, and a bug 500 internal without it', async () => {
    const outage = await upgradeWith(new StoreUnavailableError('redis registry reserve failed: Connection is closed.'));
    expect({ status: outage.status, retryAfter: outage.headers['retry-after'], body: JSON.parse(outage.body) as unknown }).toMatchObject({
      status: 503,
      retryAfter: '5',
      body: { code: 'unavailable' },
    });
    const bug = await upgradeWith(new TypeError('cannot read properties of undefined'));
    expect({ status: bug.status, retryAfter: bug.headers['retry-after'], body: JSON.parse(bug.body) as unknown }).toEqual({
      status: 500,
      retryAfter: undefined,
      body: { code: 'internal', message: 'internal error' },
    });
  });
});
