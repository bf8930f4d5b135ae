import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Gateway } from '../src/index.js';
import { eventually, makeToken, startRuntime, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';

const LIMIT = 10;
const ATTEMPTS = 40;

/** Opens a WebSocket; resolves with it once open, or with the HTTP status that refused the upgrade. */
function attempt(url: string): Promise<{ ws: WebSocket; status: 101 } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** 40 concurrent upgrades of one user, spread over `targets`; returns the opened sockets and every status. */
async function stampede(targets: Gateway[], token: string, query = ''): Promise<{ open: WebSocket[]; statuses: number[] }> {
  const results = await Promise.all(
    Array.from({ length: ATTEMPTS }, (_, i) => attempt(`${targets[i % targets.length]!.url.replace('http', 'ws')}/ws?token=${token}${query}`)),
  );
  return { open: results.flatMap((r) => ('ws' in r ? [r.ws] : [])), statuses: results.map((r) => r.status) };
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
}

describe('per-user connection limit on two gateway nodes sharing Redis', () => {
  let redis: RedisProcess;
  const nodes: Gateway[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    for (const id of ['limit-a', 'limit-b']) {
      nodes.push(await startTestGateway({ CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_NODE_ID: id, CLASSWIRE_MAX_CONNECTIONS_PER_USER: String(LIMIT) }));
    }
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.drain()));
    await redis.stop();
  });

  for (const query of ['', '&room=lecture']) {
    it(`opens exactly ${LIMIT} of ${ATTEMPTS} concurrent upgrades${query === '' ? '' : ' that join a room'}, and frees slots on close`, async () => {
      const token = await makeToken({ sub: `stampede${query === '' ? '' : '-room'}`, rooms: ['lecture'] });
      const { open, statuses } = await stampede(nodes, token, query);
      expect(open).toHaveLength(LIMIT);
      expect(statuses.filter((s) => s === 429)).toHaveLength(ATTEMPTS - LIMIT);

      await closeAll(open.slice(0, 3));
      // The nodes free the slots once they have processed the closes.
      await eventually(async () => {
        const again = await stampede(nodes, token, query);
        await closeAll(again.open);
        return again.open.length > 0;
      });
      await closeAll(open.slice(3));
      await eventually(() => nodes.every((n) => n.connectionCount === 0));
      const refilled = await stampede(nodes, token, query);
      expect(refilled.open).toHaveLength(LIMIT);
      await closeAll(refilled.open);
    });
  }
});

describe('per-user connection limit behind the API Gateway emulator', () => {
  let emulator: Gateway;

  beforeAll(async () => {
    emulator = await startRuntime('apigw-emulator', { CLASSWIRE_MAX_CONNECTIONS_PER_USER: String(LIMIT) });
  });
  afterAll(async () => {
    await emulator.drain();
  });

  for (const query of ['', '&room=lecture']) {
    it(`opens exactly ${LIMIT} of ${ATTEMPTS} concurrent upgrades${query === '' ? '' : ' that join a room'}`, async () => {
      const token = await makeToken({ sub: `emulated${query === '' ? '' : '-room'}`, rooms: ['lecture'] });
      const { open, statuses } = await stampede([emulator], token, query);
      expect(open).toHaveLength(LIMIT);
      expect(statuses.every((s) => s === 101 || s === 429)).toBe(true);
      await closeAll(open);
    });
  }
});
