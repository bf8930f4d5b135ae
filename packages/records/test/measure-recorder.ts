/**
 * Measures the recorder's own CPU per drain (docs/records.md, "Measurements"): the figure that decides
 * what recording costs the gateway's event loop, stable where the bench is noisy on a shared machine.
 * Run: npx tsx --conditions=source packages/records/test/measure-recorder.ts [postgres|pglite] [memory|redis]
 * (not a test: numbers, no assertions). Node CPU of this process only: the database server's (and
 * Redis's) is not counted. `redis` reads the logs from the Redis room log at 127.0.0.1:6379 and takes
 * each room's recording lease there, as a node in Redis mode does.
 */
import { randomBytes } from 'node:crypto';
import { MemoryBroker, RedisRecordingLease, RedisRoomLog, type Broker, type RecordingLease } from '@classwire/core';
import { Redis } from 'ioredis';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import { Recorder, RecordsStore } from '../src/index.js';
import { BACKENDS } from './databases.js';

const ROOMS = 40;
/** The bench's steady profile: 20 msg/s per room, drained every 250 ms, ~200-byte texts. */
const MESSAGES_PER_ROOM = Number(process.env.MEASURE_MESSAGES_PER_ROOM ?? 5);
const TEXT = 'x'.repeat(Number(process.env.MEASURE_TEXT_BYTES ?? 200));
const DRAINS = 60;
const MEMBERS_PER_ROOM = 25;
const ROUNDS = 3;
const silent = { warn: () => undefined };

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function member(room: number, n: number): Sender {
  return { userId: `u-${room}-${n}`, name: `Student ${n}`, role: 'student' };
}

interface Log {
  broker: Pick<Broker, 'read' | 'readState'>;
  publish(room: string, body: string): Promise<unknown>;
  lease: RecordingLease | undefined;
}

function memoryLog(): Log {
  const broker = new MemoryBroker({ maxMessages: 10_000, delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
  return { broker, publish: (room, body) => broker.publish(room, body), lease: undefined };
}

function redisLog(redis: Redis, tag: string): Log {
  const prefix = `measure-recorder-${tag}`;
  const log = new RedisRoomLog(redis, { prefix, pubsub: false, maxMessages: 10_000 });
  return { broker: log, publish: (room, body) => log.append(room, body), lease: new RedisRecordingLease(redis, { prefix, node: 'measure', ttlMs: 3_000 }) };
}

async function main(): Promise<void> {
  const wanted = process.argv[2];
  const redis = process.argv[3] === 'redis' ? new Redis('redis://127.0.0.1:6379') : undefined;
  for (const backend of BACKENDS.filter((b) => wanted === undefined || b.name === wanted)) {
    const database = await backend.open();
    for (let round = 0; round < ROUNDS; round++) {
      const tag = randomBytes(3).toString('hex');
      const { broker, publish, lease } = redis === undefined ? memoryLog() : redisLog(redis, tag);
      const store = new RecordsStore(database.records.db);
      const recorder = new Recorder({ store, broker, logger: silent, batchDelayMs: 0, lease });
      const rooms = Array.from({ length: ROOMS }, (_, i) => `measure-${tag}-${i}`);

      // Presence: every room fills with its members (the bench's joins), recorded in one drain.
      for (const [r, room] of rooms.entries()) {
        for (let n = 0; n < MEMBERS_PER_ROOM; n++) await publish(room, encodeMessageBody(PRESENCE_EVENTS.join, member(r, n), member(r, n)));
      }
      let start = cpuMicros();
      let wall = performance.now();
      for (const room of rooms) recorder.noteActivity(room);
      await recorder.settled();
      const joinCpu = cpuMicros() - start;
      const joinWall = performance.now() - wall;

      // Steady: each drain finds every room with a few chat messages.
      let cpu = 0;
      wall = performance.now();
      for (let d = 0; d < DRAINS; d++) {
        for (const [r, room] of rooms.entries()) {
          for (let m = 0; m < MESSAGES_PER_ROOM; m++) await publish(room, encodeMessageBody('chat.message', { text: `${d}.${m} ${TEXT}`, sentAt: Date.now() }, member(r, m)));
        }
        start = cpuMicros();
        for (const room of rooms) recorder.noteActivity(room);
        await recorder.settled();
        cpu += cpuMicros() - start;
      }
      const steadyWall = performance.now() - wall;
      await recorder.close();
      const joins = ROOMS * MEMBERS_PER_ROOM;
      const messages = ROOMS * MESSAGES_PER_ROOM * DRAINS;
      console.log(
        `${backend.name}, ${redis === undefined ? 'memory' : 'Redis'} log, round ${round + 1}: ${DRAINS} drains of ${ROOMS} rooms x ${MESSAGES_PER_ROOM}: ${(cpu / DRAINS / 1000).toFixed(2)} ms CPU/drain, ` +
          `${(cpu / messages).toFixed(1)} µs CPU/message (${((steadyWall * 1000) / messages).toFixed(0)} µs wall incl. publishing); ` +
          `${joins} joins: ${(joinCpu / 1000).toFixed(0)} ms CPU, ${(joinCpu / joins).toFixed(0)} µs/join, ${joinWall.toFixed(0)} ms wall`,
      );
    }
    await database.drop();
  }
  if (redis !== undefined) {
    for await (const keys of redis.scanStream({ match: 'measure-recorder-*', count: 1000 })) if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    redis.disconnect();
  }
}

await main();
