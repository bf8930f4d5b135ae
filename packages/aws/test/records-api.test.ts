import { RedisPresence, RedisRoomLog, redisKeys } from '@classwire/core';
import { PRESENCE_EVENTS, encodeMessageBody, type Sender } from '@classwire/protocol';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDatabase } from '../../records/test/databases.js';
import { expectDocumented } from '../../records/test/openapi.js';
import { SECRET, makeToken } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { BACKEND_ROUTE_PATH, MAX_RECORDS_BODY_BYTES, MAX_RECORDS_QUERY_LENGTH, STAFF_ROUTE_PATH, createLambdaLogger, createRecordsHandlers, type HttpApiEvent, type HttpApiIamIdentity, type HttpApiResult, type RecordsHandlers } from '../src/index.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);

/** The caller API Gateway puts in the context after verifying a SigV4 signature on an AWS_IAM route. */
const VERIFIED_CALLER: HttpApiIamIdentity = {
  accessKey: 'ASIAEXAMPLEBACKEND01',
  accountId: '123456789012',
  callerId: 'AROAEXAMPLEROLEID:school-backend',
  userArn: 'arn:aws:sts::123456789012:assumed-role/school-backend/session',
  userId: 'AROAEXAMPLEROLEID:school-backend',
};

interface EventOptions {
  method?: string;
  /** Which of the stack's two routes API Gateway matched. */
  route?: 'backend' | 'staff';
  headers?: Record<string, string>;
  body?: string;
  /** The IAM caller in the context; by default present on the backend route only, as API Gateway does. */
  iam?: HttpApiIamIdentity | null;
}

/**
 * A fake: an API Gateway HTTP API event (payload format 2.0), built by hand as AWS would send it for a
 * request to the `$default` stage, for the route the stack defines that matches the path.
 */
function httpApiEvent(target: string, options: EventOptions = {}): HttpApiEvent {
  const method = options.method ?? 'GET';
  const route = options.route ?? (target.startsWith('/backend/') ? 'backend' : 'staff');
  const [rawPath, rawQueryString = ''] = target.split('?') as [string, string?];
  const iam = options.iam === undefined ? (route === 'backend' ? VERIFIED_CALLER : undefined) : (options.iam ?? undefined);
  const routeKey = `${method} ${route === 'backend' ? BACKEND_ROUTE_PATH : STAFF_ROUTE_PATH}`;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'user-agent': 'vitest', 'x-forwarded-proto': 'https', ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
    requestContext: {
      http: { method, path: rawPath, sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: 'Jx8Q2gHQoAMEVxA=',
      routeKey,
      stage: '$default',
      ...(iam === undefined ? {} : { authorizer: { iam } }),
    },
  };
}

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const student: Sender = { userId: 's-1', name: 'Ada', role: 'student' };

/**
 * The records HTTP API on the Lambda runtime, with real parts: the records function (`records.api`) reads
 * a real Postgres (the classes the real recorder function recorded) and a real Redis (presence and the
 * live log as the engine functions keep them). Only API Gateway is faked: the events are built by hand.
 */
