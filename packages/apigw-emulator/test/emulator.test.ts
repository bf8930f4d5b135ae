import type { IncomingMessage } from 'node:http';
import {
  ApiGatewayManagementApiClient,
  ForbiddenException,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { RedisRegistry } from '@classwire/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import {
  clfTime,
  connectEvent,
  disconnectEvent,
  evaluateAuthorizer,
  headerMaps,
  messageEvent,
  queryMaps,
  selectRoute,
  type EventSource,
} from '../src/events.js';
import type { Gateway } from '@classwire/gateway';
import { connect, type OpenEventMap } from '../../client/src/node.js';
import { AWS_CREDENTIALS, TestClient, eventually, makeToken, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';

const ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc/prod/$connect';
const allow = (extra: object = {}) => ({
  principalId: 'u1',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: ARN }] },
  ...extra,
});

describe('API Gateway event rules', () => {
  it('maps authorizer outcomes to 401, 403 and 500 as API Gateway does, and stringifies the context', () => {
    const fulfilled = (value: unknown) => ({ status: 'fulfilled' as const, value });
    expect(evaluateAuthorizer({ status: 'rejected', reason: new Error('Unauthorized') }, ARN)).toMatchObject({ allowed: false, status: 401 });
    expect(evaluateAuthorizer({ status: 'rejected', reason: new Error('boom') }, ARN)).toMatchObject({ allowed: false, status: 500 });
    const deny = allow({ policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: ARN }] } });
    expect(evaluateAuthorizer(fulfilled(deny), ARN)).toMatchObject({ allowed: false, status: 403 });
    const elsewhere = allow({ policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:us-east-1:123456789012:other/*' }] } });
    expect(evaluateAuthorizer(fulfilled(elsewhere), ARN)).toMatchObject({ allowed: false, status: 403 });
    const wildcard = allow({ policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:*', Effect: 'Allow', Resource: 'arn:aws:execute-api:us-east-1:123456789012:abc/*' }] } });
    expect(evaluateAuthorizer(fulfilled(wildcard), ARN)).toMatchObject({ allowed: true });
    expect(evaluateAuthorizer(fulfilled({ ...allow(), principalId: undefined }), ARN)).toMatchObject({ allowed: false, status: 500 });
    expect(evaluateAuthorizer(fulfilled(allow({ context: { nested: { a: 1 } } })), ARN)).toMatchObject({ allowed: false, status: 500 });
    expect(evaluateAuthorizer(fulfilled(allow({ context: { big: 'x'.repeat(9000) } })), ARN)).toMatchObject({ allowed: false, status: 500 });
    expect(evaluateAuthorizer(fulfilled(allow({ context: { n: 1, b: true, s: 'x' } })), ARN)).toEqual({
      allowed: true,
      context: { principalId: 'u1', n: '1', b: 'true', s: 'x' },
    });
  });

  it('selects routes by $request.body expressions, stringified, with $default as the fallback', () => {
    const routes = new Set(['join', 'chat/send', '[a, b]']);
    expect(selectRoute('$request.body.action', '{"action":"join"}', routes)).toBe('join');
    expect(selectRoute('$request.body.action', '{"action":"leave"}', routes)).toBe('$default');
    expect(selectRoute('$request.body.action', 'not json', routes)).toBe('$default');
    expect(selectRoute('$request.body.action', '{"other":1}', routes)).toBe('$default');
    expect(selectRoute('${request.body.service}/${request.body.verb}', '{"service":"chat","verb":"send"}', routes)).toBe('chat/send');
    expect(selectRoute('$request.body.action', '{"action":["a","b"]}', routes)).toBe('[a, b]');
  });

  it('builds CONNECT, MESSAGE and DISCONNECT events with the documented fields', () => {
    const req = {
      url: '/prod?token=t&room=a&room=b',
      rawHeaders: ['Host', 'abc.example:443', 'Sec-WebSocket-Key', 'k', 'X-Custom', '1', 'x-custom', '2'],
    } as unknown as IncomingMessage;
    const source: EventSource = {
      apiId: 'abc',
      stage: 'prod',
      domainName: 'abc.example',
      connectionId: 'R1kmxc2VNjMCFIA=',
      connectedAt: 1_700_000_000_000,
      sourceIp: '203.0.113.9',
      userAgent: 'test',
      authorizer: { principalId: 'u1', role: 'student' },
    };
    const connect = connectEvent(req, source, 1_700_000_000_500);
    expect(connect.headers).toEqual({ Host: 'abc.example:443', 'Sec-WebSocket-Key': 'k', 'X-Custom': '2' });
    expect(connect.multiValueHeaders!['X-Custom']).toEqual(['1', '2']);
    expect(connect.queryStringParameters).toEqual({ token: 't', room: 'b' });
    expect(connect.multiValueQueryStringParameters).toEqual({ token: ['t'], room: ['a', 'b'] });
    expect(connect.requestContext).toMatchObject({
      routeKey: '$connect',
      eventType: 'CONNECT',
      messageDirection: 'IN',
      stage: 'prod',
      apiId: 'abc',
      domainName: 'abc.example',
      connectionId: 'R1kmxc2VNjMCFIA=',
      connectedAt: 1_700_000_000_000,
      requestTimeEpoch: 1_700_000_000_500,
      requestTime: '14/Nov/2023:22:13:20 +0000',
      identity: { sourceIp: '203.0.113.9', userAgent: 'test' },
      authorizer: { principalId: 'u1', role: 'student' },
    });
    const message = messageEvent(source, '$default', '{"action":"ping"}', 1);
    expect(message).not.toHaveProperty('headers');
    expect(message).not.toHaveProperty('queryStringParameters');
    expect(message.body).toBe('{"action":"ping"}');
    expect(message.requestContext).toMatchObject({ eventType: 'MESSAGE', routeKey: '$default', authorizer: { principalId: 'u1' } });
    expect(typeof message.requestContext.messageId).toBe('string');
    const disconnect = disconnectEvent(source, 1001, 'Going away', 2);
    expect(disconnect.requestContext).toMatchObject({ eventType: 'DISCONNECT', disconnectStatusCode: 1001, disconnectReason: 'Going away' });
    expect(disconnect.headers).toEqual({ Host: 'abc.example', 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' });
    expect(queryMaps('/prod')).toBeUndefined();
    expect(headerMaps([]).headers).toEqual({});
    expect(clfTime(Date.UTC(2023, 0, 19, 21, 13, 26))).toBe('19/Jan/2023:21:13:26 +0000');
  });
});

describe('the emulated API', () => {
  let redis: RedisProcess;
  let gateway: Gateway;
  let wsUrl: string;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    gateway = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      CLASSWIRE_REDIS_URL: redis.url,
    });
    wsUrl = `${gateway.url.replace('http', 'ws')}/ws`;
  });
  afterAll(async () => {
    await gateway.drain();
    await redis.stop();
  });

  const sdk = (path = '/ws') => new ApiGatewayManagementApiClient({ endpoint: `${gateway.url}${path}`, region: 'us-east-1', credentials: AWS_CREDENTIALS });

  async function open(claims: Parameters<typeof makeToken>[0] = {}): Promise<{ client: TestClient; connectionId: string }> {
    const client = await TestClient.connect(gateway, await makeToken(claims));
    const joined = await client.join('emu');
    return { client, connectionId: joined.connectionId as string };
  }

  it('passes the authorizer context to the handlers: the registration carries the token\'s claims', async () => {
    const { client, connectionId } = await open({ sub: 'ctx-user', name: 'Grace', role: 'assistant', rooms: ['emu'] });
    const record = await new RedisRegistry(redis.client()).get(connectionId);
    expect(record).toMatchObject({ userId: 'ctx-user', name: 'Grace', role: 'assistant', rooms: ['emu'], node: 'apigw' });
    await client.close();
  });

  it('delivers a post over 32 KB as one message (sent in 32 KB fragments), and serves GET with Date fields', async () => {
    const { client, connectionId } = await open({ rooms: ['emu'] });
    const data = JSON.stringify({ type: 'big', text: 'é'.repeat(40_000) });
    await sdk().send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    const big = await client.next((f) => f.type === 'big');
    expect(big.text).toBe('é'.repeat(40_000));
    const info = await sdk('').send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    await client.close();
  });

  it('answers another stage with ForbiddenException and a closed connection with GoneException', async () => {
    const { client, connectionId } = await open({ rooms: ['emu'] });
    await expect(sdk('/other').send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(ForbiddenException);
    await client.close();
    await expect(sdk().send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x' }))).rejects.toBeInstanceOf(GoneException);
  });

  it('closes a frame over 32 KB with 1009 and an idle connection with 1001', async () => {
    const { client } = await open({ rooms: ['emu'] });
    client.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(33 * 1024) }));
    expect(await client.waitClosed()).toBe(1009);
    const sleepy = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_REDIS_PREFIX: 'idle',
      CLASSWIRE_APIGW_IDLE_TIMEOUT_MS: '300',
    });
    const idle = await TestClient.connect(sleepy, await makeToken());
    expect(await idle.waitClosed()).toBe(1001);
    await sleepy.drain();
  });

  it('keeps the SDK\'s order and exactly-once delivery when invocations are delayed at random and race', async () => {
    const jittery = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_REDIS_PREFIX: 'jitter',
      CLASSWIRE_APIGW_INVOKE_JITTER_MS: '15',
    });
    const url = `${jittery.url.replace('http', 'ws')}/ws`;
    const options = { reconnect: { baseDelayMs: 50, maxDelayMs: 400 }, gapTimeoutMs: 500 };
    const clients = await Promise.all(['p1', 'p2', 'reader'].map(async (sub) => connect<OpenEventMap>({ url, token: await makeToken({ sub, rooms: ['race'] }), ...options })));
    const rooms = clients.map((c) => c.join('race'));
    await Promise.all(rooms.map((r) => r.ready));
    const received: { seq: number; from: string; i: number }[] = [];
    rooms[2]!.on('chat.message', (m) => received.push({ seq: m.seq!, from: m.from.userId, i: (m.data as { i: number }).i }));
    const perPublisher = 15;
    await Promise.all([0, 1].flatMap((p) => Array.from({ length: perPublisher }, (_, i) => rooms[p]!.publish('chat.message', { i }))));
    await eventually(() => received.length >= 2 * perPublisher, 10_000);
    expect(received.map((m) => m.seq)).toEqual(Array.from({ length: 2 * perPublisher }, (_, i) => i + 1));
    for (const publisher of ['p1', 'p2']) {
      expect(received.filter((m) => m.from === publisher).map((m) => m.i)).toEqual(Array.from({ length: perPublisher }, (_, i) => i));
    }
    for (const client of clients) client.close();
    await jittery.drain();
  });

  it('refuses an upgrade without the identity source with 401, and another path with 403', async () => {
    expect(await upgradeStatus(wsUrl)).toBe(401);
    expect(await upgradeStatus(`${wsUrl}?token=`)).toBe(401);
    expect(await upgradeStatus(`${gateway.url.replace('http', 'ws')}/prod?token=${await makeToken()}`)).toBe(403);
  });
});
