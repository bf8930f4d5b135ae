import { CLOSE_CODES } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Gateway } from '../src/index.js';
import { SECRET, TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';

const ADMIN_KEY = 'admin-key-for-the-ops-console';

function admin(gateway: Gateway, path: string, init: RequestInit = {}, key = ADMIN_KEY): Promise<Response> {
  return fetch(`${gateway.url}/admin/api/${path}`, { ...init, headers: { authorization: `Bearer ${key}` } });
}

interface Overview {
  nodes: { node: string; connections: number; users: number; redis: string; eventLoopLagMs: number }[];
  rooms: { room: string; members: number; messagesPerSecond: number }[];
  closes: Record<string, number>;
}

describe('ops console API configuration', () => {
  it('is off without an admin key, including with development tokens', async () => {
    const gateway = await startTestGateway({ CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_JWT_SECRET: '' });
    try {
      expect((await admin(gateway, 'overview')).status).toBe(404);
    } finally {
      await gateway.drain();
    }
  });

  it('refuses a short admin key and one equal to the API key', () => {
    expect(() => loadConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_ADMIN_KEY: 'short' })).toThrow(/CLASSWIRE_ADMIN_KEY: must be at least 16/);
    expect(() => loadConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_ADMIN_KEY: ADMIN_KEY, CLASSWIRE_API_KEY: ADMIN_KEY })).toThrow(/a key of its own/);
  });
});

describe('ops console API on one node', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ CLASSWIRE_ADMIN_KEY: ADMIN_KEY, CLASSWIRE_NODE_ID: 'solo' });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('refuses requests without the admin key, with the API key, or with a wrong one', async () => {
    expect((await fetch(`${gateway.url}/admin/api/overview`)).status).toBe(401);
    expect((await admin(gateway, 'overview', {}, 'test-api-key-0123456789')).status).toBe(403);
    const wrong = await admin(gateway, 'overview', {}, `${ADMIN_KEY}x`);
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ code: 'forbidden' });
  });

  it('shows the node, looks up a user and closes a connection and a room', async () => {
    const alice = await TestClient.connect(gateway, await makeToken({ sub: 'alice', rooms: ['*'] }));
    const bob = await TestClient.connect(gateway, await makeToken({ sub: 'bob', rooms: ['*'] }));
    const carol = await TestClient.connect(gateway, await makeToken({ sub: 'carol', rooms: ['*'] }));
    await alice.join('algebra');
    await bob.join('algebra');
    await carol.join('geometry');

    const overview = (await (await admin(gateway, 'overview')).json()) as Overview;
    expect(overview.nodes).toEqual([expect.objectContaining({ node: 'solo', connections: 3, users: 3, redis: 'memory' })]);
    expect(overview.nodes[0]!.eventLoopLagMs).toBeGreaterThanOrEqual(0);

    const lookup = (await (await admin(gateway, 'users/alice/connections')).json()) as { connections: { connectionId: string; joined: string[]; node: string }[] };
    expect(lookup.connections).toEqual([expect.objectContaining({ node: 'solo', joined: ['algebra'] })]);

    const closed = await admin(gateway, `connections/${encodeURIComponent(lookup.connections[0]!.connectionId)}/close`, { method: 'POST' });
    expect(closed.status).toBe(200);
    expect(await alice.waitClosed()).toBe(CLOSE_CODES.removed);

    expect(await (await admin(gateway, 'rooms/geometry/close', { method: 'POST' })).json()).toEqual({ closed: 1 });
    expect(await carol.waitClosed()).toBe(CLOSE_CODES.removed);
    expect(bob.closeCode).toBeUndefined();

    await eventually(async () => ((await (await admin(gateway, 'overview')).json()) as Overview).closes[String(CLOSE_CODES.removed)] === 2);
    await bob.close();
  });

  it('answers bad input with catalogue errors', async () => {
    expect((await admin(gateway, 'connections/not-an-id/close', { method: 'POST' })).status).toBe(400);
    expect((await admin(gateway, 'connections/AAAAAAAAAAAAAAA=/close', { method: 'POST' })).status).toBe(404);
    expect((await admin(gateway, 'rooms/%E0%A4%A/close', { method: 'POST' })).status).toBe(400);
    const wrongMethod = await admin(gateway, 'rooms/algebra/close');
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
    const overview = await admin(gateway, 'overview', { method: 'DELETE' });
    expect([overview.status, overview.headers.get('allow')]).toEqual([405, 'GET']);
    expect((await admin(gateway, `users/${'u'.repeat(500)}/connections`)).status).toBe(400);
    expect((await admin(gateway, 'nothing-here')).status).toBe(404);
  });
});

describe('ops console API in a cluster', () => {
  let redis: RedisProcess;
  const nodes: Gateway[] = [];
  beforeAll(async () => {
    redis = await RedisProcess.start();
    for (const id of ['east', 'west']) nodes.push(await startTestGateway({ CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_NODE_ID: id, CLASSWIRE_ADMIN_KEY: ADMIN_KEY }));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.drain()));
    await redis.stop();
  });

  it('shows every node through any node and closes a connection held by another', async () => {
    const [east, west] = nodes as [Gateway, Gateway];
    const student = await TestClient.connect(west, await makeToken({ sub: 'student-west', rooms: ['*'] }));
    await student.join('history');
    await eventually(async () => {
      const overview = (await (await admin(east, 'overview')).json()) as Overview;
      const westReport = overview.nodes.find((n) => n.node === 'west');
      return overview.nodes.length === 2 && westReport?.connections === 1 && westReport.redis === 'ready' && overview.rooms.some((r) => r.room === 'history' && r.members === 1);
    }, 10_000);
    const lookup = (await (await admin(east, 'users/student-west/connections')).json()) as { connections: { connectionId: string; node: string }[] };
    expect(lookup.connections).toEqual([expect.objectContaining({ node: 'west' })]);
    expect((await admin(east, `connections/${encodeURIComponent(lookup.connections[0]!.connectionId)}/close`, { method: 'POST' })).status).toBe(200);
    expect(await student.waitClosed()).toBe(CLOSE_CODES.removed);
  });
});
