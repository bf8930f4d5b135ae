import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES, postgresAdmin } from '../../test-support/postgres.js';
import { RedisProcess, freePort } from '../../test-support/redis-server.js';
import { API_KEY, Child, DEPLOY, JWT_SECRET, Peer, ROOT, backendServers, haproxyCommand, requireBinary, token, until } from './support.js';

/**
 * The reference deployment for real, without containers: three gateway nodes (`classwire serve`, the
 * built CLI) on one Redis, the Debian haproxy with deploy/haproxy/haproxy.cfg in front of them, and the
 * Debian prometheus with deploy/prometheus/ scraping them. The tests run in order on one cluster.
 */

const CLI = join(ROOT, 'packages/cli/dist/cli.js');
const NODE_NAMES = ['node1', 'node2', 'node3'] as const;

interface Node {
  name: string;
  port: number;
  child: Child;
}

let work: string;
let redis: RedisProcess | undefined;
/** The nodes' records database on the machine's Postgres (created and dropped here; the name is hex only). */
const recordsDatabase = `classwire_deploy_${randomUUID().replaceAll('-', '')}`;
let recordsCreated = false;
/** The school's webhook receiver: answers every delivery 204. */
let receiver: Server | undefined;
const nodes: Node[] = [];
let haproxy: Child | undefined;
let prometheus: Child | undefined;
let lbUrl: string;
let statsSocket: string;
let prometheusUrl: string;
const openPeers = new Set<Peer>();
/** The node each peer's current socket is on. */
const home = new Map<Peer, string>();
/** Connected in the first test, one on each node, members of room "lesson" throughout. */
let alice: Peer, bob: Peer, carol: Peer;

function node(name: string): Node {
  return nodes.find((n) => n.name === name)!;
}

function logs(): string {
  return [...nodes.map((n) => n.child), haproxy, prometheus]
    .filter((c) => c !== undefined)
    .map((c) => `--- ${c.name}:\n${c.output.slice(-3000)}`)
    .join('\n');
}

async function readyz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

/** `classwire_connections` of each running node, read from its own /metrics. */
async function connectionsPerNode(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const n of nodes.filter((n) => n.child.running)) {
    const text = await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text();
    counts[n.name] = Number(/^classwire_connections (\d+)$/m.exec(text)![1]);
  }
  return counts;
}

/** Waits until the nodes together hold exactly the sockets of the peers that are open. */
async function settled(): Promise<Record<string, number>> {
  return until('the nodes to count exactly the open peers', async () => {
    const counts = await connectionsPerNode();
    return Object.values(counts).reduce((a, b) => a + b, 0) === openPeers.size ? counts : undefined;
  });
}

/** Opens a WebSocket through HAProxy and finds the node it landed on (the one whose count went up). */
async function connectThroughHaproxy(user: string, headers: Record<string, string> = {}): Promise<Peer> {
  const before = await settled();
  const peer = await Peer.open(`${lbUrl}/ws?token=${await token(user)}`, headers);
  openPeers.add(peer);
  const after = await settled();
  const grown = Object.keys(after).filter((name) => after[name] !== before[name]);
  expect(grown).toHaveLength(1);
  home.set(peer, grown[0]!);
  return peer;
}

async function disconnect(peer: Peer): Promise<number> {
  peer.close();
  openPeers.delete(peer);
  const code = await peer.closeCode;
  await settled();
  return code;
}

