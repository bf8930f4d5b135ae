import { RedisRoomLog } from '@classwire/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { FailoverGuard, createLambdaLogger } from '../src/index.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
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
    await log.append('room-a', '"event":"e","data":1', 'k1');
    await log.append('room-b', '"event":"e","data":2', 'k2');
    const { epoch: epochA } = await log.read('room-a');
    const { epoch: epochB } = await log.read('room-b');
    expect(await new FailoverGuard(before, 'fo', silent, 0).check()).toBe(false);
    const unchanged = new FailoverGuard(before, 'fo', silent, 0);
    expect(await unchanged.check()).toBe(false);
    expect((await log.read('room-a', 0, epochA)).recovered).toBe(true);
    await waitForReplicaToHave(replica, 'fo:replid');

    // ElastiCache promotes the replica; the primary endpoint now leads to it.
    const after = replica.client();
    await after.call('REPLICAOF', 'NO', 'ONE');
    const promotedLog = new RedisRoomLog(after, { prefix: 'fo' });
    // Two environments notice; one renews.
    const results = await Promise.all([new FailoverGuard(after, 'fo', silent, 0).check(), new FailoverGuard(after, 'fo', silent, 0).check()]);
    expect(results.sort()).toEqual([false, true]);
    const resumedA = await promotedLog.read('room-a', 0, epochA);
    const resumedB = await promotedLog.read('room-b', 0, epochB);
    expect(resumedA).toMatchObject({ recovered: false, seq: 1 });
    expect(resumedA.epoch).not.toBe(epochA);
    expect(resumedB.recovered).toBe(false);
    // Later checks see the new primary as known.
    expect(await new FailoverGuard(after, 'fo', silent, 0).check()).toBe(false);
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
    const guard = new FailoverGuard(counting, 'interval', silent, 5000, () => now);
    await guard.check();
    now = 4999;
    await guard.check();
    expect(infos).toBe(1);
    now = 5000;
    await guard.check();
    expect(infos).toBe(2);
  });
});

async function waitForReplicaToHave(server: RedisProcess, key: string): Promise<void> {
  const client = server.client();
  for (let i = 0; i < 200 && (await client.exists(key)) === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(await client.exists(key)).toBe(1);
}
