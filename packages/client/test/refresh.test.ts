import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import type { ConnectionState, RoomMessage } from '../src/node.js';
import { collect, eventually, makeToken, sdkClient, startRuntime, startTestGateway, wsUrl } from './helpers.js';

/** The gateway checks expiry this often (ms), so a connection outliving its token would be closed within it. */
const EXPIRY_CHECK_MS = '100';

type Setup = 'gateway (memory)' | 'gateway (redis)' | 'apigw-emulator';

async function start(setup: Setup): Promise<{ gateway: Gateway; stop: () => Promise<void> }> {
  const env = { CLASSWIRE_PING_INTERVAL_MS: EXPIRY_CHECK_MS, CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' };
  if (setup === 'apigw-emulator') {
    const gateway = await startRuntime('apigw-emulator', env);
    return { gateway, stop: () => gateway.drain() };
  }
  if (setup === 'gateway (memory)') {
    const gateway = await startTestGateway(env);
    return { gateway, stop: () => gateway.drain() };
  }
  const redis = await RedisProcess.start();
  const gateway = await startTestGateway({ ...env, CLASSWIRE_REDIS_URL: redis.url });
  return {
    gateway,
    stop: async () => {
      await gateway.drain();
      await redis.stop();
    },
  };
}

describe.each<Setup>(['gateway (memory)', 'gateway (redis)', 'apigw-emulator'])('in-band token refresh on %s', (setup) => {
  let gateway: Gateway;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ gateway, stop } = await start(setup));
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
    await room.ready;
    const firstExp = Math.floor(issued[0]! / 1000) * 1000 + 3000;
    // Past the first token's exp, plus time for the server's expiry check to have fired.
    await eventually(() => Date.now() > firstExp + 1000 && issued.length >= 3, 10_000);
    const seen: RoomMessage[] = [];
    room.on('note', collect(seen));
    expect(await room.publish('note', 'still here')).toBe(1);
    expect(seen.map((m) => m.data)).toEqual(['still here']);
    expect(states).toEqual(['connecting', 'open']);
    expect(errors).toEqual([]);
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