async function promQuery(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

beforeAll(async () => {
  const haproxyBin = requireBinary('/usr/sbin/haproxy', 'haproxy');
  const prometheusBin = requireBinary('/usr/bin/prometheus', 'prometheus');
  requireBinary('/usr/bin/redis-server', 'redis-server');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  work = mkdtempSync(join(tmpdir(), 'cw-deploy-'));
  redis = await RedisProcess.start();
  // Records and a webhook endpoint on, as a school runs them: the alerts on recording and webhooks read
  // metrics a node exports only then.
  await postgresAdmin(`CREATE DATABASE ${recordsDatabase}`);
  recordsCreated = true;
  receiver = createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  for (const name of NODE_NAMES) {
    const port = await freePort();
    const child = new Child(name, process.execPath, [CLI, 'serve'], {
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      CLASSWIRE_NODE_ID: name,
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_JWT_SECRET: JWT_SECRET,
      CLASSWIRE_API_KEY: API_KEY,
      CLASSWIRE_DRAIN_TIMEOUT_MS: '2000',
      CLASSWIRE_DATABASE_URL: `${POSTGRES}/${recordsDatabase}`,
      CLASSWIRE_WEBHOOK_URL: receiverUrl,
      CLASSWIRE_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    });
    nodes.push({ name, port, child });
  }
  for (const n of nodes) await until(`${n.name} ready`, async () => ((await readyz(n.port)) === 200 ? true : undefined), 20_000, logs);

  const lbPort = await freePort();
  const statsPort = await freePort();
  lbUrl = `ws://127.0.0.1:${lbPort}`;
  statsSocket = join(work, 'haproxy.sock');
  haproxy = new Child('haproxy', haproxyBin, ['-f', join(DEPLOY, 'haproxy/haproxy.cfg')], {
    CLASSWIRE_LB_BIND: `127.0.0.1:${lbPort}`,
    HAPROXY_STATS_BIND: `127.0.0.1:${statsPort}`,
    HAPROXY_STATS_SOCKET: statsSocket,
    ...Object.fromEntries(nodes.map((n, i) => [`CLASSWIRE_NODE${i + 1}`, `127.0.0.1:${n.port}`])),
  });
  await until(
    'HAProxy to see every node UP',
    async () => {
      const servers = await backendServers(statsSocket, 'classwire');
      return NODE_NAMES.every((name) => servers.get(name)?.status === 'UP') ? true : undefined;
    },
    20_000,
    logs,
  );

  // Prometheus with the shipped configuration and rules, scraping every second instead of every 15 s,
  // with the targets of this test in its targets/ directory.
  const promDir = join(work, 'prometheus');
  mkdirSync(join(promDir, 'targets'), { recursive: true });
  const config = readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8');
  const fastConfig = config.replace('scrape_interval: 15s', 'scrape_interval: 1s').replace('evaluation_interval: 15s', 'evaluation_interval: 1s');
  expect(fastConfig).not.toContain('15s');
  writeFileSync(join(promDir, 'prometheus.yml'), fastConfig);
  writeFileSync(join(promDir, 'alerts.yml'), readFileSync(join(DEPLOY, 'prometheus/alerts.yml')));
  writeFileSync(join(promDir, 'targets/classwire-test.json'), JSON.stringify([{ targets: nodes.map((n) => `127.0.0.1:${n.port}`) }]));
  writeFileSync(join(promDir, 'targets/haproxy-test.json'), JSON.stringify([{ targets: [`127.0.0.1:${statsPort}`] }]));
  const promPort = await freePort();
  prometheusUrl = `http://127.0.0.1:${promPort}`;
  prometheus = new Child('prometheus', prometheusBin, [
    `--config.file=${join(promDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  await until('Prometheus to scrape all four targets', async () => ((await promQuery('count(up == 1)'))[0]?.value[1] === '4' ? true : undefined), 30_000, logs);
}, 90_000);

afterAll(async () => {
  for (const peer of openPeers) peer.close();
  await prometheus?.stop();
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.child.stop()));
  await redis?.stop();
  receiver?.close();
  if (recordsCreated) await postgresAdmin(`DROP DATABASE ${recordsDatabase} WITH (FORCE)`);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('three nodes behind the real HAProxy', () => {
  it('spreads WebSockets over the nodes (leastconn) and delivers a room across them in one order', async () => {
    alice = await connectThroughHaproxy('alice');
    bob = await connectThroughHaproxy('bob');
    carol = await connectThroughHaproxy('carol');
    expect(await connectionsPerNode()).toEqual({ node1: 1, node2: 1, node3: 1 });
    expect(new Set([alice, bob, carol].map((p) => home.get(p))).size).toBe(3);

    for (const [i, peer] of [alice, bob, carol].entries()) expect((await peer.join('lesson', `j${i}`)).type).toBe('joined');
    const ack = await alice.request({ action: 'publish', room: 'lesson', event: 'chat.message', data: { text: 'page 12' } }, 'm1');
    expect(ack).toMatchObject({ type: 'ack', seq: expect.any(Number) });
    for (const peer of [alice, bob, carol]) {
      const message = await peer.next((f) => f.type === 'message' && f.id === 'm1');
      expect(message).toMatchObject({ seq: ack.seq, data: { text: 'page 12' }, from: { userId: 'alice' } });
    }
  });

  it('passes the client address on in X-Forwarded-For, replacing one the client made up', async () => {
    const mallory = await connectThroughHaproxy('mallory', { 'X-Forwarded-For': '203.0.113.9' });
    const joined = await mallory.join('lesson', 'j-mallory');
    const response = await fetch(`${lbUrl.replace('ws', 'http')}/@connections/${encodeURIComponent(joined.connectionId as string)}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { identity: { sourceIp: string } }).identity.sourceIp).toBe('127.0.0.1');
    expect(await disconnect(mallory)).toBe(1000);
  });

  it('does not expose the nodes\' /metrics through the load balancer', async () => {
    expect((await fetch(`${lbUrl.replace('ws', 'http')}/metrics`)).status).toBe(404);
    expect((await fetch(`${lbUrl.replace('ws', 'http')}/healthz`)).status).toBe(200);
  });
});

