import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { composeMessageFrame, encodeMessageBody } from '@classwire/protocol';
import { StoreUnavailableError, type ConnectionRecord } from '@classwire/core';
import { RedisBroker, RedisPresence, RedisRegistry, RedisRoomLog, redisKeys } from '../src/redis/index.js';
import { decodeRoomPublication, type MessagePublication } from '../src/redis/wire.js';
import { describeBrokerContract } from './contracts/broker.contract.js';
import { describeRegistryContract } from './contracts/registry.contract.js';
import { describePresenceContract } from './contracts/presence.contract.js';
import { RedisProcess, freePort, waitFor } from '../../../test-support/redis-server.js';

let server: RedisProcess;
let redis: Redis;

beforeAll(async () => {
  server = await RedisProcess.start();
  redis = server.client();
});

afterAll(async () => {
  await server?.stop();
});

const keys = redisKeys();

// Room names, connection ids and users are unique per suite run, so the suites share one database.
describeBrokerContract('RedisBroker', ({ maxMessages, maxAgeMs, now, delivery }) => {
  const log = new RedisRoomLog(redis, { maxMessages, maxAgeMs, now });
  return new RedisBroker({ log, redis, subscriber: server.client(), delivery });
});
describeRegistryContract('RedisRegistry', () => new RedisRegistry(redis));
describeRegistryContract('RedisRegistry caching node-a', () => {
  const registry = new RedisRegistry(redis, { localNode: 'node-a' });
  registry.trustLocalUntil(Number.MAX_SAFE_INTEGER);
  return registry;
});
describePresenceContract('RedisPresence', () => new RedisPresence(redis));

const SENDER = { userId: 'u1', role: 'student', name: 'Ada' } as const;
const body = (text: string, id?: string): string => encodeMessageBody('chat.message', { text }, SENDER, id);
let counter = 0;
const unique = (label: string): string => `${label}-${process.pid}-${++counter}`;

/** Subscribes a fresh client to a room's channel and collects the decoded message publications. */
async function listen(room: string) {
  const subscriber = server.client();
  const received: MessagePublication[] = [];
  subscriber.on('messageBuffer', (_channel: Buffer, payload: Buffer) => {
    const publication = decodeRoomPublication(payload);
    if (publication.kind === 'message') received.push(publication);
  });
  await subscriber.subscribe(keys.roomChannel(room));
  return { received, subscriber };
}

