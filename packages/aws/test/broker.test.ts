import { RedisRoomLog, redisKeys } from '@classwire/core';
import { encodeMessageBody } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess, waitFor } from '../../../test-support/redis-server.js';
import { createLambdaEngine, createLambdaLogger, loadLambdaConfig } from '../src/index.js';

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
});
