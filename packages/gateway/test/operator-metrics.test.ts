import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';

/** The value of one series in a /metrics scrape (0 when absent). */
async function sample(gateway: Gateway, series: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('operator metrics of one node', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ CLASSWIRE_PING_INTERVAL_MS: '100' });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('counts users online, bytes both ways, ping round trips and handling time per action', async () => {
    const first = await TestClient.connect(gateway, await makeToken({ sub: 'metrics-a', rooms: ['m-room'] }));
    const second = await TestClient.connect(gateway, await makeToken({ sub: 'metrics-a', rooms: ['m-room'] }));
    const third = await TestClient.connect(gateway, await makeToken({ sub: 'metrics-b', rooms: ['m-room'] }));
    await first.join('m-room');
    await first.request({ action: 'publish', room: 'm-room', event: 'note', data: 'x'.repeat(1000) });
    first.send('{"action":"made-up-action"}');
    await first.next((f) => f.type === 'error');

    expect(await sample(gateway, 'classwire_users')).toBe(2);
    expect(await sample(gateway, 'classwire_connections')).toBe(3);
    expect(await sample(gateway, 'classwire_nodes_seen')).toBe(1);
    expect(await sample(gateway, 'classwire_bytes_in_total')).toBeGreaterThan(1000);
    expect(await sample(gateway, 'classwire_bytes_out_total')).toBeGreaterThan(1000);
    expect(await sample(gateway, 'classwire_action_duration_seconds_count{action="join"}')).toBe(1);
    expect(await sample(gateway, 'classwire_action_duration_seconds_count{action="publish"}')).toBe(1);
    // A client's invented action is not a label: it counts as invalid.
    expect(await sample(gateway, 'classwire_action_duration_seconds_count{action="invalid"}')).toBe(1);
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).not.toContain('made-up-action');
    // The heartbeat pings every 100 ms here; ws clients answer with pongs.
    await eventually(async () => (await sample(gateway, 'classwire_ping_rtt_seconds_count')) >= 3);

    await third.close();
    await eventually(async () => (await sample(gateway, 'classwire_users')) === 1);
    await Promise.all([first.close(), second.close()]);
  });
});

describe('operator metrics of a cluster', () => {
  let redis: RedisProcess;
  const nodes: Gateway[] = [];
  beforeAll(async () => {
    redis = await RedisProcess.start();
    for (const id of ['lag-a', 'lag-b']) nodes.push(await startTestGateway({ CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_NODE_ID: id, CLASSWIRE_NODE_TTL_MS: '600' }));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.drain()));
    await redis.stop();
  });

  it('sees the live nodes and measures the pub/sub lag of messages from another node', async () => {
    const [a, b] = nodes as [Gateway, Gateway];
    await eventually(async () => (await sample(a, 'classwire_nodes_seen')) === 2 && (await sample(b, 'classwire_nodes_seen')) === 2);
    const publisher = await TestClient.connect(a, await makeToken({ sub: 'lag-publisher', rooms: ['lag-room'] }));
    const listener = await TestClient.connect(b, await makeToken({ sub: 'lag-listener', rooms: ['lag-room'] }));
    await publisher.join('lag-room');
    await listener.join('lag-room');
    const before = await sample(b, 'classwire_pubsub_lag_seconds_count');
    await publisher.request({ action: 'publish', room: 'lag-room', event: 'note', data: 1 });
    await listener.waitForMessages('lag-room', 1);
    expect(await sample(b, 'classwire_pubsub_lag_seconds_count')).toBe(before + 1);
    // Generous: only proves the value is a lag in seconds, not a timestamp or milliseconds.
    expect(await sample(b, 'classwire_pubsub_lag_seconds_sum')).toBeLessThan(60);

    await nodes.pop()!.drain();
    await eventually(async () => (await sample(a, 'classwire_nodes_seen')) === 1);
    await publisher.close();
  });
});
