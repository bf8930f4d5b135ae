import { RedisRoomLog, redisKeys } from '@classwire/core';
import { encodeMessageBody } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess, waitFor } from '../../../test-support/redis-server.js';
import { createLambdaEngine, createLambdaLogger, loadLambdaConfig } from '../src/index.js';
import { ManagementApiBroker } from '../src/broker.js';
import type { ManagementApiFanOut } from '../src/fanout.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
const PREFIX = 'awsb';
let server: RedisProcess;

beforeAll(async () => {
  server = await RedisProcess.start();
});
afterAll(async () => {
  await server?.stop();
});

describe('the Lambda engine’s broker', () => {
  it('stores a publish without any PUBLISH: no node subscribes on AWS', async () => {
    const lambda = createLambdaEngine(loadLambdaConfig({ CLASSWIRE_REDIS_PREFIX: PREFIX }), { logger: silent, redis: server.client() });
    const channel = redisKeys(PREFIX).roomChannel('room');
    const listener = server.client();
    const published: string[] = [];
    listener.on('message', (_channel: string, payload: string) => published.push(payload.split('\n')[1]!));
    await listener.subscribe(channel);

    // The room has no members, so nothing is posted either.
    expect(await lambda.engine.publishAsServer('room', { event: 'notice', data: 1, id: 'n1' })).toEqual({ seq: 1, duplicate: false });
    const sender = { userId: 'u', role: 'student', name: 'U' } as const;
    await new RedisRoomLog(server.client(), { prefix: PREFIX }).append('room', encodeMessageBody('marker', null, sender));
    // Pub/sub keeps order: a publication of seq 1 would have arrived before the marker's.
    await waitFor('the marker', () => Promise.resolve(published.length >= 1), 5000);
    expect(published).toEqual(['2']);
    await lambda.close();
  });

  it('without coalescing, answers a publish without echo before its posts, which settle() awaits; with echo, after them', async () => {
    const posts: { except: string | undefined; done: () => void }[] = [];
    const fanout = {
      postToMembers: (_room: string, _frame: string, except?: string) => new Promise<void>((resolve) => posts.push({ except, done: resolve })),
    } as unknown as ManagementApiFanOut;
    const broker = new ManagementApiBroker(new RedisRoomLog(server.client(), { prefix: 'awsb2', pubsub: false }), fanout);
    const body = encodeMessageBody('chat.message', 'x', { userId: 'u', role: 'student', name: 'U' }, 'q1');
    // The sender's ack must not wait for the others' posts: the publish resolves while its post is pending.
    const result = await broker.publish('room', body, { dedupKey: 'u\nq1', except: 'Ks3n0Yq1aZ_8cQw=' });
    expect(result.seq).toBe(1);
    expect(posts.map((p) => p.except)).toEqual(['Ks3n0Yq1aZ_8cQw=']);
    let settled = false;
    const settling = broker.settle().then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    posts[0]!.done();
    await settling;
    // With an echo the sender's copy is among the posts: the publish resolves after them, as before.
    let published = false;
    const echoed = broker.publish('room', encodeMessageBody('chat.message', 'y', { userId: 'u', role: 'student', name: 'U' }, 'q2'), { dedupKey: 'u\nq2' }).then(() => (published = true));
    await waitFor('the post', () => Promise.resolve(posts.length === 2), 5000);
    expect(published).toBe(false);
    posts[1]!.done();
    await echoed;
  });
});