describe('records HTTP API on the Lambda runtime (Redis + Postgres)', () => {
  let redis: RedisProcess;
  let database: TestDatabase;
  let handlers: RecordsHandlers;
  let classId: string;
  const prefix = 'awsapi';
  const statuses: number[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    database = await BACKENDS[0].open();
    handlers = createRecordsHandlers(
      { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_PREFIX: prefix, CLASSWIRE_DATABASE_URL: await database.url(), CLASSWIRE_JWT_SECRET: SECRET },
      { logger: silent },
    );
    // A class in "algebra" as the engine functions log it, recorded by the scheduled recorder function.
    const client = redis.client();
    const log = new RedisRoomLog(client, { prefix, pubsub: false });
    const say = (room: string, event: string, data: unknown, from: Sender) => log.append(room, encodeMessageBody(event, data, from));
    await say('algebra', 'class.start', {}, teacher);
    await say('algebra', PRESENCE_EVENTS.join, student, student);
    await say('algebra', 'chat.message', { text: 'is x = 3?' }, student);
    await say('algebra', PRESENCE_EVENTS.leave, { ...student, reason: 'left' }, student);
    await say('algebra', 'class.end', {}, teacher);
    await say('biology', 'class.start', {}, teacher);
    await client.sadd(redisKeys(prefix).roomsToRecord(), 'algebra', 'biology');
    const run = await handlers.record(undefined, { getRemainingTimeInMillis: () => 60_000 });
    expect(run).toMatchObject({ recorded: 2, failed: 0 });
    await new RedisPresence(client, { prefix }).add('algebra', { userId: 't-1', name: 'Ms Rivera', role: 'teacher' }, 'conn-1');
  });
  afterAll(async () => {
    await handlers.close();
    await database.drop();
    await redis.stop();
  });
  afterEach(() => {
    // Never a 500 for anything a test sent.
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
  });

  /** Invokes the function and checks the answer against the OpenAPI document (JSON answers). */
  async function invoke(target: string, options: EventOptions = {}): Promise<HttpApiResult & { json: unknown }> {
    const result = await handlers.api(httpApiEvent(target, options));
    statuses.push(result.statusCode);
    const isJson = result.headers['content-type']?.startsWith('application/json') === true;
    const json: unknown = isJson ? JSON.parse(result.body) : undefined;
    const documentedPath = target.split('?')[0]!.replace(/^\/backend(?=\/)/, '');
    if (isJson) expectDocumented(options.method ?? 'GET', documentedPath, result.statusCode, json, result.headers);
    return { ...result, json };
  }

  const staffToken = (rooms: string[]) => makeToken({ sub: 't-1', name: 'Ms Rivera', role: 'teacher', rooms });

  it('a backend on the /backend route (SigV4 verified by API Gateway) lists classes and gets attendance as JSON and CSV', async () => {
    const listed = await invoke('/backend/classes?room=algebra');
    expect(listed.statusCode).toBe(200);
    const classes = (listed.json as { classes: { id: string; room: string; endedAt: number | null }[] }).classes;
    expect(classes).toHaveLength(1);
    expect(classes[0]).toMatchObject({ room: 'algebra' });
    expect(classes[0]!.endedAt).not.toBeNull();
    classId = classes[0]!.id;
    expect(((await invoke('/backend/classes')).json as { classes: unknown[] }).classes).toHaveLength(2);

    const attendance = await invoke(`/backend/classes/${classId}/attendance`);
    expect(attendance.statusCode).toBe(200);
    expect(attendance.json).toMatchObject({ classId, room: 'algebra' });
    expect(JSON.stringify(attendance.json)).toContain('"s-1"');

    const csv = await invoke(`/backend/classes/${classId}/attendance`, { headers: { accept: 'text/csv' } });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toMatch(/^user_id,name,role,/);
    expect(lines.some((line) => line.startsWith('s-1,Ada,student'))).toBe(true);
  });

  it('a backend reads the transcript, and presence and history from Redis', async () => {
    const transcript = await invoke(`/backend/classes/${classId}/transcript`);
    expect((transcript.json as { events: { event: string }[] }).events.map((event) => event.event)).toContain('chat.message');
    const presence = await invoke('/backend/rooms/algebra/presence');
    expect(presence.json).toMatchObject({ room: 'algebra', members: [{ userId: 't-1' }] });
    const history = await invoke('/backend/rooms/algebra/history?since=2&limit=2');
    expect(history.json).toMatchObject({ room: 'algebra', seq: 5, recovered: true, more: true });
    expect((history.json as { messages: unknown[] }).messages).toHaveLength(2);
  });

  it('a staff JWT at the root route reads its own room and is refused another room', async () => {
    const own = `Bearer ${await staffToken(['algebra'])}`;
    const listed = await invoke('/classes?room=algebra', { headers: { authorization: own } });
    expect(listed.statusCode).toBe(200);
    expect(await invoke(`/classes/${classId}/attendance`, { headers: { authorization: own } })).toMatchObject({ statusCode: 200 });
    const other = await invoke('/classes?room=biology', { headers: { authorization: own } });
    expect(other.statusCode).toBe(403);
    expect(other.json).toMatchObject({ code: 'forbidden' });
    expect((await invoke('/rooms/biology/presence', { headers: { authorization: own } })).json).toMatchObject({ code: 'forbidden' });
    // Erasure is for the backend, even in the token's own room.
    expect((await invoke('/users/s-1/records', { method: 'DELETE', headers: { authorization: own } })).statusCode).toBe(403);
    // A student's token reads nothing.
    const pupil = `Bearer ${await makeToken({ sub: 's-1', name: 'Ada', rooms: ['algebra'] })}`;
    expect((await invoke('/classes?room=algebra', { headers: { authorization: pupil } })).json).toMatchObject({ code: 'forbidden' });
  });

  it('the root route without a token is 401; a bad or forged token too', async () => {
    const none = await invoke('/classes');
    expect(none.statusCode).toBe(401);
    expect(none.json).toMatchObject({ code: 'unauthorized' });
    const forged = await makeToken({ sub: 't-1', role: 'teacher', rooms: ['*'], secret: 'another-secret-that-is-at-least-32-chars' });
    expect((await invoke('/classes', { headers: { authorization: `Bearer ${forged}` } })).statusCode).toBe(401);
  });

  it('an iam context or a SigV4 header on a root route grants no backend access', async () => {
    // As if API Gateway had verified a caller on the root route (it never does: no authorizer there).
    const forgedContext = await invoke('/classes', { route: 'staff', iam: VERIFIED_CALLER });
    expect(forgedContext.statusCode).toBe(401);
    const signedHeader = await invoke('/classes', {
      route: 'staff',
      iam: VERIFIED_CALLER,
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEBACKEND01/20261206/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00', 'x-amz-date': '20261206T000000Z' },
    });
    expect(signedHeader.statusCode).toBe(403);
    // A staff token with an iam context on the root route is still only staff: refused another room.
    const own = `Bearer ${await staffToken(['algebra'])}`;
    expect((await invoke('/classes?room=biology', { route: 'staff', iam: VERIFIED_CALLER, headers: { authorization: own } })).statusCode).toBe(403);
    // The /backend route without the caller API Gateway adds (an AWS_IAM authorization removed by hand) is refused.
    expect((await invoke('/backend/classes', { iam: null })).json).toMatchObject({ code: 'forbidden' });
  });

  it('bad input is a 400 from the catalogue, never a 500', async () => {
    for (const target of ['/backend/classes/abc', '/backend/classes/-1/attendance', '/backend/classes/99999999999999999999', '/backend/classes?limit=501', '/backend/classes?room=bad%20room', '/backend/rooms/%E0%A4%A/presence', `/backend/rooms/${'r'.repeat(300)}/history`]) {
      const answer = await invoke(target);
      expect(answer.statusCode, target).toBe(400);
      expect(answer.json, target).toMatchObject({ code: 'bad_request' });
    }
    const tooLongQuery = await handlers.api(httpApiEvent(`/backend/classes?room=${'a'.repeat(MAX_RECORDS_QUERY_LENGTH)}`));
    expect(tooLongQuery.statusCode).toBe(400);
    const withBody = await invoke('/backend/webhooks/dead-letters/1/redeliver', { method: 'POST', body: 'x'.repeat(MAX_RECORDS_BODY_BYTES + 1) });
    expect(withBody.statusCode).toBe(413);
    expect(withBody.json).toMatchObject({ code: 'payload_too_large' });
    const unknown = await handlers.api(httpApiEvent('/backend/nothing-here'));
    expect([unknown.statusCode, JSON.parse(unknown.body)]).toEqual([404, { code: 'not_found', message: 'not found' }]);
    // A method the API does not serve on its path (API Gateway routes GET, DELETE and POST to the function):
    // 405 with Allow from the route table, the document's x-method-not-allowed answer, on both routes.
    const wrongMethod = await invoke('/backend/classes', { method: 'POST' });
    expect([wrongMethod.statusCode, wrongMethod.headers.allow, wrongMethod.json]).toEqual([405, 'GET', { code: 'bad_request', message: 'method POST is not supported here; use GET' }]);
    const wrongForStaff = await invoke(`/classes/${classId}`, { method: 'POST' });
    expect([wrongForStaff.statusCode, wrongForStaff.headers.allow]).toEqual([405, 'GET, DELETE']);
    expect((await invoke('/backend/classes/424242')).json).toMatchObject({ code: 'not_found' });
  });

  it('a backend lists dead letters and erases a user', async () => {
    expect((await invoke('/backend/webhooks/dead-letters')).json).toEqual({ deadLetters: [], next: null });
    expect((await invoke('/backend/webhooks/dead-letters/7/redeliver', { method: 'POST' })).statusCode).toBe(404);
    const erased = await invoke('/backend/users/s-1/records', { method: 'DELETE' });
    expect(erased.json).toMatchObject({ userId: 's-1', messagesKept: false });
    expect((erased.json as { erasedEvents: number }).erasedEvents).toBeGreaterThan(0);
  });
});

