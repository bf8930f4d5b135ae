import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRegistry } from '../../core/src/index.js';
import type { Gateway } from '../../gateway/src/index.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import type { ConnectionState, RoomMessage } from '../src/node.js';
import { collect, eventually, makeToken, sdkClient, startTestGateway, wsUrl } from './helpers.js';

/** The gateway checks expiry this often (ms), so a connection outliving its token would be closed within it. */
const EXPIRY_CHECK_MS = '100';

type Setup = 'gateway (memory)' | 'gateway (redis)' | 'apigw-emulator';

const REDIS_PREFIX = 'refresh';

interface Started {
  gateway: Gateway;
  /** The shared connection registry, on the Redis setups. */
  registry: RedisRegistry | undefined;
  stop: () => Promise<void>;
}

async function start(setup: Setup): Promise<Started> {
  const env = { CLASSWIRE_PING_INTERVAL_MS: EXPIRY_CHECK_MS, CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' };
  if (setup === 'gateway (memory)') {
    const gateway = await startTestGateway(env);
    return { gateway, registry: undefined, stop: () => gateway.drain() };
  }
  const redis = await RedisProcess.start();
  const mode: Record<string, string> = setup === 'apigw-emulator' ? { CLASSWIRE_MODE: 'apigw-emulator' } : {};
  const gateway = await startTestGateway({ ...env, ...mode, CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_PREFIX: REDIS_PREFIX });
  const reader = new Redis(redis.url);
  return {
    gateway,
    registry: new RedisRegistry(reader, { prefix: REDIS_PREFIX }),
    stop: async () => {
      await gateway.drain();
      reader.disconnect();
      await redis.stop();
    },
  };
}

describe.each<Setup>(['gateway (memory)', 'gateway (redis)', 'apigw-emulator'])('in-band token refresh on %s', (setup) => {
  let gateway: Gateway;
  let registry: RedisRegistry | undefined;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ gateway, registry, stop } = await start(setup));
  });
  afterAll(async () => {
    await stop();
  });

  it('keeps a connection with 3-second tokens open past the first exp, without a reconnect', async () => {
    const issued: number[] = [];
    const getToken = async (): Promise<string> => {
      issued.push(Date.now());
      return makeToken({ sub: 'long-class', rooms: ['r'], expiresIn: '3s' });
    };
    const client = sdkClient(wsUrl(gateway), { getToken });
    const states: ConnectionState[] = [];
    client.on('state', ({ state }) => states.push(state));
    const errors: unknown[] = [];
    client.on('error', (error) => errors.push(error));
    const room = client.join('r');
    const { connectionId } = await room.ready;
    const firstExp = Math.floor(issued[0]! / 1000) * 1000 + 3000;
    // Past the first token's exp, plus time for the server's expiry check to have fired.
    await eventually(() => Date.now() > firstExp + 1000 && issued.length >= 3, 10_000);
    const seen: RoomMessage[] = [];
    room.on('note', collect(seen));
    expect(await room.publish('note', 'still here')).toBe(1);
    // With Redis the broadcast may arrive after the ack.
    await eventually(() => seen.length === 1);
    expect(seen.map((m) => m.data)).toEqual(['still here']);
    expect(states).toEqual(['connecting', 'open']);
    expect(errors).toEqual([]);
    // The registry every node and handler reads holds the refreshed expiry, not the first token's.
    if (registry !== undefined) expect((await registry.get(connectionId))?.expiresAt).toBeGreaterThan(firstExp);
    client.close();
  });

  it('refuses a refresh token of another user and reports the error to the app', async () => {
    let calls = 0;
    const getToken = (): Promise<string> => {
      calls += 1;
      return makeToken({ sub: calls === 1 ? 'honest' : 'someone-else', rooms: ['r'], expiresIn: calls === 1 ? '2s' : '1h' });
    };
    const client = sdkClient(wsUrl(gateway), { getToken });
    const errors: unknown[] = [];
    client.on('error', (error) => errors.push(error));
    const states: ConnectionState[] = [];
    client.on('state', ({ state }) => states.push(state));
    await client.join('r').ready;
    await eventually(() => errors.length > 0, 10_000);
    expect(errors[0]).toMatchObject({ code: 'forbidden' });
    client.close();
  });
});
