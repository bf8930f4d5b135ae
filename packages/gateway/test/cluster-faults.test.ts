import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { connect, type ClasswireClient, type OpenEventMap, type ResetInfo, type RoomMessage } from '../../client/src/node.js';
import type { Gateway } from '../src/index.js';
import { SECRET, TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess, freePort } from '../../../test-support/redis-server.js';

const CLI = fileURLToPath(new URL('../../cli/dist/cli.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A gateway node as its own process, so it can be killed with SIGKILL. */
async function spawnNode(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CLASSWIRE_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: 'ignore',
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 20_000);
  return child;
}

function sdk(url: string, token: string): ClasswireClient<OpenEventMap> {
  const client = connect<OpenEventMap>({ url, token, reconnect: { baseDelayMs: 50, maxDelayMs: 500 }, ackTimeoutMs: 3000, gapTimeoutMs: 200 });
  cleanups.push(() => client.close());
  return client;
}

/** How many failovers the Sentinels carried out so far (the master's config epoch). */
async function failovers(sentinel: RedisProcess, name: string): Promise<number> {
  const client = new Redis(sentinel.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const fields = (await client.call('SENTINEL', 'MASTER', name)) as string[];
    return Number(fields[fields.indexOf('config-epoch') + 1]);
  } finally {
    client.disconnect();
  }
}

/** Pauses every client of the primary the Sentinels name now, for `ms` (a stalled primary). */
async function stallPrimary(sentinel: RedisProcess, name: string, ms: number): Promise<void> {
  const ask = new Redis(sentinel.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  ask.on('error', () => {});
  const [host, port] = (await ask.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).finally(() => ask.disconnect())) as string[];
  const primary = new Redis(Number(port), host!, { maxRetriesPerRequest: 1 });
  primary.on('error', () => {});
  await primary.call('CLIENT', 'PAUSE', String(ms), 'ALL').finally(() => primary.disconnect());
}

/**
 * Publishes `data` and waits until the reader has it. A reset after the publish may cover it instead (a
 * failover renewed the epochs before the reader got it): then publishes again, at most `attempts` times.
 * Returns the data of the message the reader received.
 */
async function publishUntilReceived(
  publish: (data: string) => Promise<number | undefined>,
  received: RoomMessage[],
  resets: ResetInfo[],
  data: string,
  attempts = 3,
): Promise<{ seqs: number[]; got: string }> {
  const seqs: number[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const resetsBefore = resets.length;
    const sent = `${data} #${attempt}`;
    seqs.push((await publish(sent))!);
    const arrived = () => received.some((m) => m.data === sent);
    // A reset and then the message, or the message alone; a reset alone means it was skipped.
    await eventually(() => arrived() || resets.length > resetsBefore, 30_000);
    await eventually(arrived, 2_000).catch(() => undefined);
    if (arrived()) return { seqs, got: sent };
  }
  throw new Error(`the reader got a reset instead of each of ${attempts} messages`);
}

interface Tally {
  acked: number;
  delivered: number[];
  lost: number;
  duplicated: number;
}

function tally(ackedSeqs: number[], received: RoomMessage[]): Tally {
  const seqs = received.map((m) => m.seq!);
  const unique = new Set(seqs);
  return {
    acked: ackedSeqs.length,
    delivered: [seqs.length],
    lost: ackedSeqs.filter((s) => !unique.has(s)).length,
    duplicated: seqs.length - unique.size,
  };
}


/**
 * A new client joined to `room` on `url` (a gateway or its address). Retried until it joins (20 s at most): a node still reconnecting
 * to the new primary, or a second Sentinel failover under load, refuses the connect or the join for a
 * moment, which is the outage's answer, not a loss; the storage checks come after.
 */
async function joinedOnceSettled(url: Parameters<typeof TestClient.connect>[0], room: string, extra: Record<string, unknown> = {}): Promise<{ client: TestClient; joined: Awaited<ReturnType<TestClient['join']>> }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    let client: TestClient | undefined;
    try {
      client = await TestClient.connect(url, await makeToken({ rooms: [room] }));
      return { client, joined: await client.join(room, extra) };
    } catch (error) {
      await client?.close();
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
describe('kill -9 of a gateway node mid-stream', () => {
  it('moves its clients to the other nodes with every acked message delivered once, in order, and expires its presence', async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.kill());
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_NODE_TTL_MS: '1500', CLASSWIRE_RATE_PER_SECOND: '2000', CLASSWIRE_RATE_BURST: '2000' };
    const children = await Promise.all(ports.map((port, i) => spawnNode(port, { ...env, CLASSWIRE_NODE_ID: `proc-${i}` })));
    const balancer = new FaultProxy(ports);
    await balancer.start();
    cleanups.push(() => balancer.stop());

    // A watcher on node 0 (never killed), and a user who can only reach node 2 (the one that dies).
    const watcher = await TestClient.connect(`http://127.0.0.1:${ports[0]}`, await makeToken({ sub: 'watcher', rooms: ['lesson'] }));
    await watcher.join('lesson');
    const stranded = sdk(`ws://127.0.0.1:${ports[2]}/ws`, await makeToken({ sub: 'stranded', rooms: ['lesson'] }));
    await stranded.join('lesson').ready;
    await watcher.next((f) => f.type === 'presence' && f.action === 'join' && (f.member as { userId: string }).userId === 'stranded');

    const members = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const client = sdk(balancer.wsUrl, await makeToken({ sub: `member-${i}`, rooms: ['lesson'] }));
        const room = client.join('lesson');
        await room.ready;
        const received: RoomMessage[] = [];
        const resets: ResetInfo[] = [];
        room.on('lesson.note', (m) => received.push(m));
        room.onReset((r) => resets.push(r));
        return { client, room, received, resets };
      }),
    );
    const publishers = members.slice(0, 3);
    const perPublisher = 60;
    const acked: number[] = [];
    let killedAt = 0;
    await Promise.all(
      publishers.map(async ({ room }, p) => {
        for (let i = 0; i < perPublisher; i++) {
          if (p === 0 && i === 20) {
            children[2]!.kill('SIGKILL');
            killedAt = Date.now();
          }
          acked.push((await room.publish('lesson.note', { p, i }))!);
          await new Promise((r) => setTimeout(r, 3));
        }
      }),
    );
    const total = publishers.length * perPublisher;
    expect([...acked].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const member of members) {
      await eventually(() => member.received.length >= total, 20_000);
      const result = tally(acked, member.received);
      expect(result).toEqual({ acked: total, delivered: [total], lost: 0, duplicated: 0 });
      expect(member.received.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(member.resets).toEqual([]);
    }
    // Each publisher's own messages kept their order.
    for (let p = 0; p < publishers.length; p++) {
      const own = members[0]!.received.filter((m) => (m.data as { p: number }).p === p).map((m) => (m.data as { i: number }).i);
      expect(own).toEqual(Array.from({ length: perPublisher }, (_, i) => i));
    }
    // The stranded user's node is dead: it leaves presence once the node's liveness expires and a peer reaps it.
    await watcher.next((f) => f.type === 'presence' && f.action === 'leave' && (f.member as { userId: string }).userId === 'stranded', 10_000);
    const presenceExpiredAfterMs = Date.now() - killedAt;
    console.log(
      `kill -9 node: ${total} acked, ${total} delivered to each of ${members.length} members, 0 lost, 0 duplicated; ` +
        `stranded user left presence ${presenceExpiredAfterMs} ms after the kill (node TTL 1500 ms)`,
    );
    expect(presenceExpiredAfterMs).toBeLessThan(10_000);
    await watcher.close();
  }, 90_000);
});

