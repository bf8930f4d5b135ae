/**
 * Measures the scheduled recorder's cost on the Lambda runtime (docs/aws.md, "Records on AWS"): this
 * process's CPU per recorded message for one `record` run that drains ROOMS marked rooms of
 * PER_ROOM messages each from a real Redis into a real Postgres, and the Postgres server's share is
 * not counted. Run: npx tsx --conditions=source packages/aws/test/measure-records.ts (numbers, no assertions).
 */
import { RedisRoomLog, redisKeys } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { Redis } from 'ioredis';
import { BACKENDS } from '../../records/test/databases.js';
import { createLambdaLogger, createRecordsHandlers } from '../src/index.js';

const ROOMS = 50;
const PER_ROOM = 200;
const RUNS = 3;
const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

async function main(): Promise<void> {
  const redis = new Redis('redis://127.0.0.1:6379');
  const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
  for (let run = 1; run <= RUNS; run += 1) {
    const prefix = `measure-awsrec-${process.pid}-${run}`;
    const database = await BACKENDS[0].open();
    const log = new RedisRoomLog(redis, { prefix, pubsub: false, maxMessages: 500 });
    const key = redisKeys(prefix).roomsToRecord();
    const rooms = Array.from({ length: ROOMS }, (_, room) => `room-${room}`);
    const handlers = createRecordsHandlers({ CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:6379', CLASSWIRE_REDIS_PREFIX: prefix, CLASSWIRE_DATABASE_URL: await database.url() }, { logger: silent, redis });
    const budget = { getRemainingTimeInMillis: () => 60_000 };
    // The first run of an execution environment opens the pool (the schema is current here): measured apart.
    let mark = cpuMicros();
    await handlers.record({}, budget);
    const coldMicros = cpuMicros() - mark;
    for (const room of rooms) {
      for (let i = 0; i < PER_ROOM; i += 1) await log.append(room, encodeMessageBody('chat.message', { text: `message ${i} with some words in it` }, teacher));
    }
    await redis.sadd(key, ...rooms);
    mark = cpuMicros();
    let started = performance.now();
    await handlers.record({}, budget);
    const busyMicros = cpuMicros() - mark;
    const busyWall = performance.now() - started;
    const recorded = Number((await database.records.db.selectFrom('record_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    await redis.sadd(key, ...rooms);
    mark = cpuMicros();
    started = performance.now();
    await handlers.record({}, budget);
    const idleMicros = cpuMicros() - mark;
    const idleWall = performance.now() - started;
    process.stdout.write(
      `run ${run}: first run (pool opened; schema already current) ${(coldMicros / 1000).toFixed(0)} ms CPU; ${recorded} messages in ${ROOMS} rooms ${(busyMicros / 1000).toFixed(0)} ms CPU ` +
        `(${(busyMicros / recorded).toFixed(1)} µs/message, ${busyWall.toFixed(0)} ms wall); ${ROOMS} marked rooms already up to date ${(idleMicros / 1000).toFixed(1)} ms CPU ` +
        `(${(idleMicros / ROOMS).toFixed(0)} µs/room, ${idleWall.toFixed(0)} ms wall)\n`,
    );
    await handlers.close();
    await database.drop();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
}

await main();
