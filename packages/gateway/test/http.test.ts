import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { TestClient, makeToken, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway.drain();
});

describe('HTTP endpoints', () => {
  it('reports liveness and readiness', async () => {
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('exposes Prometheus metrics without per-room or per-user labels', async () => {
    const client = await TestClient.connect(gateway, await makeToken({ sub: 'metrics-user', rooms: ['metrics-room'] }));
    await client.join('metrics-room');
    await client.request({ action: 'publish', room: 'metrics-room', event: 'chat.message', data: 1 });
    await client.request({ action: 'join', room: 'not-allowed-room' }).catch(() => undefined);
    const response = await fetch(`${gateway.url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    for (const name of [
      'classwire_connections 1',
      'classwire_rooms 1',
      'classwire_frames_in_total',
      'classwire_frames_out_total',
      'classwire_deliveries_total 1',
      'classwire_errors_total',
      'classwire_publish_ack_seconds_bucket',
      'classwire_publishes_total{outcome="acked"} 1',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).not.toContain('metrics-user');
    expect(text).not.toContain('metrics-room');
    await client.close();
  });

  it('counts resumes by outcome: a join with a kept position recovers, one from another epoch does not', async () => {
    const resumes = async (recovered: 'true' | 'false') =>
      (await gateway.metrics.resumes.get()).values.find((v) => v.labels.recovered === recovered)?.value ?? 0;
    const before = { true: await resumes('true'), false: await resumes('false') };
    const client = await TestClient.connect(gateway, await makeToken({ sub: 'resumer', rooms: ['resume-room'] }));
    const joined = await client.join('resume-room');
    await client.request({ action: 'join', room: 'resume-room', since: 0, epoch: joined.epoch as string });
    await client.request({ action: 'join', room: 'resume-room', since: 0, epoch: 'another-epoch' });
    expect(await resumes('true')).toBe(before.true + 1);
    expect(await resumes('false')).toBe(before.false + 1);
    await client.close();
  });

  it('serves the web app at / and 404s unknown files', async () => {
    const page = await fetch(`${gateway.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>Classwire</title>');
    expect((await fetch(`${gateway.url}/missing.js`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/..%2f..%2fpackage.json`)).status).toBe(404);
  });

  it('has no development token endpoint unless enabled', async () => {
    const response = await fetch(`${gateway.url}/dev/token`, { method: 'POST', body: '{"name":"x"}' });
    expect(response.status).toBe(404);
  });

  it('issues development tokens when enabled, and validates the request', async () => {
    const dev = await startTestGateway({ CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_JWT_SECRET: '' });
    const response = await fetch(`${dev.url}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Dana', role: 'teacher', rooms: ['r1'] }),
    });
    expect(response.status).toBe(200);
    const { token, userId } = (await response.json()) as { token: string; userId: string };
    const client = await TestClient.connect(dev, token);
    const joined = await client.join('r1');
    expect(joined.presence).toEqual([{ userId, name: 'Dana', role: 'teacher' }]);
    expect(await client.join('r2')).toMatchObject({ code: 'forbidden' });
    await client.close();
    const bad = await fetch(`${dev.url}/dev/token`, { method: 'POST', body: JSON.stringify({ name: 'x', role: 'admin' }) });
    expect(bad.status).toBe(400);
    await dev.drain();
  });

  it('answers a known route called with a method it does not serve with 405 and the methods it does serve in Allow', async () => {
    const dev = await startTestGateway({ CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_JWT_SECRET: '' });
    try {
      for (const [method, path, allow] of [
        ['GET', '/dev/token', 'POST'],
        ['GET', '/rooms/algebra/messages', 'POST'],
        ['POST', '/metrics', 'GET'],
      ] as const) {
        const response = await fetch(`${dev.url}${path}`, { method });
        const body: unknown = await response.json();
        expect([response.status, response.headers.get('allow'), body], `${method} ${path}`).toEqual([405, allow, { code: 'bad_request', message: `method ${method} is not supported here; use ${allow}` }]);
      }
      // HEAD is not served on these routes either: it is a wrong method too, not a way round one.
      const head = await fetch(`${dev.url}/metrics`, { method: 'HEAD' });
      expect([head.status, head.headers.get('allow')]).toEqual([405, 'GET']);
    } finally {
      await dev.drain();
    }
  });
});

describe('drain', () => {
  it('closes every socket with 4000 (reconnect), refuses new ones and stops', async () => {
    const node = await startTestGateway();
    const clients = await Promise.all([1, 2, 3].map(async () => TestClient.connect(node, await makeToken())));
    const closes = Promise.all(clients.map((c) => c.waitClosed()));
    const drained = node.drain();
    expect(await closes).toEqual([4000, 4000, 4000]);
    await drained;
    expect(node.connectionCount).toBe(0);
    await expect(fetch(`${node.url}/healthz`)).rejects.toThrow();
    await expect(upgradeStatus(`${node.url.replace('http', 'ws')}/ws?token=${await makeToken()}`)).rejects.toThrow();
  });
});