describe('records HTTP API on the Lambda runtime: the database down', () => {
  it('answers 503 unavailable (retryable), not 500, when the database cannot be reached', async () => {
    const redis = await RedisProcess.start();
    // Nothing listens on port 1: the connection is refused at once.
    const handlers = createRecordsHandlers({ CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', CLASSWIRE_JWT_SECRET: SECRET }, { logger: silent });
    try {
      const answer = await handlers.api(httpApiEvent('/backend/classes'));
      expect(answer.statusCode).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'unavailable' });
      expectDocumented('GET', '/classes', answer.statusCode, JSON.parse(answer.body));
    } finally {
      await handlers.close();
      await redis.stop();
    }
  });
});

describe('records HTTP API on the Lambda runtime: an outage is 503, a bug is 500', () => {
  let redis: RedisProcess;
  let database: TestDatabase;
  let proxy: FaultProxy;
  let handlers: RecordsHandlers;
  const lines: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    database = await BACKENDS[0].open();
    // The function reaches the real database through a proxy this test controls: the outage is the proxy's.
    proxy = new FaultProxy(5432, { raw: true });
    const url = new URL(await database.url());
    url.port = String(await proxy.start());
    const logger = createLambdaLogger({ logLevel: 'info' }, 'ClasswireTest-RecordsApi', { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    handlers = createRecordsHandlers({ CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_URL: url.toString(), CLASSWIRE_JWT_SECRET: SECRET }, { logger });
    expect((await handlers.api(httpApiEvent('/backend/classes'))).statusCode).toBe(200);
  });
  afterAll(async () => {
    await handlers.close();
    await proxy.stop();
    await database.drop();
    await redis.stop();
  });

  async function invoke(target: string): Promise<{ status: number; retryAfter: string | undefined; json: unknown; logged: typeof lines }> {
    const mark = lines.length;
    const answer = await handlers.api(httpApiEvent(target));
    const json: unknown = JSON.parse(answer.body);
    expectDocumented('GET', target.replace(/^\/backend(?=\/)/, ''), answer.statusCode, json);
    return { status: answer.statusCode, retryAfter: answer.headers['retry-after'], json, logged: lines.slice(mark) };
  }

  it('answers 503 unavailable with Retry-After, logged as a warning, while the database refuses connections; 200 once it is back', async () => {
    proxy.refuse(true);
    // The pool's open connections go too: the next query must open one.
    proxy.cutAll();
    const refused = await invoke('/backend/classes');
    expect(refused).toMatchObject({ status: 503, retryAfter: '5', json: { code: 'unavailable', message: 'class records are unavailable; retry later' } });
    expect(refused.logged.map((line) => [line.level, line.msg])).toEqual([[40, 'records API request refused: a store is unreachable']]);

    proxy.refuse(false);
    expect((await invoke('/backend/classes')).status).toBe(200);
  });

  it('answers a bug with 500 internal, logged as an error, not 503', async () => {
    // A schema the code does not expect (the table gone from under it): Postgres answers, so it is no outage.
    await sql`alter table classes rename to classes_moved`.execute(database.records.db);
    try {
      const broken = await invoke('/backend/classes');
      expect(broken).toMatchObject({ status: 500, json: { code: 'internal', message: 'internal error' } });
      expect(broken.retryAfter).toBeUndefined();
      expect(broken.logged.map((line) => [line.level, line.msg])).toEqual([[50, 'records API request failed']]);
    } finally {
      await sql`alter table classes_moved rename to classes`.execute(database.records.db);
    }
    expect((await invoke('/backend/classes')).status).toBe(200);
  });
});
