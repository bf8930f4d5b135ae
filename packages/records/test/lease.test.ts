import { MemoryBroker, RedisRecordingLease, redisKeys, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { Recorder, RecordsStore, type LogReader, type RecordingWritten } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const student: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const LEASE_MS = 400;

/** The store, counting whose recorder wrote: the lease's effect is who writes, not what is written. */
class CountingStore extends RecordsStore {
  writes = 0;

  override async recordFrom(rooms: readonly string[], read: LogReader, now: number): Promise<RecordingWritten> {
    this.writes += 1;
    return super.recordFrom(rooms, read, now);
  }
}

describe('the recording lease (real Redis)', () => {
  let redisServer: RedisProcess;
  let redis: Redis;
  let database: TestDatabase;
  beforeAll(async () => {
    redisServer = await RedisProcess.start();
    redis = new Redis(redisServer.url);
    database = await BACKENDS[0].open();
  });
  afterAll(async () => {
    redis.disconnect();
    await redisServer.kill();
    await database.drop();
  });

  it('answers a whole drain of rooms in one call: taken, renewed by its holder, refused to another', async () => {
    const a = new RedisRecordingLease(redis, { prefix: 'lease-many', node: 'a', ttlMs: 60_000 });
    const b = new RedisRecordingLease(redis, { prefix: 'lease-many', node: 'b', ttlMs: 60_000 });
    expect(await a.acquire(['r1', 'r2'])).toEqual([true, true]);
    expect(await b.acquire(['r1', 'r3', 'r2'])).toEqual([false, true, false]);
    const key = redisKeys('lease-many').recordingLease('r1');
    await redis.pexpire(key, 1_000);
    expect(await a.acquire(['r1'])).toEqual([true]);
    expect(await redis.pttl(key)).toBeGreaterThan(10_000);
    expect(await a.acquire([])).toEqual([]);
  });

  it('one node records a room while it holds the lease; another takes over once it stops, and nothing is recorded twice', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const room = 'lease-room';
    const [storeA, storeB] = [new CountingStore(database.records.db), new CountingStore(database.records.db)];
    const recorder = (store: RecordsStore, node: string) =>
      new Recorder({ store, broker, logger: { warn: () => undefined }, batchDelayMs: 10, lease: new RedisRecordingLease(redis, { prefix: 'lease-test', node, ttlMs: LEASE_MS }) });
    const [a, b] = [recorder(storeA, 'node-a'), recorder(storeB, 'node-b')];
    const publish = async (n: number) => broker.publish(room, encodeMessageBody('note.add', { n }, student));

    // Both nodes see publishes in the room; only the first to take the lease writes.
    for (let n = 0; n < 10; n++) {
      await publish(n);
      a.noteActivity(room);
      b.noteActivity(room);
      await Promise.all([a.settled(), b.settled()]);
    }
    expect(storeA.writes).toBeGreaterThan(0);
    expect(storeB.writes).toBe(0);
    expect(await redis.get(`lease-test:{${room}}:recorder`)).toBe('node-a');

    // Node A stops: B's deferred note records the rest once A's lease has expired.
    await a.close();
    for (let n = 10; n < 15; n++) await publish(n);
    b.noteActivity(room);
    await vi.waitFor(async () => expect(await storeB.cursor(room)).toMatchObject({ seq: 15 }), { timeout: 5_000, interval: 50 });
    expect(storeB.writes).toBeGreaterThan(0);
    await b.close();
    const events = await storeB.roomEvents(room);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });
});