describe('Prometheus against the live cluster', () => {
  it('answers every dashboard panel query with data', async () => {
    // Something for each panel to show: acked publishes, an error frame and a close.
    const dave = await connectThroughHaproxy('dave');
    await dave.join('lesson', 'j-dave');
    for (let i = 0; i < 5; i++) expect((await dave.request({ action: 'publish', room: 'lesson', event: 'chat.message', data: { text: `n${i}` } }, `d${i}`)).type).toBe('ack');
    expect(await dave.request({ action: 'no-such-action' }, 'bad')).toMatchObject({ type: 'error', code: 'bad_request' });
    await disconnect(dave);

    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/dashboards/classwire.json'), 'utf8')) as {
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThanOrEqual(dashboard.panels.filter((p) => p.type !== 'row').length);
    // Grafana's range variable, fixed to a window the test's traffic falls in.
    const instant = queries.map((q) => ({ ...q, expr: q.expr.replaceAll('$__rate_interval', '1m') }));
    expect(instant.every((q) => !q.expr.includes('$'))).toBe(true);

    const empty = new Set(instant.map((q) => `${q.panel}: ${q.expr}`));
    await until(
      'every panel query to return a number',
      async () => {
        for (const q of instant) {
          const key = `${q.panel}: ${q.expr}`;
          if (!empty.has(key)) continue;
          const result = await promQuery(q.expr);
          if (result.some((sample) => !Number.isNaN(Number(sample.value[1])))) empty.delete(key);
        }
        return empty.size === 0 ? true : undefined;
      },
      30_000,
      () => `still without data:\n${[...empty].join('\n')}`,
    );
  }, 45_000);

  it('loads the alert rules, has every metric they read, and evaluates each of them without error', async () => {
    const response = await fetch(`${prometheusUrl}/api/v1/rules?type=alert`);
    const body = (await response.json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual([
      'ClasswireAcksFailing',
      'ClasswireEventLoopLag',
      'ClasswireHeapNearLimit',
      'ClasswireMemoryNearLimit',
      'ClasswireNodeDown',
      'ClasswireRecorderBehind',
      'ClasswireRecordingFailing',
      'ClasswireRedisUnavailable',
      'ClasswireResumesNotRecovered',
      'ClasswireSlowConsumersRising',
      'ClasswireWebhooksDeadLettering',
      'ClasswireWebhooksFailing',
    ]);
    // Every metric an alert reads (or its runbook names) is exported by the live nodes: a renamed metric
    // would leave its alert quiet forever.
    const alertSource = readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8');
    const metrics = new Set([...alertSource.matchAll(/\b((?:classwire|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1]!));
    expect(metrics.size).toBeGreaterThanOrEqual(10);
    for (const metric of metrics) expect(await promQuery(`count(${metric})`), metric).not.toEqual([]);
    await until('every rule evaluated', async () => {
      const latest = (await (await fetch(`${prometheusUrl}/api/v1/rules?type=alert`)).json()) as typeof body;
      const health = latest.data.groups.flatMap((g) => g.rules).map((r) => `${r.name}: ${r.health}${r.lastError ? ` ${r.lastError}` : ''}`);
      return health.every((h) => h.endsWith(': ok')) ? true : undefined;
    });
  });
});

describe('taking a node out', () => {
  it('drains a node through the runtime API: no new connections there, the open ones stay', async () => {
    const drained = home.get(alice)!;
    const before = await connectionsPerNode();
    expect(await haproxyCommand(statsSocket, `set server classwire/${drained} state drain`)).toBe('\n');
    expect((await backendServers(statsSocket, 'classwire')).get(drained)?.status).toBe('DRAIN');

    const newcomers = [];
    for (const user of ['erin', 'frank', 'grace', 'heidi']) newcomers.push(await connectThroughHaproxy(user));
    expect(newcomers.map((p) => home.get(p)).filter((name) => name === drained)).toEqual([]);
    expect((await connectionsPerNode())[drained]).toBe(before[drained]);

    // Alice, on the drained node, is still served there.
    const ack = await bob.request({ action: 'publish', room: 'lesson', event: 'chat.message', data: { text: 'still there?' } }, 'b-drain');
    expect(await alice.next((f) => f.type === 'message' && f.seq === ack.seq)).toMatchObject({ data: { text: 'still there?' } });

    expect(await haproxyCommand(statsSocket, `set server classwire/${drained} state ready`)).toBe('\n');
    expect((await backendServers(statsSocket, 'classwire')).get(drained)?.status).toBe('UP');
    for (const peer of newcomers) await disconnect(peer);
  });

  it('takes a node that stops (SIGTERM) out; its clients reconnect through HAProxy and resume without a gap', async () => {
    const stopping = node(home.get(bob)!);
    const bobClosed = bob.closeCode;
    process.kill(stopping.child.process.pid!, 'SIGTERM');
    expect(await bobClosed).toBe(4000);

    // Published while Bob is away: the resume must bring it.
    const missed = await alice.request({ action: 'publish', room: 'lesson', event: 'chat.message', data: { text: 'while you were away' } }, 'a-away');
    expect(missed.type).toBe('ack');

    await bob.reconnect();
    const resumed = await bob.join('lesson', 'j-bob-again');
    expect(resumed).toMatchObject({ type: 'joined', recovered: true });
    const replayed = bob.frames.filter((f) => f.type === 'message' && f.id === 'a-away');
    expect(replayed).toHaveLength(1);
    expect(replayed[0]!.seq).toBe(missed.seq);

    expect(await stopping.child.exited).toBe(0);
    await until(
      `HAProxy to mark ${stopping.name} DOWN`,
      async () => ((await backendServers(statsSocket, 'classwire')).get(stopping.name)?.status === 'DOWN' ? true : undefined),
      15_000,
      logs,
    );
    const remaining = NODE_NAMES.filter((name) => name !== stopping.name);
    expect(Object.keys(await connectionsPerNode()).sort()).toEqual(remaining);
    // Bob is back on one of the remaining nodes, and the room still works.
    const ack = await carol.request({ action: 'publish', room: 'lesson', event: 'chat.message', data: { text: 'welcome back' } }, 'c-back');
    expect(await bob.next((f) => f.type === 'message' && f.seq === ack.seq)).toMatchObject({ data: { text: 'welcome back' } });
  });
});