describe('RedisRoomLog on Redis', () => {
  it('publishes every new message on the room channel in seq order, for concurrent appends from two clients', async () => {
    const room = unique('pub');
    const { received } = await listen(room);
    const a = new RedisRoomLog(server.client());
    const b = new RedisRoomLog(server.client());
    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).append(room, body(`m${i}`))));
    await waitFor('60 publications', () => Promise.resolve(received.length >= 60), 5000);
    expect(received.map((p) => p.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const stored = await a.read(room, 0);
    for (const [i, p] of received.entries()) {
      expect(p.epoch).toBe(stored.epoch);
      expect(p.frame.toString()).toBe(stored.messages[i]!.frame);
    }
  });

  it('without pubsub (the AWS runtime), an append publishes nothing', async () => {
    const room = unique('no-pubsub');
    const { received } = await listen(room);
    const silent = new RedisRoomLog(redis, { pubsub: false });
    expect(await silent.append(room, body('unpublished'))).toMatchObject({ seq: 1, duplicate: false });
    expect(await redis.pubsub('NUMSUB', keys.roomChannel(room))).toEqual([keys.roomChannel(room), 1]);
    await new RedisRoomLog(redis).append(room, body('marker'));
    // Pub/sub keeps order: a publication of seq 1 would have arrived before the marker's.
    await waitFor('the marker', () => Promise.resolve(received.length >= 1), 5000);
    expect(received.map((p) => p.seq)).toEqual([2]);
  });

  it('keeps room state for as long as the room is read: state keys expire with the meta TTL, reads extend it', async () => {
    const room = unique('state-ttl');
    const log = new RedisRoomLog(redis, { metaTtlMs: 60_000, maxAgeMs: 1000 });
    await log.append(room, body('x'), { effects: { ops: [{ op: 'set', collection: 'control', field: 'chatLocked', value: '1' }] } });
    const key = keys.roomState(room, 'control');
    const ttl = Number(await redis.pttl(key));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await redis.pexpire(key, 500);
    const state = await log.readState(room, { control: 'all' });
    expect(state.collections.control).toEqual({ chatLocked: '1' });
    expect(Number(await redis.pttl(key))).toBeGreaterThan(50_000);
  });

  it('keeps a hash, never the body, per publish id: max-size publishes cost a bounded number of bytes per room', async () => {
    const room = unique('bounded');
    const maxMessages = 20;
    const log = new RedisRoomLog(redis, { maxMessages });
    const text = (i: number) => `${i}:`.padEnd(32 * 1024 - 200, 'x');
    const publishes = 60;
    for (let i = 0; i < publishes; i++) await log.append(room, body(text(i), `k${i}`), { dedupKey: `u1:k${i}` });
    const usage = async (key: string) => Number(await redis.memory('USAGE', key));
    // docs/security.md: a dedup key costs at most 256 bytes, whatever the message size.
    for (let i = 0; i < publishes; i++) expect(await usage(keys.roomDedup(room, `u1:k${i}`))).toBeLessThanOrEqual(256);
    // The stream holds maxMessages frames and little else.
    expect(await usage(keys.roomStream(room))).toBeLessThan(maxMessages * 32 * 1024 * 1.1);
    // Same semantics as before: a retry of a kept message is a duplicate, a changed body a conflict, by hash.
    expect(await log.append(room, body(text(59), 'k59'), { dedupKey: 'u1:k59' })).toMatchObject({ seq: 60, duplicate: true, conflict: false });
    expect(await log.append(room, body('changed', 'k59'), { dedupKey: 'u1:k59' })).toMatchObject({ seq: 60, duplicate: true, conflict: true });
    // A trimmed original (old) still answers as a duplicate.
    expect(await log.append(room, body(text(0), 'k0'), { dedupKey: 'u1:k0' })).toMatchObject({ seq: 1, duplicate: true, conflict: false });
  });

  it('hashes a body on the node exactly as redis.sha1hex does, so a retry is recognised whatever the text (unicode, escapes)', async () => {
    const room = unique('hash');
    const log = new RedisRoomLog(redis);
    const b = body('ü 😀 "q" \\ \n \u2028 </script> 中文', 'h1');
    const first = await log.append(room, b, { dedupKey: 'u1:h1' });
    // The duplicate check re-hashes the stored body inside the script and compares it with the node's hash.
    expect(await log.append(room, b, { dedupKey: 'u1:h1' })).toMatchObject({ seq: first.seq, duplicate: true, conflict: false });
    const stored = await redis.get(keys.roomDedup(room, 'u1:h1'));
    const inRedis = await redis.eval('return redis.sha1hex(ARGV[1])', 0, b);
    expect(stored?.split('\n')[3]).toBe(inRedis);
    // A dedup value written by a node that hashed in the script (an older version) reads the same.
    await redis.set(keys.roomDedup(room, 'u1:h2'), `${first.epoch}\n${first.seq}\n${first.ts}\n${String(inRedis)}`);
    expect(await log.append(room, b, { dedupKey: 'u1:h2' })).toMatchObject({ seq: first.seq, duplicate: true, conflict: false });
  });

  it('frames from read, pub/sub and composeMessageFrame are identical (escapes, unicode, a room with JSON specials)', async () => {
    const room = `${unique('esc')}"\\/é`;
    const { received } = await listen(room);
    const log = new RedisRoomLog(redis, { now: () => 1_700_000_000_123 });
    const b = encodeMessageBody('chat.message', { text: 'a "q" \\ \n ü 😀 </script>' }, SENDER, 'id-1');
    await log.append(room, b);
    const frame = composeMessageFrame(room, 1, 1_700_000_000_123, b);
    expect((await log.read(room, 0)).messages).toEqual([{ seq: 1, frame }]);
    await waitFor('the publication', () => Promise.resolve(received.length >= 1), 5000);
    // The gateway's decode of the raw payload: the same frame, as the bytes sockets are sent.
    expect(received[0]!.frame.equals(Buffer.from(frame))).toBe(true);
  });

  it('uses the documented keys: a stream with ID seq-0 and fields t and b, and a meta hash', async () => {
    const room = unique('keys');
    const log = new RedisRoomLog(redis, { prefix: 'kp', now: () => 42 });
    await log.append(room, body('x'), { dedupKey: 'dk' });
    expect(await redis.xrange(`kp:{${room}}:log`, '-', '+')).toEqual([['1-0', ['t', '42', 'b', body('x')]]]);
    expect(await redis.hget(`kp:{${room}}:meta`, 'seq')).toBe('1');
    expect(await redis.exists(`kp:{${room}}:d:dk`)).toBe(1);
    expect(await redis.pttl(`kp:{${room}}:meta`)).toBeGreaterThan(86_000_000);
  });

  it('a data loss (FLUSHALL) changes the epoch: an old since is not recovered and numbering restarts', async () => {
    const room = unique('flush');
    const log = new RedisRoomLog(redis);
    for (let i = 0; i < 3; i++) await log.append(room, body(`m${i}`), { dedupKey: `k${i}` });
    const before = await log.read(room, 1);
    expect(before.recovered).toBe(true);

    await redis.flushall();

    const after = await log.read(room, 2, before.epoch);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after).toMatchObject({ seq: 0, recovered: false, messages: [] });
    // Without the epoch argument, a since beyond the (new) seq is not recovered either.
    expect((await log.read(room, 2)).recovered).toBe(false);
    // The old dedup keys are gone with the rest: a retry is a new message in the new epoch.
    expect(await log.append(room, body('m0'), { dedupKey: 'k0' })).toMatchObject({ seq: 1, duplicate: false });
    expect((await log.read(room)).epoch).toBe(after.epoch);
  });

  it('a stream left without its meta (e.g. evicted) is dropped with the old generation', async () => {
    const room = unique('evicted');
    const log = new RedisRoomLog(redis);
    await log.append(room, body('a'), { dedupKey: 'k' });
    await log.append(room, body('b'));
    const { epoch } = await log.read(room);
    await redis.del(keys.roomMeta(room));
    const read = await log.read(room, 0, epoch);
    expect(read.epoch).not.toBe(epoch);
    expect(read).toMatchObject({ seq: 0, recovered: false, messages: [] });
    // The dedup key of the lost epoch does not answer for the new one.
    expect(await log.append(room, body('a'), { dedupKey: 'k' })).toMatchObject({ seq: 1, duplicate: false });
    expect((await log.read(room, 0)).messages.map((m) => m.seq)).toEqual([1]);
  });

  it('a gap longer than the replay cap is not recovered', async () => {
    const room = unique('cap');
    const log = new RedisRoomLog(redis, { maxMessages: 20_000 });
    const pipeline = redis.pipeline();
    // Build 10_001 entries directly, as append.lua would store them.
    pipeline.hset(keys.roomMeta(room), 'epoch', 'abcdef01', 'seq', 10_001);
    for (let seq = 1; seq <= 10_001; seq++) pipeline.xadd(keys.roomStream(room), `${seq}-0`, 't', Date.now(), 'b', body(`m${seq}`));
    await pipeline.exec();
    expect((await log.read(room, 0, 'abcdef01')).recovered).toBe(false);
    const read = await log.read(room, 1, 'abcdef01');
    expect(read.recovered).toBe(true);
    expect(read.messages).toHaveLength(10_000);
    expect(read.messages[0]!.seq).toBe(2);
  });

  it('appends drop aged entries from the stream every 32nd seq (a memory bound); reads never serve them', async () => {
    const clock = { now: 1_000_000 };
    const log = new RedisRoomLog(redis, { maxAgeMs: 1000, now: () => clock.now });
    const room = unique('aged');
    for (let i = 1; i <= 20; i++) await log.append(room, body(`old ${i}`));
    clock.now += 5000;
    for (let i = 21; i <= 31; i++) await log.append(room, body(`young ${i}`));
    expect(await redis.xlen(keys.roomStream(room))).toBe(31);
    await log.append(room, body('young 32'));
    expect(await redis.xlen(keys.roomStream(room))).toBe(12);
    expect((await log.read(room, 20)).messages.map((m) => m.seq)).toEqual(Array.from({ length: 12 }, (_, i) => 21 + i));
    const other = unique('aged-read');
    clock.now -= 5000;
    for (let i = 1; i <= 3; i++) await log.append(other, body(`old ${i}`));
    clock.now += 5000;
    await log.append(other, body('young'));
    const read = await log.read(other, 0);
    expect(read.recovered).toBe(false);
    expect((await log.read(other, 3)).messages.map((m) => m.seq)).toEqual([4]);
  });

  it('a room read but never published expires after maxAgeMs; one with messages after metaTtlMs', async () => {
    const log = new RedisRoomLog(redis, { maxAgeMs: 5000, metaTtlMs: 60_000 });
    const quiet = unique('quiet');
    await log.read(quiet);
    expect(await redis.pttl(keys.roomMeta(quiet))).toBeLessThanOrEqual(5000);
    const busy = unique('busy');
    await log.append(busy, body('x'));
    expect(await redis.pttl(keys.roomMeta(busy))).toBeGreaterThan(50_000);
    expect(await redis.pttl(keys.roomStream(busy))).toBeGreaterThan(50_000);
  });

  it('a state read keeps the room alive as a log read does (a classroom join reads only the state)', async () => {
    const log = new RedisRoomLog(redis, { maxAgeMs: 5000, metaTtlMs: 60_000 });
    const quiet = unique('quiet-state');
    await log.readState(quiet, { control: 'all' });
    const quietTtl = await redis.pttl(keys.roomMeta(quiet));
    expect(quietTtl).toBeGreaterThan(0);
    expect(quietTtl).toBeLessThanOrEqual(5000);
    const busy = unique('busy-state');
    await log.append(busy, body('x'));
    await redis.pexpire(keys.roomMeta(busy), 1000);
    await log.readState(busy, { control: 'all' });
    expect(await redis.pttl(keys.roomMeta(busy))).toBeGreaterThan(50_000);
  });

  it('rejects invalid options', () => {
    expect(() => new RedisRoomLog(redis, { maxMessages: 0 })).toThrow();
    expect(() => new RedisRoomLog(redis, { maxAgeMs: -1 })).toThrow();
  });
});