describe('Sentinel failover', () => {
  it('resumes on the new primary by itself, loses no acked message, and answers errors (not acks) during the outage', async () => {
    const primary = await RedisProcess.start();
    const replicas = [await RedisProcess.start({ replicaOf: primary.port }), await RedisProcess.start({ replicaOf: primary.port })];
    cleanups.push(() => primary.kill(), ...replicas.map((r) => () => r.kill()));
    for (const replica of replicas) await replica.waitForReplicaSync();
    // Sentinel's 1 s down-after made a second, spurious failover in 5 of 12 runs on a loaded 2-core machine
    // (the new primary stalled for a second); each one renews every epoch again, after any point this test
    // waits for (docs/reliability.md). 2.5 s keeps the kill's detection quick.
    const sentinels = await Promise.all([0, 1, 2].map(() => RedisProcess.sentinel(primary.port, 'cwmaster', 2, 2500)));
    cleanups.push(...sentinels.map((s) => () => s.kill()));
    const env = {
      CLASSWIRE_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      CLASSWIRE_REDIS_MASTER_NAME: 'cwmaster',
      CLASSWIRE_REDIS_WAIT_REPLICAS: '1',
      CLASSWIRE_REDIS_WAIT_TIMEOUT_MS: '500',
      CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: '500',
      CLASSWIRE_NODE_TTL_MS: '3000',
      CLASSWIRE_RATE_PER_SECOND: '2000',
      CLASSWIRE_RATE_BURST: '2000',
    };
    const a: Gateway = await startTestGateway({ ...env, CLASSWIRE_NODE_ID: 'sentinel-a' });
    const b: Gateway = await startTestGateway({ ...env, CLASSWIRE_NODE_ID: 'sentinel-b' });
    cleanups.push(() => a.drain(), () => b.drain());
    const url = (g: Gateway) => `${g.url.replace('http', 'ws')}/ws`;
    const writer = sdk(url(a), await makeToken({ rooms: ['ha'] }));
    const reader = sdk(url(b), await makeToken({ rooms: ['ha'] }));
    const writeRoom = writer.join('ha');
    const readRoom = reader.join('ha');
    await Promise.all([writeRoom.ready, readRoom.ready]);
    const received: RoomMessage[] = [];
    readRoom.on('lesson.note', (m) => received.push(m));
    const resets: ResetInfo[] = [];
    readRoom.onReset((r) => resets.push(r));

    const total = 60;
    const acked: number[] = [];
    let killedAt = 0;
    let firstAckAfterKill = 0;
    for (let i = 0; i < total; i++) {
      if (i === 20) {
        await primary.kill();
        killedAt = Date.now();
      }
      acked.push((await writeRoom.publish('lesson.note', i))!);
      if (killedAt > 0 && firstAckAfterKill === 0) firstAckAfterKill = Date.now();
    }
    // Both nodes noticed the new primary (a new replication id): rooms got new epochs, local members were
    // asked to resume. A last message, published after that, reaches the reader only once it caught up.
    const lostCount = async (g: Gateway) => (await g.metrics.historyLost.get()).values[0]?.value ?? 0;
    await eventually(async () => (await lostCount(a)) >= 1 && (await lostCount(b)) >= 1, 20_000);
    // And the reader resumed in the new epoch (its reset): published before that, the last message would
    // be inside the position its reset starts from, never delivered as a message. That was this test's
    // flake: the reader's reset at the last acked seq, after one failover, the reader still joined.
    await eventually(() => resets.length >= 1 && readRoom.state === 'joined', 20_000);
    acked.push((await writeRoom.publish('lesson.note', total))!);
    // Unless a later failover renewed the epochs again and the reader's reset covers it (then the storage
    // checks below do not hold either: that failover may lose acknowledged messages, see docs/reliability.md).
    await eventually(() => received.some((m) => m.data === total), 30_000).catch(async (error: unknown) => {
      // Seen under the full suite's load only: what the reader was left with, for whoever finds the race.
      const failoverCount = await failovers(sentinels[0]!, 'cwmaster').catch(() => undefined);
      console.log(
        'reader stuck after the failover',
        JSON.stringify({ state: readRoom.state, last: received.map((m) => [m.seq, m.data]).slice(-8), resets, acked: acked.slice(-5), failovers: failoverCount }),
      );
      throw error;
    });

    // Storage: the new primary holds every acknowledged message exactly once, in publish order.
    const { client: auditor, joined: position } = await joinedOnceSettled(b, 'ha');
    const { client: replay, joined: full } = await joinedOnceSettled(b, 'ha', { since: 0, epoch: position.epoch });
    expect(full.recovered).toBe(true);
    const stored = replay.messages('ha');
    expect(stored.map((f) => f.data)).toEqual(Array.from({ length: total + 1 }, (_, i) => i));
    for (const seq of acked) expect(stored.some((f) => f.seq === seq)).toBe(true);
    // The live reader: the failover gave every room a new epoch (the new primary may lack writes that were
    // already delivered), so the reader was told with a reset; before and after it, no gap and no
    // duplicate, and everything acknowledged after the reset point arrived.
    // One reset, or two when the reader's node also saw the gap before the new epoch reached it.
    expect(resets.length).toBeGreaterThanOrEqual(1);
    expect(resets.length).toBeLessThanOrEqual(2);
    const cut = resets.at(-1)!.seq;
    const segments: number[][] = [];
    for (const message of received) {
      const last = segments.at(-1);
      if (last !== undefined && message.seq! === last.at(-1)! + 1) last.push(message.seq!);
      else segments.push([message.seq!]);
    }
    // One gapless run, or two when the reset came with a jump; never more.
    expect(segments.length).toBeLessThanOrEqual(resets.length + 1);
    for (const seq of acked.filter((s) => s > cut)) expect(received.some((m) => m.seq === seq)).toBe(true);
    await Promise.all([auditor.close(), replay.close()]);
    const failoverCount = await failovers(sentinels[0]!, 'cwmaster');
    const unavailable = (await a.metrics.errors.get()).values.find((v) => v.labels.code === 'unavailable')?.value ?? 0;
    expect(unavailable).toBeGreaterThan(0);
    console.log(
      `sentinel failover: ${total} acked and stored once each (0 lost, 0 duplicated); reader got ${received.length} live with ${resets.length} reset; ` +
        `${unavailable} publishes refused during the outage; acks resumed ${firstAckAfterKill - killedAt} ms after the kill; ${failoverCount} failover(s)`,
    );

    // Later, the new primary stalls for longer than the Sentinels wait (what a loaded machine did to the
    // one they had just promoted): they fail over again and every epoch is renewed once more. The reader
    // is told with a reset, and then gets what is published; a message published around the switch may
    // be covered by that reset rather than delivered (the flake of 2026-12-05 was this, with a last
    // message the test waited for in vain).
    const resetsBeforeStall = resets.length;
    const stalledAt = Date.now();
    await stallPrimary(sentinels[0]!, 'cwmaster', 6_000);
    await eventually(async () => (await failovers(sentinels[0]!, 'cwmaster')) > failoverCount, 30_000);
    const afterStall = await publishUntilReceived((data) => writeRoom.publish('lesson.note', data), received, resets, 'after the stall');
    expect(resets.length).toBeGreaterThan(resetsBeforeStall);
    expect(resets.at(-1)!.epoch).not.toBe(resets[resetsBeforeStall - 1]!.epoch);
    console.log(
      `sentinel failover after a ${6_000} ms stall: the reader got ${resets.length - resetsBeforeStall} reset(s), then "${afterStall.got}" ` +
        `${Date.now() - stalledAt} ms after the stall began`,
    );
  }, 150_000);
});
