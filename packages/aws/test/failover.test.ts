import { RedisRoomLog, redisKeys } from '@classwire/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { FailoverGuard, createLambdaLogger } from '../src/index.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
const keys = redisKeys('fo');
let primary: RedisProcess;
let replica: RedisProcess;

beforeAll(async () => {
  // No diskless-sync delay: the replica syncs at once.
  primary = await RedisProcess.start({ args: ['--repl-diskless-sync-delay', '0'] });
  replica = await RedisProcess.start({ replicaOf: primary.port });
  await replica.waitForReplicaSync();
});
afterAll(async () => {
  await Promise.all([primary.stop(), replica.stop()]);
});

describe('failover guard', () => {
  it('gives every room a new epoch once the primary changed, so resumes across it are not trusted', async () => {
    const before = primary.client();
    const log = new RedisRoomLog(before, { prefix: 'fo' });
    await log.append('room-a', '"event":"e","data":1', { dedupKey: 'k1' });
    await log.append('room-b', '"event":"e","data":2', { dedupKey: 'k2' });
    const { epoch: epochA } = await log.read('room-a');
    const { epoch: epochB } = await log.read('room-b');
    expect(await new FailoverGuard(before, keys, silent, 0).check()).toBe(false);
    const unchanged = new FailoverGuard(before, keys, silent, 0);
    expect(await unchanged.check()).toBe(false);
    expect((await log.read('room-a', 0, epochA)).recovered).toBe(true);
    // WAIT answers once the replica acknowledged every write of this connection (the stored replication id).
    expect(await before.wait(1, 10_000)).toBe(1);
    expect(await replica.client().exists(keys.replicationId())).toBe(1);

    // ElastiCache promotes the replica; the primary endpoint now leads to it.
    const after = replica.client();
    await after.call('REPLICAOF', 'NO', 'ONE');
    const promotedLog = new RedisRoomLog(after, { prefix: 'fo' });
    // Two environments notice; one renews.
    const results = await Promise.all([new FailoverGuard(after, keys, silent, 0).check(), new FailoverGuard(after, keys, silent, 0).check()]);
    expect(results.sort()).toEqual([false, true]);
    const resumedA = await promotedLog.read('room-a', 0, epochA);
    const resumedB = await promotedLog.read('room-b', 0, epochB);
    expect(resumedA).toMatchObject({ recovered: false, seq: 1 });
    expect(resumedA.epoch).not.toBe(epochA);
    expect(resumedB.recovered).toBe(false);
    // Later checks see the new primary as known.
    expect(await new FailoverGuard(after, keys, silent, 0).check()).toBe(false);
  });

  it('checks at most once per interval per environment', async () => {
    let now = 0;
    const client = primary.client();
    let infos = 0;
    const counting = new Proxy(client, {
      get(target, property, receiver) {
        if (property === 'info') infos += 1;
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const guard = new FailoverGuard(counting, redisKeys('interval'), silent, 5000, () => now);
    await guard.check();
    now = 4999;
    await guard.check();
    expect(infos).toBe(1);
    now = 5000;
    await guard.check();
    expect(infos).toBe(2);
  });
});
