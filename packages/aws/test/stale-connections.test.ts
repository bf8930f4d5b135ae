import { RedisPresence, RedisRegistry } from '@classwire/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { createHandlers } from '../src/index.js';

let redis: RedisProcess;

beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis.stop();
});

/** An emulator whose `$disconnect` never arrives: every closed socket leaves a stale registration. */
async function emulatorDroppingDisconnects(prefix: string, extra: Record<string, string> = {}): Promise<Gateway> {
  return startTestGateway({
    CLASSWIRE_MODE: 'apigw-emulator',
    CLASSWIRE_REDIS_URL: redis.url,
    CLASSWIRE_REDIS_PREFIX: prefix,
    CLASSWIRE_APIGW_DISCONNECT_DROP_RATE: '1',
    ...extra,
  });
}

async function goneCount(gateway: Gateway): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(/^classwire_apigw_gone_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
}

async function member(gateway: Gateway, sub: string, room: string): Promise<{ client: TestClient; id: string }> {
  const client = await TestClient.connect(gateway, await makeToken({ sub, name: sub, rooms: [room] }));
  const joined = await client.join(room);
  return { client, id: joined.connectionId as string };
}

describe('connections that vanished without $disconnect', () => {
  it('are removed on the first 410, and only they: the sender and the others stay', async () => {
    const prefix = 'stale1';
    const gateway = await emulatorDroppingDisconnects(prefix, { CLASSWIRE_GONE_GRACE_MS: '0' });
    const registry = new RedisRegistry(redis.client(), { prefix });
    const presence = new RedisPresence(redis.client(), { prefix });
    const sender = await member(gateway, 'sender', 'class');
    const vanished = await member(gateway, 'vanished', 'class');
    const other = await member(gateway, 'other', 'class');
    await vanished.client.close();
    // No $disconnect: the registry still lists it as a member.
    expect((await registry.members('class')).sort()).toEqual([sender.id, vanished.id, other.id].sort());

    const ack = await sender.client.request({ action: 'publish', room: 'class', event: 'chat.message', data: 'hello' });
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect((await other.client.waitForMessages('class', 1))[0]!.data).toBe('hello');
    // The post to the vanished connection answered 410, which removed it (registry, membership, presence).
    await eventually(async () => (await registry.get(vanished.id)) === undefined);
    expect((await registry.members('class')).sort()).toEqual([sender.id, other.id].sort());
    expect((await presence.list('class')).map((m) => m.userId).sort()).toEqual(['other', 'sender']);
    expect(await registry.get(sender.id)).toBeDefined();
    expect(await registry.get(other.id)).toBeDefined();
    // Its presence leave reached the members still there.
    expect(await other.client.next((f) => f.type === 'presence' && f.action === 'leave')).toMatchObject({ member: { userId: 'vanished' } });
    expect(await goneCount(gateway)).toBe(1);

    // The next publish finds no stale member: no further 410.
    await sender.client.request({ action: 'publish', room: 'class', event: 'chat.message', data: 'again' });
    await other.client.waitForMessages('class', 2);
    expect(await goneCount(gateway)).toBe(1);
    await Promise.all([sender.client.close(), other.client.close()]);
    await gateway.drain();
  });

  it('are kept after a 410 while they may still be inside $connect (the grace period)', async () => {
    const prefix = 'stale2';
    const gateway = await emulatorDroppingDisconnects(prefix, { CLASSWIRE_GONE_GRACE_MS: '600000' });
    const registry = new RedisRegistry(redis.client(), { prefix });
    const sender = await member(gateway, 'sender', 'young');
    const vanished = await member(gateway, 'young-one', 'young');
    await vanished.client.close();
    await sender.client.request({ action: 'publish', room: 'young', event: 'chat.message', data: 1 });
    await sender.client.waitForMessages('young', 1);
    expect(await goneCount(gateway)).toBe(1);
    expect(await registry.get(vanished.id)).toBeDefined();
    await sender.client.close();
    await gateway.drain();
  });

  it('are disconnected by the sweeper once older than the 2-hour maximum, when nobody posted to them', async () => {
    const prefix = 'stale3';
    const gateway = await emulatorDroppingDisconnects(prefix);
    const registry = new RedisRegistry(redis.client(), { prefix });
    const presence = new RedisPresence(redis.client(), { prefix });
    const vanished = await member(gateway, 'quiet', 'quiet-room');
    await vanished.client.close();
    const environment = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_PREFIX: prefix, WS_CALLBACK_URL: `${gateway.url}/ws` };
    const now = createHandlers(environment);
    expect(await now.sweep()).toEqual({ disconnected: 0 });
    const later = createHandlers(environment, { now: () => Date.now() + 2 * 60 * 60 * 1000 + 1 });
    expect(await later.sweep()).toEqual({ disconnected: 1 });
    expect(await registry.get(vanished.id)).toBeUndefined();
    expect(await presence.list('quiet-room')).toEqual([]);
    expect(await later.sweep()).toEqual({ disconnected: 0 });
    await Promise.all([now.close(), later.close()]);
    await gateway.drain();
  });
});