describe('RedisRoomLog batching the appends of one turn', () => {
  let own: RedisProcess;
  let client: Redis;

  beforeAll(async () => {
    // A server of its own: the tests count its script calls.
    own = await RedisProcess.start();
    client = own.client();
  });

  afterAll(async () => {
    await own?.stop();
  });

  /** Runs `work` and returns how many times each script command ran meanwhile. */
  async function scriptCalls(work: () => Promise<unknown>): Promise<{ evalsha: number; wait: number }> {
    await client.config('RESETSTAT');
    await work();
    const stats = await client.info('commandstats');
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    return { evalsha: calls('evalsha') + calls('eval'), wait: calls('wait') };
  }

  it('sends the appends of one turn, to any rooms, in one script call; each gets its own seq, in order per room', async () => {
    const log = new RedisRoomLog(client);
    const rooms = [unique('batch-a'), unique('batch-b'), unique('batch-c')];
    const subscriber = own.client();
    const received: { room: string; seq: number; frame: string }[] = [];
    subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
      const publication = decodeRoomPublication(payload);
      if (publication.kind === 'message') received.push({ room: channel.toString().slice(keys.roomChannel('').length), seq: publication.seq, frame: publication.frame.toString() });
    });
    await subscriber.subscribe(...rooms.map((room) => keys.roomChannel(room)));
    let results: Awaited<ReturnType<RedisRoomLog['append']>>[] = [];
    const calls = await scriptCalls(async () => {
      results = await Promise.all(Array.from({ length: 12 }, (_, i) => log.append(rooms[i % 3]!, body(`m${i}`))));
    });
    expect(calls.evalsha).toBe(1);
    expect(results.map((r) => r.seq)).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    await waitFor('12 publications', () => Promise.resolve(received.length >= 12), 5000);
    for (const [index, room] of rooms.entries()) {
      const stored = await log.read(room, 0);
      expect(stored.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      // Stored and published frames are those of the messages appended to that room, in append order.
      expect(stored.messages.map((m) => /"text":"(m\d+)"/.exec(m.frame)?.[1])).toEqual([0, 1, 2, 3].map((k) => `m${index + 3 * k}`));
      expect(received.filter((p) => p.room === room).map((p) => p.frame)).toEqual(stored.messages.map((m) => m.frame));
      expect(results.filter((_, i) => i % 3 === index).every((r) => r.epoch === stored.epoch)).toBe(true);
    }
  });

  it('deduplicates within a batch: the same publish id twice in one turn stores one message', async () => {
    const log = new RedisRoomLog(client);
    const room = unique('batch-dedup');
    const [first, retry, conflicting] = await Promise.all([
      log.append(room, body('hello', 'p'), { dedupKey: 'u1:p' }),
      log.append(room, body('hello', 'p'), { dedupKey: 'u1:p' }),
      log.append(room, body('other', 'p'), { dedupKey: 'u1:p' }),
    ]);
    expect(first).toMatchObject({ seq: 1, duplicate: false, conflict: false });
    expect(retry).toMatchObject({ seq: 1, ts: first!.ts, duplicate: true, conflict: false });
    expect(conflicting).toMatchObject({ seq: 1, duplicate: true, conflict: true });
    expect((await log.read(room, 0)).seq).toBe(1);
  });

  it('applies each message\'s state effects to its own room\'s keys, and a failed guard only fails its message', async () => {
    const log = new RedisRoomLog(client);
    const [a, b] = [unique('batch-state-a'), unique('batch-state-b')];
    const results = await Promise.all([
      log.append(a, body('a1'), { effects: { ops: [{ op: 'set', collection: 'control', field: 'v', value: 'a' }] } }),
      log.append(b, body('b1'), {
        effects: { ops: [{ op: 'set', collection: 'chat', field: 'x', value: '1' }, { op: 'set', collection: 'control', field: 'v', value: 'b' }] },
      }),
      log.append(a, body('a2'), {
        effects: { guards: [{ collection: 'control', field: 'v', value: 'not a' }], ops: [{ op: 'set', collection: 'control', field: 'v', value: 'lost' }] },
      }),
      log.append(b, body('b2'), { effects: { guards: [{ collection: 'control', field: 'v', value: 'b' }], ops: [{ op: 'add', collection: 'chat', field: 'n', by: 2 }] } }),
    ]);
    expect(results.map((r) => [r.seq, r.staleGuard])).toEqual([
      [1, undefined],
      [1, undefined],
      [0, 0],
      [2, undefined],
    ]);
    expect((await log.readState(a, { control: 'all', chat: 'all' })).collections).toEqual({ control: { v: 'a' }, chat: {} });
    expect((await log.readState(b, { control: 'all', chat: 'all' })).collections).toEqual({ control: { v: 'b' }, chat: { x: '1', n: '2' } });
    expect((await log.read(a, 0)).seq).toBe(1);
  });

  it('a failing message fails alone: the others of its batch are stored and answered', async () => {
    const log = new RedisRoomLog(client);
    const [good, bad] = [unique('batch-good'), unique('batch-bad')];
    await client.set(keys.roomMeta(bad), 'not a hash');
    const [before, failed, after] = await Promise.allSettled([log.append(good, body('1')), log.append(bad, body('x')), log.append(good, body('2'))]);
    expect(before).toMatchObject({ status: 'fulfilled', value: { seq: 1 } });
    expect(after).toMatchObject({ status: 'fulfilled', value: { seq: 2 } });
    expect(failed.status).toBe('rejected');
    const error = (failed as PromiseRejectedResult).reason as Error;
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
    expect(error.message).toMatch(/WRONGTYPE/);
    expect((await log.read(good, 0)).messages.map((m) => m.seq)).toEqual([1, 2]);
  });

  it('a reply error that means "not now" (OOM) fails its message as StoreUnavailableError', async () => {
    const log = new RedisRoomLog(client);
    const room = unique('batch-oom');
    await log.append(room, body('first'));
    await client.config('SET', 'maxmemory', '1');
    try {
      const settled = await Promise.allSettled([log.append(room, body('a')), log.append(room, body('b'))]);
      for (const outcome of settled) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
    } finally {
      await client.config('SET', 'maxmemory', '0');
    }
    expect((await log.read(room, 0)).seq).toBe(1);
  });

  it('bounds a batch by count and by bytes; maxBatch 1 sends each append on its own', async () => {
    const room = unique('batch-bounds');
    const appendAll = (log: RedisRoomLog, bodies: string[]) => () => Promise.all(bodies.map((b) => log.append(room, b)));
    const byCount = new RedisRoomLog(client, { maxBatch: 3 });
    expect((await scriptCalls(appendAll(byCount, Array.from({ length: 7 }, (_, i) => body(`c${i}`))))).evalsha).toBe(3);
    const byBytes = new RedisRoomLog(client, { maxBatchBytes: 2500 });
    expect((await scriptCalls(appendAll(byBytes, Array.from({ length: 6 }, () => body('y'.repeat(1000)))))).evalsha).toBe(3);
    const single = new RedisRoomLog(client, { maxBatch: 1 });
    expect((await scriptCalls(appendAll(single, Array.from({ length: 4 }, (_, i) => body(`s${i}`))))).evalsha).toBe(4);
    expect((await byCount.read(room, 0)).messages.map((m) => m.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
  });

  it('rejects invalid batch bounds', () => {
    expect(() => new RedisRoomLog(client, { maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => new RedisRoomLog(client, { maxBatch: 1.5 })).toThrow(/maxBatch/);
    expect(() => new RedisRoomLog(client, { maxBatchBytes: -1 })).toThrow(/maxBatchBytes/);
  });

  it('with WAIT, the appends of a batch share one WAIT; without a replica each fails as unavailable, yet is stored', async () => {
    const log = new RedisRoomLog(client, { waitReplicas: 1, waitTimeoutMs: 200 });
    const room = unique('batch-wait');
    let settled: PromiseSettledResult<unknown>[] = [];
    const calls = await scriptCalls(async () => {
      settled = await Promise.allSettled([log.append(room, body('1')), log.append(room, body('2')), log.append(room, body('3'))]);
    });
    expect(calls).toEqual({ evalsha: 1, wait: 1 });
    for (const outcome of settled) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    expect((await log.read(room, 0)).seq).toBe(3);
  });

  it('a killed server fails every append of a batch as StoreUnavailableError', async () => {
    const doomed = await RedisProcess.start();
    try {
      const log = new RedisRoomLog(doomed.client({ commandTimeout: 500, maxRetriesPerRequest: 1 }));
      const room = unique('batch-doomed');
      expect((await log.append(room, body('before'))).seq).toBe(1);
      await doomed.kill();
      const settled = await Promise.allSettled([log.append(room, body('a')), log.append(unique('batch-doomed'), body('b'))]);
      for (const outcome of settled) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    } finally {
      await doomed.stop();
    }
  });
});

describe('RedisRoomLog with WAIT', () => {
  let primary: RedisProcess;
  let replica: RedisProcess | undefined;

  beforeAll(async () => {
    // No 5 s wait for more replicas before a full sync.
    primary = await RedisProcess.start({ args: ['--repl-diskless-sync-delay', '0'] });
  });

  afterAll(async () => {
    await replica?.stop();
    await primary?.stop();
  });

  it('without a replica, append throws StoreUnavailableError within waitTimeoutMs, yet the message is stored', async () => {
    const log = new RedisRoomLog(primary.client(), { waitReplicas: 1, waitTimeoutMs: 300 });
    const room = unique('wait');
    const started = Date.now();
    await expect(log.append(room, body('hello', 'k'), { dedupKey: 'u1:k' })).rejects.toBeInstanceOf(StoreUnavailableError);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    // Stored on the primary: readable, and a retry is answered as the duplicate (and waits again).
    expect((await log.read(room, 0)).messages.map((m) => m.seq)).toEqual([1]);
    await expect(log.append(room, body('hello', 'k'), { dedupKey: 'u1:k' })).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await log.read(room, 0)).seq).toBe(1);
    // A conflicting retry does not wait: the conflict is the answer.
    expect(await log.append(room, body('other', 'k'), { dedupKey: 'u1:k' })).toMatchObject({ seq: 1, duplicate: true, conflict: true });
  });

  it('with a connected replica, append succeeds, and a retry of an unacknowledged append is acknowledged', async () => {
    const client = primary.client();
    const log = new RedisRoomLog(client, { waitReplicas: 1, waitTimeoutMs: 2000 });
    const room = unique('wait-ok');
    const unreplicated = new RedisRoomLog(client, { waitReplicas: 1, waitTimeoutMs: 100 });
    await expect(unreplicated.append(room, body('early', 'e'), { dedupKey: 'u1:e' })).rejects.toBeInstanceOf(StoreUnavailableError);

    replica = await RedisProcess.start({ replicaOf: primary.port });
    const replicaClient = replica.client();
    await waitFor('the replica link', async () => (await replicaClient.info('replication')).includes('master_link_status:up'));

    expect(await log.append(room, body('early', 'e'), { dedupKey: 'u1:e' })).toMatchObject({ seq: 1, duplicate: true, conflict: false });
    expect(await log.append(room, body('hello'))).toMatchObject({ seq: 2, duplicate: false });
    await waitFor('the replicated meta', async () => (await replicaClient.hget(keys.roomMeta(room), 'seq')) === '2');
  });
});

describe('RedisRoomLog and friends when Redis is unreachable', () => {
  it('a client that cannot connect makes every operation throw StoreUnavailableError, fast', async () => {
    const port = await freePort();
    const dead = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 500,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    try {
      const log = new RedisRoomLog(dead);
      const registry = new RedisRegistry(dead);
      const presence = new RedisPresence(dead);
      const started = Date.now();
      await expect(log.append('r', body('x'))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(log.read('r', 0)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(registry.get('c')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(registry.remove('c')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(registry.touch(['c'])).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(presence.add('r', SENDER, 'c')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(presence.list('r')).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
      const error = await log.append('r', body('x')).catch((e: unknown) => e);
      expect((error as Error).cause).toBeInstanceOf(Error);
    } finally {
      dead.disconnect();
    }
  });

  it('a killed server makes append and read throw StoreUnavailableError instead of hanging', async () => {
    const doomed = await RedisProcess.start();
    try {
      const client = doomed.client({ commandTimeout: 500, maxRetriesPerRequest: 1 });
      const log = new RedisRoomLog(client);
      const room = unique('doomed');
      expect((await log.append(room, body('before'))).seq).toBe(1);
      await doomed.kill();
      const started = Date.now();
      await expect(log.append(room, body('after'))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(log.read(room, 0)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await doomed.stop();
    }
  });

  it('a script error is not mistaken for unavailability', async () => {
    const room = unique('wrongtype');
    const log = new RedisRoomLog(redis);
    await redis.set(keys.roomMeta(room), 'not a hash');
    const error = await log.append(room, body('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('RedisRegistry on Redis', () => {
  const record = (overrides: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
    connectionId: unique('conn'),
    userId: unique('user'),
    name: 'Grace',
    role: 'teacher',
    rooms: ['lobby'],
    expiresAt: 1_700_000_360_000,
    connectedAt: 1_700_000_000_000,
    node: unique('node'),
    ...overrides,
  });

  it('ignores and lazily removes ids whose record was deleted', async () => {
    const registry = new RedisRegistry(redis);
    const room = unique('room');
    const gone = record();
    const kept = record({ userId: gone.userId, node: gone.node });
    await registry.add(gone);
    await registry.add(kept);
    await registry.joinRoom(gone.connectionId, room);
    await registry.joinRoom(kept.connectionId, room);
    await redis.del(keys.connection(gone.connectionId));

    expect(await registry.members(room)).toEqual([kept.connectionId]);
    expect(await registry.countForUser(gone.userId)).toBe(1);
    expect((await registry.connectionsOfUser(gone.userId)).map((s) => s.connectionId)).toEqual([kept.connectionId]);
    expect(await registry.connectionsOfNode(gone.node)).toEqual([kept.connectionId]);
    // Lazily removed from the index sets.
    expect(await redis.sismember(`cw:members:{${room}}`, gone.connectionId)).toBe(0);
    expect(await redis.sismember(`cw:user:${gone.userId}`, gone.connectionId)).toBe(0);
    expect(await redis.sismember(`cw:node:${gone.node}:conns`, gone.connectionId)).toBe(0);
    expect(await registry.get(gone.connectionId)).toBeUndefined();
  });

  it('every key of a connection has the record TTL; touch re-arms them; an expired record leaves every index', async () => {
    const ttl = 60_000;
    const registry = new RedisRegistry(redis, { recordTtlMs: ttl });
    const room = unique('room');
    const expiring = record();
    const touched = record({ userId: expiring.userId, node: expiring.node });
    const keysOf = (r: ConnectionRecord): string[] => [
      keys.connection(r.connectionId),
      keys.connectionRooms(r.connectionId),
      keys.userConnections(r.userId),
      keys.nodeConnections(r.node),
      keys.roomMembers(room),
    ];
    const pttls = async (list: string[]): Promise<number[]> => Promise.all(list.map((key) => redis.pttl(key)));
    for (const r of [expiring, touched]) {
      await registry.add(r);
      await registry.joinRoom(r.connectionId, room);
    }
    // No key lives forever (-1) or is missing (-2).
    for (const left of await pttls([...keysOf(expiring), ...keysOf(touched)])) {
      expect(left).toBeGreaterThan(ttl - 10_000);
      expect(left).toBeLessThanOrEqual(ttl);
    }

    // As time passes: every TTL runs down. A touch re-arms every key of the touched connection only.
    for (const key of new Set([...keysOf(expiring), ...keysOf(touched)])) await redis.pexpire(key, 5000);
    await registry.touch([touched.connectionId, unique('never-added')]);
    for (const left of await pttls(keysOf(touched))) expect(left).toBeGreaterThan(5000);
    for (const left of await pttls(keysOf(expiring).slice(0, 2))) expect(left).toBeLessThanOrEqual(5000);

    // The untouched connection's own keys expire: it disappears from every index.
    await redis.pexpire(keys.connection(expiring.connectionId), 1);
    await redis.pexpire(keys.connectionRooms(expiring.connectionId), 1);
    await waitFor('the expiry', async () => (await redis.exists(...keysOf(expiring).slice(0, 2))) === 0);
    expect(await registry.get(expiring.connectionId)).toBeUndefined();
    expect(await registry.members(room)).toEqual([touched.connectionId]);
    expect(await registry.countForUser(expiring.userId)).toBe(1);
    expect(await registry.connectionsOfNode(expiring.node)).toEqual([touched.connectionId]);
    expect([...(await registry.get(touched.connectionId))!.joined]).toEqual([room]);
  });

  it('connectionsOfNode lists the live connections of one node', async () => {
    const registry = new RedisRegistry(redis);
    const node = unique('node');
    const a = record({ node });
    const b = record({ node });
    const elsewhere = record();
    for (const r of [a, b, elsewhere]) await registry.add(r);
    expect((await registry.connectionsOfNode(node)).sort()).toEqual([a.connectionId, b.connectionId].sort());
    await registry.remove(a.connectionId);
    expect(await registry.connectionsOfNode(node)).toEqual([b.connectionId]);
    expect(await redis.sismember(`cw:node:${node}:conns`, a.connectionId)).toBe(0);
  });

  it('re-adding a connection id under another user moves it', async () => {
    const registry = new RedisRegistry(redis);
    const room = unique('room');
    const first = record();
    await registry.add(first);
    await registry.joinRoom(first.connectionId, room);
    const second = { ...first, userId: unique('user') };
    await registry.add(second);
    expect(await registry.countForUser(first.userId)).toBe(0);
    expect(await registry.countForUser(second.userId)).toBe(1);
    expect((await registry.get(first.connectionId))!.joined.size).toBe(0);
    expect(await registry.members(room)).toEqual([]);
  });

  it('honours the prefix and the client keyPrefix, including the keys scripts receive', async () => {
    const prefixed = server.client({ keyPrefix: 'app1:' });
    const registry = new RedisRegistry(prefixed, { prefix: 'px' });
    const room = unique('room');
    const a = record();
    await registry.add(a);
    await registry.joinRoom(a.connectionId, room);
    expect(await redis.exists(`app1:px:conn:${a.connectionId}`, `app1:px:members:{${room}}`, `app1:px:user:${a.userId}`)).toBe(3);
    expect(await registry.members(room)).toEqual([a.connectionId]);
    await registry.touch([a.connectionId]);
    expect(await registry.remove(a.connectionId)).toMatchObject({ connectionId: a.connectionId, userId: a.userId });
    expect(await redis.exists(`app1:px:conn:${a.connectionId}`, `app1:px:members:{${room}}`, `app1:px:user:${a.userId}`)).toBe(0);
  });
});

describe('RedisRegistry caching its own node\'s records', () => {
  const record = (overrides: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
    connectionId: unique('conn'),
    userId: unique('user'),
    name: 'Grace',
    role: 'student',
    rooms: ['*'],
    expiresAt: 1_700_000_360_000,
    connectedAt: 1_700_000_000_000,
    node: 'node-a',
    ...overrides,
  });
  /** How many record reads (HMGET) Redis has executed so far. */
  const recordReads = async (): Promise<number> => Number(/cmdstat_hmget:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
  const cachingRegistry = () => {
    const clock = { now: 1_000_000 };
    const registry = new RedisRegistry(redis, { localNode: 'node-a', now: () => clock.now });
    registry.trustLocalUntil(clock.now + 1000);
    return { registry, clock };
  };

  it('answers its own connections from memory, with joins and leaves written through to Redis', async () => {
    const { registry } = cachingRegistry();
    const uncached = new RedisRegistry(redis);
    const own = record();
    const room = unique('room');
    await registry.add(own);
    const reads = await recordReads();
    const before = await registry.get(own.connectionId);
    await registry.joinRoom(own.connectionId, room);
    expect([...(await registry.get(own.connectionId))!.joined]).toEqual([room]);
    expect(await recordReads()).toBe(reads);
    // Redis holds the same, and a state handed out earlier is not changed behind its holder's back.
    expect([...(await uncached.get(own.connectionId))!.joined]).toEqual([room]);
    expect(await uncached.members(room)).toEqual([own.connectionId]);
    expect(before!.joined.size).toBe(0);
    await registry.leaveRoom(own.connectionId, room);
    expect((await registry.get(own.connectionId))!.joined.size).toBe(0);
    expect((await uncached.get(own.connectionId))!.joined.size).toBe(0);
    expect(await registry.remove(own.connectionId)).toMatchObject({ connectionId: own.connectionId });
    expect(await registry.get(own.connectionId)).toBeUndefined();
  });

  it('reads the connections of other nodes from Redis every time', async () => {
    const { registry } = cachingRegistry();
    const other = record({ node: 'node-b' });
    await new RedisRegistry(redis).add(other);
    const reads = await recordReads();
    await registry.get(other.connectionId);
    await registry.get(other.connectionId);
    expect(await recordReads()).toBe(reads + 2);
  });

  it('does not serve a record a peer removed (a reaper) once the node\'s liveness has lapsed, nor after forgetLocal', async () => {
    const { registry, clock } = cachingRegistry();
    const peer = new RedisRegistry(redis, { localNode: 'node-b' });
    const reaped = record();
    const dropped = record();
    await registry.add(reaped);
    await registry.add(dropped);
    // A peer reaps only after this node's liveness key expired, which is when its trust ends.
    await peer.remove(reaped.connectionId);
    clock.now += 1000;
    expect(await registry.get(reaped.connectionId)).toBeUndefined();
    // Trust renewed by a heartbeat: a record still in Redis is cached again on the first read.
    registry.trustLocalUntil(clock.now + 1000);
    expect(await registry.get(dropped.connectionId)).toMatchObject({ connectionId: dropped.connectionId });
    const reads = await recordReads();
    expect(await registry.get(dropped.connectionId)).toBeDefined();
    expect(await recordReads()).toBe(reads);
    await peer.remove(dropped.connectionId);
    registry.forgetLocal();
    expect(await registry.get(dropped.connectionId)).toBeUndefined();
  });

  it('caches nothing from a read that raced with a removal, and keeps a join that raced with a read', async () => {
    const { registry } = cachingRegistry();
    const removed = record();
    const joining = record();
    const room = unique('room');
    await registry.add(removed);
    await registry.add(joining);
    registry.forgetLocal();
    const [read] = await Promise.all([registry.get(removed.connectionId), registry.remove(removed.connectionId)]);
    expect(read).toMatchObject({ connectionId: removed.connectionId });
    expect(await registry.get(removed.connectionId)).toBeUndefined();
    await Promise.all([registry.get(joining.connectionId), registry.joinRoom(joining.connectionId, room)]);
    expect([...(await registry.get(joining.connectionId))!.joined]).toEqual([room]);
  });

  it('drops a cached record whose Redis record vanished when a join finds it gone', async () => {
    const { registry } = cachingRegistry();
    const expired = record();
    await registry.add(expired);
    await redis.del(`cw:conn:${expired.connectionId}`);
    await registry.joinRoom(expired.connectionId, unique('room'));
    expect(await registry.get(expired.connectionId)).toBeUndefined();
  });
});

describe('RedisPresence on Redis', () => {
  it('with ttlMs, the keys of a room expire unless someone is added', async () => {
    const presence = new RedisPresence(redis, { ttlMs: 60_000, prefix: 'pp' });
    const room = unique('room');
    await presence.add(room, SENDER, 'c1');
    expect(await redis.pttl(`pp:{${room}}:presence`)).toBeGreaterThan(50_000);
    expect(await redis.pttl(`pp:{${room}}:pc:${SENDER.userId}`)).toBeGreaterThan(50_000);
    expect(await presence.remove(room, SENDER.userId, 'c1')).toBe(true);
    expect(await redis.exists(`pp:{${room}}:presence`, `pp:{${room}}:pc:${SENDER.userId}`)).toBe(0);
  });

  it('two clients adding and removing one user concurrently announce exactly one join and one leave', async () => {
    const a = new RedisPresence(server.client());
    const b = new RedisPresence(server.client());
    const room = unique('room');
    const connections = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const joins = await Promise.all(connections.map((c, i) => (i % 2 ? a : b).add(room, SENDER, c)));
    expect(joins.filter(Boolean)).toHaveLength(1);
    const leaves = await Promise.all(connections.map((c, i) => (i % 2 ? b : a).remove(room, SENDER.userId, c)));
    expect(leaves.filter(Boolean)).toHaveLength(1);
    expect(await a.list(room)).toEqual([]);
  });
});
