import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { RedisPresence } from '@classwire/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { connect, type OpenEventMap, type ResetInfo, type RoomMessage } from '../../client/src/node.js';
import type { Gateway } from '../src/index.js';
import { AWS_CREDENTIALS, TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';

let redis: RedisProcess;
const nodes: Gateway[] = [];

function node(index: number): Gateway {
  return nodes[index]!;
}

async function startNode(url: string, id: string, env: Record<string, string> = {}): Promise<Gateway> {
  return startTestGateway({
    CLASSWIRE_REDIS_URL: url,
    CLASSWIRE_NODE_ID: id,
    CLASSWIRE_NODE_TTL_MS: '1500',
    CLASSWIRE_RATE_PER_SECOND: '5000',
    CLASSWIRE_RATE_BURST: '5000',
    ...env,
  });
}

beforeAll(async () => {
  redis = await RedisProcess.start();
  for (let i = 0; i < 3; i++) nodes.push(await startNode(redis.url, `node-${i}`));
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.drain()));
  await redis.stop();
});

describe('three gateway nodes on one Redis', () => {
  it('gives every member of a room spread over all nodes the same gapless sequence under concurrent publishers', async () => {
    const members: TestClient[] = [];
    for (let i = 0; i < 6; i++) {
      const client = await TestClient.connect(node(i % 3), await makeToken({ rooms: ['spread'] }));
      await client.join('spread');
      members.push(client);
    }
    const perMember = 20;
    const acks = await Promise.all(
      members.flatMap((client, m) =>
        Array.from({ length: perMember }, (_, i) => client.request({ action: 'publish', room: 'spread', event: 'chat.message', data: { m, i } })),
      ),
    );
    const total = members.length * perMember;
    expect(acks.every((a) => a.type === 'ack')).toBe(true);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(total);
    const reference = (await members[0]!.waitForMessages('spread', total, 15_000)).map((f) => [f.seq, JSON.stringify(f.data)]);
    expect(reference.map(([seq]) => seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const client of members) {
      const received = await client.waitForMessages('spread', total, 15_000);
      expect(received.map((f) => [f.seq, JSON.stringify(f.data)])).toEqual(reference);
      expect(received).toHaveLength(total);
    }
    await Promise.all(members.map((c) => c.close()));
  });

  it('keeps presence per user across nodes and delivers direct messages and management calls to any node', async () => {
    const tab1 = await TestClient.connect(node(0), await makeToken({ sub: 'ana', rooms: ['x-node'] }));
    const tab2 = await TestClient.connect(node(1), await makeToken({ sub: 'ana', rooms: ['x-node'] }));
    const teacher = await TestClient.connect(node(2), await makeToken({ sub: 'tom', role: 'teacher', rooms: ['x-node'] }));
    await teacher.join('x-node');
    await tab1.join('x-node');
    const second = await tab2.join('x-node');
    expect((second.presence as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['ana', 'tom']);
    await teacher.next((f) => f.type === 'presence' && f.action === 'join');
    await tab1.close();
    await teacher.request({ action: 'ping' });
    await tab2.request({ action: 'direct', to: 'tom', event: 'chat.private', data: 'from another node' });
    expect(await teacher.next((f) => f.type === 'direct')).toMatchObject({ data: 'from another node', from: { userId: 'ana' } });
    // ana still has a connection: no presence leave was announced.
    expect(teacher.frames.filter((f) => f.type === 'presence' && f.action === 'leave')).toHaveLength(0);

    // The management API of node 0 reaches tab2 on node 1.
    const api = new ApiGatewayManagementApiClient({ endpoint: node(0).url, region: 'eu-west-1', credentials: AWS_CREDENTIALS });
    const id = second.connectionId as string;
    await api.send(new PostToConnectionCommand({ ConnectionId: id, Data: '{"type":"hello-from-node-0"}' }));
    expect(await tab2.next((f) => f.type === 'hello-from-node-0')).toEqual({ type: 'hello-from-node-0' });
    const info = await api.send(new GetConnectionCommand({ ConnectionId: id }));
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    await tab2.close();
    await eventually(async () => (await api.send(new GetConnectionCommand({ ConnectionId: id })).catch((e: unknown) => e)) instanceof GoneException);
    expect(await teacher.next((f) => f.type === 'presence' && f.action === 'leave')).toMatchObject({ member: { userId: 'ana' } });
    await teacher.close();
  });

  it('closes a connection deleted through another node\'s management API and forgets it on every node', async () => {
    const api = new ApiGatewayManagementApiClient({ endpoint: node(0).url, region: 'eu-west-1', credentials: AWS_CREDENTIALS });
    const user = `deleted-${Date.now()}`;
    const student = await TestClient.connect(node(1), await makeToken({ sub: user, rooms: ['deleted'] }));
    const teacher = await TestClient.connect(node(2), await makeToken({ role: 'teacher', rooms: ['deleted'] }));
    const id = (await student.join('deleted')).connectionId as string;
    await teacher.join('deleted');
    await api.send(new DeleteConnectionCommand({ ConnectionId: id }));
    expect(await student.waitClosed()).toBe(1000);
    // Removed from the registry by the node that held it: every node answers Gone, and the user is unknown.
    for (const endpoint of [node(0).url, node(1).url]) {
      const client = new ApiGatewayManagementApiClient({ endpoint, region: 'eu-west-1', credentials: AWS_CREDENTIALS });
      await eventually(async () => (await client.send(new GetConnectionCommand({ ConnectionId: id })).catch((e: unknown) => e)) instanceof GoneException);
    }
    await eventually(async () => (await teacher.request({ action: 'direct', to: user, event: 'chat.private', data: 'x' })).code === 'not_found');
    await teacher.close();
  });

  it('backfills a node whose Redis connection was cut, so its members miss nothing', async () => {
    const path = new FaultProxy(redis.port, { raw: true });
    await path.start();
    const cutNode = await startNode(`redis://127.0.0.1:${path.port}`, 'node-cut');
    try {
      const reader = await TestClient.connect(cutNode, await makeToken({ rooms: ['cut'] }));
      const writer = await TestClient.connect(node(0), await makeToken({ rooms: ['cut'] }));
      await reader.join('cut');
      await writer.join('cut');
      for (let i = 1; i <= 5; i++) await writer.request({ action: 'publish', room: 'cut', event: 'chat.message', data: i });
      await reader.waitForMessages('cut', 5);
      // The node's Redis connections drop: whatever is published meanwhile never reaches its subscriber.
      path.refuse(true);
      path.cutAll();
      for (let i = 6; i <= 15; i++) await writer.request({ action: 'publish', room: 'cut', event: 'chat.message', data: i });
      path.refuse(false);
      const received = await reader.waitForMessages('cut', 15, 15_000);
      expect(received.map((f) => f.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(received.map((f) => f.data)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(reader.closeCode).toBeUndefined();
      const backfilled = (await cutNode.metrics.backfilled.get()).values[0]?.value ?? 0;
      expect(backfilled).toBeGreaterThanOrEqual(10);
      await Promise.all([reader.close(), writer.close()]);
    } finally {
      await cutNode.drain();
      await path.stop();
    }
  });

  it("lets go of a closed connection's rooms on its node although Redis is unreachable as it closes", async () => {
    const path = new FaultProxy(redis.port, { raw: true });
    await path.start();
    const closing = await startNode(`redis://127.0.0.1:${path.port}`, 'node-closing', { CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: '300' });
    const localRooms = async () => (await closing.metrics.registry.getSingleMetric('classwire_rooms')!.get()).values[0]?.value;
    try {
      const client = await TestClient.connect(closing, await makeToken({ sub: 'closing-user', rooms: ['closing'] }));
      await client.join('closing');
      expect(await localRooms()).toBe(1);
      const presence = new RedisPresence(redis.client());
      const present = async () => (await presence.list('closing')).map((member) => member.userId);
      expect(await present()).toEqual(['closing-user']);
      path.refuse(true);
      path.cutAll();
      await eventually(async () => (await fetch(`${closing.url}/readyz`)).status === 503);
      // The disconnect cannot remove the connection's record from Redis; the node's own side goes anyway
      // (before, the closed connection stayed a member here, and its room subscribed, for good).
      await client.close();
      await eventually(async () => (await localRooms()) === 0, 5_000);
      expect(await present()).toEqual(['closing-user']);
      // Once Redis answers again, a retry unregisters it: the user leaves the room's presence.
      path.refuse(false);
      await eventually(async () => (await present()).length === 0, 10_000);
    } finally {
      path.refuse(false);
      await closing.drain();
      await path.stop();
    }
  });

  it('refuses publishes with unavailable (never a false ack) and reports not ready while Redis is unreachable', async () => {
    const path = new FaultProxy(redis.port, { raw: true });
    await path.start();
    const lonely = await startNode(`redis://127.0.0.1:${path.port}`, 'node-lonely', { CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: '300' });
    try {
      const client = await TestClient.connect(lonely, await makeToken({ rooms: ['down'] }));
      await client.join('down');
      path.refuse(true);
      path.cutAll();
      await eventually(async () => (await fetch(`${lonely.url}/readyz`)).status === 503);
      const reply = await client.request({ action: 'publish', room: 'down', event: 'chat.message', data: 'x', id: 'p-down' });
      expect(reply).toMatchObject({ type: 'error', code: 'unavailable', id: 'p-down' });
      path.refuse(false);
      await eventually(async () => (await fetch(`${lonely.url}/readyz`)).status === 200, 10_000);
      // The retry with the same id is stored once.
      const ack = await client.request({ action: 'publish', room: 'down', event: 'chat.message', data: 'x', id: 'p-down' });
      expect(ack).toMatchObject({ type: 'ack', id: 'p-down' });
      await client.close();
    } finally {
      await lonely.drain();
      await path.stop();
    }
  });
});

describe('a node cut off from Redis for longer than its TTL', () => {
  it('is reaped by a peer, then makes its clients register again once Redis is back', async () => {
    const path = new FaultProxy(redis.port, { raw: true });
    await path.start();
    const isolated = await startNode(`redis://127.0.0.1:${path.port}`, 'node-isolated', { CLASSWIRE_NODE_TTL_MS: '600' });
    const peer = await startNode(redis.url, 'node-peer', { CLASSWIRE_NODE_TTL_MS: '600' });
    try {
      const url = (g: Gateway) => `${g.url.replace('http', 'ws')}/ws`;
      const student = connect<OpenEventMap>({ url: url(isolated), token: await makeToken({ rooms: ['isolated'] }), reconnect: { baseDelayMs: 50, maxDelayMs: 300 } });
      const room = student.join('isolated');
      await room.ready;
      let drops = 0;
      student.on('state', ({ state }) => (drops += state === 'reconnecting' ? 1 : 0));
      const received: RoomMessage[] = [];
      room.on('*', (m) => received.push(m));
      const teacher = await TestClient.connect(peer, await makeToken({ role: 'teacher', rooms: ['isolated'] }));
      await teacher.join('isolated');
      path.refuse(true);
      path.cutAll();
      // The peer's reaper removes the isolated node from the node set once it has disconnected its clients.
      const observer = redis.client();
      await eventually(async () => (await observer.sismember('cw:nodes', 'node-isolated')) === 0, 10_000);
      path.refuse(false);
      // Back on Redis, the isolated node finds it was presumed dead and has its clients register again.
      await eventually(() => student.state === 'open' && room.state === 'joined' && !room.resuming && received.length === 0, 10_000);
      await eventually(async () => {
        await teacher.request({ action: 'publish', room: 'isolated', event: 'chat.message', data: 'still here?' });
        return received.length > 0;
      }, 10_000);
      expect(received[0]!.data).toBe('still here?');
      // Its own frames work again: it is registered (a reaped record would answer `unavailable` forever).
      expect(await room.publish('chat.message', 'yes')).toBeGreaterThan(0);
      expect(await teacher.next((f) => f.type === 'message' && f.data === 'yes')).toMatchObject({ data: 'yes' });
      expect(drops).toBeGreaterThanOrEqual(1);
      student.close();
      await teacher.close();
    } finally {
      await Promise.all([isolated.drain(), peer.drain()]);
      await path.stop();
    }
  });
});

describe('a connection whose registration a peer reaped', () => {
  it('never has a publish acknowledged under the reaped record: unavailable or a reconnect, then it registers again', async () => {
    const path = new FaultProxy(redis.port, { raw: true });
    await path.start();
    // Heartbeats every second: the first frames after Redis is back usually run before the node's next one.
    const stale = await startNode(`redis://127.0.0.1:${path.port}`, 'node-stale', { CLASSWIRE_NODE_TTL_MS: '3000' });
    const reaper = await startNode(redis.url, 'node-reaper', { CLASSWIRE_NODE_TTL_MS: '3000' });
    try {
      const student = await TestClient.connect(stale, await makeToken({ rooms: ['reaped'] }));
      await student.join('reaped');
      expect(await student.request({ action: 'publish', room: 'reaped', event: 'chat.message', data: 'before' })).toMatchObject({ type: 'ack' });
      path.refuse(true);
      path.cutAll();
      const observer = redis.client();
      await eventually(async () => (await observer.sismember('cw:nodes', 'node-stale')) === 0, 15_000);
      path.refuse(false);
      await eventually(async () => (await fetch(`${stale.url}/readyz`)).status === 200, 10_000);
      const outcome = await Promise.race([
        student.request({ action: 'publish', room: 'reaped', event: 'chat.message', data: 'after', id: 'p-reaped' }),
        student.waitClosed().then((code) => ({ type: 'closed', code })),
      ]);
      if (outcome.type === 'closed') expect(outcome.code).toBe(4005);
      else expect(outcome).toMatchObject({ type: 'error', code: 'unavailable', id: 'p-reaped' });
      // The room holds only what was acknowledged.
      const reader = await TestClient.connect(reaper, await makeToken({ rooms: ['reaped'] }));
      const position = await reader.join('reaped');
      await reader.join('reaped', { since: 0, epoch: position.epoch });
      expect(reader.messages('reaped').map((f) => f.data)).toEqual(['before']);
      // Reconnected, the same user registers afresh and publishes.
      await student.close();
      const again = await TestClient.connect(stale, await makeToken({ rooms: ['reaped'] }));
      await again.join('reaped');
      expect(await again.request({ action: 'publish', room: 'reaped', event: 'chat.message', data: 'again' })).toMatchObject({ type: 'ack' });
      await Promise.all([reader.close(), again.close()]);
    } finally {
      await Promise.all([stale.drain(), reaper.drain()]);
      await path.stop();
    }
  }, 40_000);
});

describe('Redis restarted empty', () => {
  it('makes resuming SDK clients report reset (recovered:false), never a silent gap', async () => {
    const fresh = await RedisProcess.start();
    const a = await startNode(fresh.url, 'restart-a');
    const b = await startNode(fresh.url, 'restart-b');
    try {
      const url = (g: Gateway) => `${g.url.replace('http', 'ws')}/ws`;
      const reader = connect<OpenEventMap>({ url: url(a), token: await makeToken({ rooms: ['gone'] }), reconnect: { baseDelayMs: 50, maxDelayMs: 300 } });
      const writer = connect<OpenEventMap>({ url: url(b), token: await makeToken({ rooms: ['gone'] }), reconnect: { baseDelayMs: 50, maxDelayMs: 300 } });
      const readRoom = reader.join('gone');
      const writeRoom = writer.join('gone');
      await Promise.all([readRoom.ready, writeRoom.ready]);
      const received: RoomMessage[] = [];
      readRoom.on('*', (m) => received.push(m));
      const resets: ResetInfo[] = [];
      readRoom.onReset((r) => resets.push(r));
      for (let i = 1; i <= 3; i++) await writeRoom.publish('chat.message', i);
      await eventually(() => received.length === 3);
      await fresh.restart();
      await eventually(() => resets.length === 1, 20_000);
      await eventually(() => writer.state === 'open' && writeRoom.state === 'joined' && !writeRoom.resuming, 20_000);
      await writeRoom.publish('chat.message', 'after');
      await eventually(() => received.length === 4, 10_000);
      expect(received.map((m) => m.data)).toEqual([1, 2, 3, 'after']);
      reader.close();
      writer.close();
    } finally {
      await Promise.all([a.drain(), b.drain()]);
      await fresh.kill();
    }
  });
});
