import { redisKeys } from '@classwire/core';
import { RecordsStore } from '@classwire/records';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { BACKENDS, type TestDatabase } from '../../records/test/databases.js';
import { Receiver } from '../../records/test/receiver.js';
import { TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { LambdaConfigError, createLambdaLogger, createRecordsHandlers, type LambdaContext, type RecordsHandlers } from '../src/index.js';
import type { Logger } from '@classwire/core';

/** What EventBridge passes a scheduled function (the handlers do not read it). */
const SCHEDULED_EVENT = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-12-04T23:59:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/classwire-records'],
  detail: {},
};

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);

function contextWith(remainingMs: number): LambdaContext {
  return { getRemainingTimeInMillis: () => remainingMs };
}

/** A Lambda logger whose JSON lines are kept: what CloudWatch Logs would receive. */
function capturingLogger(): { logger: Logger; metricLines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = createLambdaLogger({ logLevel: 'info' }, 'ClasswireTest-Records', { write: (line: string) => void lines.push(line) });
  // Only the lines that carry an EMF directive become metrics.
  const metricLines = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => '_aws' in line);
  return { logger, metricLines };
}

/**
 * The metrics CloudWatch extracts from one EMF line, after checking the line is one it accepts: the
 * `Classwire` namespace, the one `Function` dimension present as a string, and every declared metric a
 * number at the top level (CloudWatch drops a line that breaks these rules).
 */
function emfMetrics(line: Record<string, unknown>, functionName: string): Record<string, number> {
  const directive = line._aws as { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  expect(typeof directive.Timestamp).toBe('number');
  expect(directive.CloudWatchMetrics).toHaveLength(1);
  const [{ Namespace, Dimensions, Metrics }] = directive.CloudWatchMetrics as [(typeof directive.CloudWatchMetrics)[number]];
  expect(Namespace).toBe('Classwire');
  expect(Dimensions).toEqual([['Function']]);
  expect(line.Function).toBe(functionName);
  const values: Record<string, number> = {};
  for (const { Name, Unit } of Metrics) {
    expect(Unit).toBe('Count');
    expect(typeof line[Name]).toBe('number');
    values[Name] = line[Name] as number;
  }
  return values;
}

/**
 * Records on the Lambda runtime with real parts: the Lambda handlers behind the API Gateway emulator
 * mark rooms in a real Redis, the scheduled handlers are invoked as EventBridge would, against a real
 * Postgres, and webhooks reach a receiver verifying them with `standardwebhooks`.
 */
describe('records on the Lambda runtime (Redis + Postgres)', () => {
  let redis: RedisProcess;
  let database: TestDatabase;
  let store: RecordsStore;
  let gateway: Gateway;
  const receiver = new Receiver();
  const prefix = 'awsrec';
  const opened: RecordsHandlers[] = [];
  let environment: Record<string, string>;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    database = await BACKENDS[0].open();
    store = new RecordsStore(database.records.db);
    await receiver.start();
    gateway = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_REDIS_PREFIX: prefix,
      CLASSWIRE_RECORD_ROOMS: 'true',
    });
    environment = {
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_REDIS_PREFIX: prefix,
      CLASSWIRE_DATABASE_URL: await database.url(),
      CLASSWIRE_WEBHOOK_URL: receiver.url,
      CLASSWIRE_WEBHOOK_SECRET: receiver.secret,
    };
  });
  afterAll(async () => {
    await gateway.drain();
    await Promise.all(opened.map((handlers) => handlers.close()));
    await receiver.stop();
    await database.drop();
    await redis.stop();
  });

  /** A fresh execution environment of the records functions. */
  function coldStart(): RecordsHandlers {
    const handlers = createRecordsHandlers(environment, { logger: silent });
    opened.push(handlers);
    return handlers;
  }

  async function pending(): Promise<string[]> {
    return (await redis.client().smembers(redisKeys(prefix).roomsToRecord())).sort();
  }

  /**
   * Closes the clients and records their rooms' last leaves (each close appends a `presence.leave` and
   * marks the room), so the next test starts with nothing marked.
   */
  async function closeAndRecord(room: string, clients: TestClient[]): Promise<void> {
    await Promise.all(clients.map((client) => client.close()));
    const handlers = coldStart();
    await eventually(async () => {
      await handlers.record(SCHEDULED_EVENT, contextWith(60_000));
      return (await store.roomEvents(room)).filter((event) => event.event === 'presence.leave').length === clients.length;
    });
    expect(await pending()).toEqual([]);
  }

  async function publish(client: TestClient, room: string, event: string, data: unknown): Promise<number> {
    const ack = await client.request({ action: 'publish', room, event, data });
    expect(ack).toMatchObject({ type: 'ack' });
    return ack.seq as number;
  }

  it('records a class once however many runs overlap, and sends its webhooks signed', async () => {
    const teacher = await TestClient.connect(gateway, await makeToken({ sub: 't-1', name: 'Ms Rivera', role: 'teacher', rooms: ['physics'] }));
    const student = await TestClient.connect(gateway, await makeToken({ sub: 's-1', name: 'Ada', rooms: ['physics'] }));
    await teacher.join('physics');
    await student.join('physics');
    await publish(teacher, 'physics', 'class.start', {});
    await publish(student, 'physics', 'chat.message', { text: 'hello' });
    // The publish handler marked the room and wrote nothing to the database.
    expect(await pending()).toEqual(['physics']);
    expect(await store.roomEvents('physics')).toEqual([]);

    // Two execution environments run at once (a slow run overlapping the next minute's), then a third.
    const runs = await Promise.all([coldStart().record(SCHEDULED_EVENT, contextWith(60_000)), coldStart().record(SCHEDULED_EVENT, contextWith(60_000))]);
    expect(runs.reduce((sum, run) => sum + run.failed + run.deferred, 0)).toBe(0);
    expect(await pending()).toEqual([]);
    await publish(student, 'physics', 'chat.message', { text: 'a question' });
    await publish(teacher, 'physics', 'class.end', {});
    expect(await pending()).toEqual(['physics']);
    const warm = coldStart();
    expect(await warm.record(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ recorded: 1, failed: 0, deferred: 0 });
    // Nothing marked and no class open: a run finds no work.
    expect(await warm.record(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ recorded: 0, failed: 0, deferred: 0 });

    // With records on, the Lambda engine puts first joins in the log too (attendance on AWS).
    const events = await store.roomEvents('physics');
    expect(events.map((event) => [event.seq, event.event, event.author_id])).toEqual([
      [1, 'presence.join', 't-1'],
      [2, 'presence.join', 's-1'],
      [3, 'class.start', 't-1'],
      [4, 'chat.message', 's-1'],
      [5, 'chat.message', 's-1'],
      [6, 'class.end', 't-1'],
    ]);
    // The first join opened a class; the teacher's class.start ended it and opened theirs (records.md).
    const classes = await store.listClasses({ room: 'physics', limit: 10 });
    expect(classes).toHaveLength(2);
    expect(classes[0]).toMatchObject({ started_by: 't-1', started_at: events[2]!.ts, ended_at: events[5]!.ts });
    expect(classes[1]).toMatchObject({ started_by: null, started_at: events[0]!.ts, ended_at: events[2]!.ts });

    // The dispatcher function delivers the outbox the recorder filled, until nothing is due.
    expect(await coldStart().dispatch(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ idle: true });
    expect(receiver.rejected).toEqual([]);
    expect(receiver.received.map((delivery) => delivery.type).sort()).toEqual(['class.ended', 'class.ended', 'class.started', 'class.started', 'member.joined', 'member.joined']);
    expect(receiver.ids().size).toBe(6);
    const ended = receiver.received.find((delivery) => delivery.type === 'class.ended' && delivery.payload.data.startedBy === 't-1')!.payload.data;
    expect(ended).toMatchObject({ room: 'physics', classId: String(classes[0]!.id), endedBy: 't-1' });
    // Its attendance, from the records: both were present from the class's start to its end.
    expect((ended.attendance as { attendees: { userId: string; lastLeave: number | null }[] }).attendees).toEqual([
      expect.objectContaining({ userId: 's-1', firstJoin: events[2]!.ts, lastLeave: events[5]!.ts }),
      expect.objectContaining({ userId: 't-1', firstJoin: events[2]!.ts, lastLeave: events[5]!.ts }),
    ]);
    expect(await database.records.db.selectFrom('webhook_outbox').select('id').execute()).toEqual([]);
    await closeAndRecord('physics', [teacher, student]);
  });

  it('records private messages (room state, not log): storing one marks its room', async () => {
    const room = 'counselling';
    // The classroom policy is what keeps `chat.private` out of the log.
    const classroom = await startTestGateway({ CLASSWIRE_MODE: 'apigw-emulator', CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_PREFIX: prefix, CLASSWIRE_RECORD_ROOMS: 'true', CLASSWIRE_CLASSROOM: '1' });
    const teacher = await TestClient.connect(classroom, await makeToken({ sub: 't-3', name: 'Mr Obi', role: 'teacher', rooms: [room] }));
    const student = await TestClient.connect(classroom, await makeToken({ sub: 's-3', name: 'Bo', rooms: [room] }));
    await teacher.join(room);
    await student.join(room);
    await publish(teacher, room, 'class.start', {});
    await coldStart().record(SCHEDULED_EVENT, contextWith(60_000));
    expect(await pending()).toEqual([]);
    await publish(student, room, 'chat.private', { text: 'may I leave early?' });
    expect(await pending()).toEqual([room]);
    await coldStart().record(SCHEDULED_EVENT, contextWith(60_000));
    const rows = (await store.roomEvents(room)).filter((event) => event.event === 'chat.private');
    expect(rows.map((row) => [row.author_id, row.seq, row.data])).toEqual([['s-3', null, { to: null, text: 'may I leave early?' }]]);
    // Ended, so that no class stays open for the next tests' runs.
    await publish(teacher, room, 'class.end', {});
    await closeAndRecord(room, [teacher, student]);
    await classroom.drain();
  });

  it('a run out of time leaves the rooms it did not reach marked for the next run', async () => {
    const key = redisKeys(prefix).roomsToRecord();
    await redis.client().sadd(key, 'late-a', 'late-b');
    // Less time left than the safety margin: nothing is taken on.
    expect(await coldStart().record(SCHEDULED_EVENT, contextWith(1_000))).toEqual({ recorded: 0, failed: 0, deferred: 2 });
    expect(await pending()).toEqual(['late-a', 'late-b']);
    expect(await coldStart().record(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ recorded: 2, failed: 0, deferred: 0 });
    expect(await pending()).toEqual([]);
  });

  it('a class left open is looked at on every run, marked or not (a run that died after taking its rooms)', async () => {
    const teacher = await TestClient.connect(gateway, await makeToken({ sub: 't-2', name: 'Mr Okafor', role: 'teacher', rooms: ['biology'] }));
    await teacher.join('biology');
    await publish(teacher, 'biology', 'class.start', {});
    await coldStart().record(SCHEDULED_EVENT, contextWith(60_000));
    await publish(teacher, 'biology', 'chat.message', { text: 'cells' });
    // As if a run had popped the room and died before recording it.
    await redis.client().srem(redisKeys(prefix).roomsToRecord(), 'biology');
    await coldStart().record(SCHEDULED_EVENT, contextWith(60_000));
    expect((await store.roomEvents('biology')).map((event) => event.event)).toEqual(['presence.join', 'class.start', 'chat.message']);
    await closeAndRecord('biology', [teacher]);
  });

  it('a database that cannot be reached loses no mark: the rooms wait for a run that can record them', async () => {
    const key = redisKeys(prefix).roomsToRecord();
    await redis.client().sadd(key, 'while-down');
    const down = createRecordsHandlers({ ...environment, CLASSWIRE_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/classwire_no_such_database' }, { logger: silent });
    opened.push(down);
    await expect(down.record(SCHEDULED_EVENT, contextWith(60_000))).rejects.toThrow();
    expect(await pending()).toEqual(['while-down']);
    expect(await coldStart().record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 0, deferred: 0 });
    expect(await pending()).toEqual([]);
    expect(await store.cursor('while-down')).toBeUndefined(); // nothing in its log: looked at, nothing to write
  });

  describe('retention (CLASSWIRE_RECORDS_RETENTION_DAYS)', () => {
    const DAY_MS = 24 * 60 * 60 * 1000;
    const db = () => database.records.db;
    const mark = () => redisKeys(prefix).recordsRetentionMark();

    /** An ended class with one event, `daysAgo` old, and one event outside any class, as old. */
    async function insertRecords(room: string, daysAgo: number): Promise<void> {
      const ts = Date.now() - daysAgo * DAY_MS;
      const { id } = await db().insertInto('classes').values({ room, started_at: ts - 60_000, ended_at: ts, started_by: 't-9' }).returning('id').executeTakeFirstOrThrow();
      await db()
        .insertInto('record_events')
        .values([
          { room, epoch: 'e1', seq: 1, private_id: null, ts: ts - 30_000, event: 'chat.message', data: JSON.stringify({ text: 'in class' }), author_id: 't-9', author_name: 'T', author_role: 'teacher', class_id: id },
          { room, epoch: 'e1', seq: 2, private_id: null, ts, event: 'chat.message', data: JSON.stringify({ text: 'after class' }), author_id: 't-9', author_name: 'T', author_role: 'teacher', class_id: null },
        ])
        .execute();
    }

    /** What is recorded of `room`: its classes and its events. */
    async function kept(room: string): Promise<{ classes: number; events: number }> {
      return { classes: (await store.listClasses({ room, limit: 10 })).length, events: (await store.roomEvents(room)).length };
    }

    function withRetention(days: string, logger: Logger = silent): RecordsHandlers {
      const handlers = createRecordsHandlers({ ...environment, CLASSWIRE_RECORDS_RETENTION_DAYS: days }, { logger });
      opened.push(handlers);
      return handlers;
    }

    it('deletes old classes and events once an hour across runs, and keeps recent ones', async () => {
      await redis.client().del(mark());
      await insertRecords('archive-old', 40);
      await insertRecords('archive-recent', 10);
      const first = withRetention('30');
      expect(await first.record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 0, deferred: 0, retention: 'deleted' });
      expect(await kept('archive-old')).toEqual({ classes: 0, events: 0 });
      expect(await kept('archive-recent')).toEqual({ classes: 1, events: 2 });
      // The mark lasts an hour.
      const ttl = await redis.client().pttl(mark());
      expect(ttl).toBeGreaterThan(3_540_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);

      // Within the hour, neither the same environment nor another deletes again.
      await insertRecords('archive-later', 40);
      expect((await first.record(SCHEDULED_EVENT, contextWith(60_000))).retention).toBeUndefined();
      expect((await withRetention('30').record(SCHEDULED_EVENT, contextWith(60_000))).retention).toBeUndefined();
      expect(await kept('archive-later')).toEqual({ classes: 1, events: 2 });

      // Once the mark is gone (the hour is over), the next run deletes.
      await redis.client().del(mark());
      expect((await withRetention('30').record(SCHEDULED_EVENT, contextWith(60_000))).retention).toBe('deleted');
      expect(await kept('archive-later')).toEqual({ classes: 0, events: 0 });
      expect(await kept('archive-recent')).toEqual({ classes: 1, events: 2 });
      await redis.client().del(mark());
    });

    it('without the setting nothing is deleted and no mark is set', async () => {
      await insertRecords('archive-unset', 400);
      expect((await coldStart().record(SCHEDULED_EVENT, contextWith(60_000))).retention).toBeUndefined();
      expect(await kept('archive-unset')).toEqual({ classes: 1, events: 2 });
      expect(await redis.client().exists(mark())).toBe(0);
    });

    it('a run whose time budget is spent records what it can and leaves retention to the next run', async () => {
      await insertRecords('archive-late', 400);
      await redis.client().sadd(redisKeys(prefix).roomsToRecord(), 'retention-late');
      const late = await withRetention('300').record(SCHEDULED_EVENT, contextWith(1_000));
      expect(late).toMatchObject({ recorded: 0, failed: 0 });
      expect(late.deferred).toBeGreaterThan(0);
      expect(late.retention).toBeUndefined();
      expect(await pending()).toContain('retention-late');
      expect(await kept('archive-late')).toEqual({ classes: 1, events: 2 });
      expect(await redis.client().exists(mark())).toBe(0);
      expect(await withRetention('300').record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 0, deferred: 0, retention: 'deleted' });
      expect(await pending()).toEqual([]);
      expect(await kept('archive-late')).toEqual({ classes: 0, events: 0 });
      await redis.client().del(mark());
    });

    it('a failed delete costs no recording and does not hold the next attempt back an hour', async () => {
      // The database refuses the delete: a trigger on the classes table, as a real failure would.
      await sql`create function refuse_delete() returns trigger language plpgsql as $$ begin raise exception 'deletes refused'; end $$`.execute(db());
      await sql`create trigger refuse_class_delete before delete on classes for each row execute function refuse_delete()`.execute(db());
      await insertRecords('archive-refused', 400);
      await redis.client().sadd(redisKeys(prefix).roomsToRecord(), 'retention-refused');
      const captured = capturingLogger();
      const refused = await withRetention('30', captured.logger).record(SCHEDULED_EVENT, contextWith(60_000));
      expect(refused).toMatchObject({ failed: 0, deferred: 0, retention: 'failed' });
      // The run's metrics say so: RetentionFailed is what the dashboard graphs.
      expect(captured.metricLines().map((line) => emfMetrics(line, 'records.record'))).toEqual([
        { RoomsRecorded: refused.recorded, RoomsFailed: 0, RoomsDeferred: 0, RetentionFailed: 1 },
      ]);
      // The marked room was recorded (looked at: it has no log) and is no longer marked.
      expect(await pending()).toEqual([]);
      // Retention goes in short transactions: the class the trigger protects is still there (its events,
      // deleted before it, may not be); the run after the trigger is gone finishes.
      expect((await kept('archive-refused')).classes).toBe(1);
      expect(await redis.client().exists(mark())).toBe(0);

      await sql`drop trigger refuse_class_delete on classes`.execute(db());
      await sql`drop function refuse_delete`.execute(db());
      expect((await withRetention('30').record(SCHEDULED_EVENT, contextWith(60_000))).retention).toBe('deleted');
      expect(await kept('archive-refused')).toEqual({ classes: 0, events: 0 });
      await redis.client().del(mark());
    });

    it('refuses a value that is not a whole number of days from 1 to 36,500', () => {
      for (const bad of ['0', '-3', '36501', '1.5', '30d', 'Infinity']) {
        expect(() => withRetention(bad)).toThrow(LambdaConfigError);
        expect(() => withRetention(bad)).toThrow(/^CLASSWIRE_RECORDS_RETENTION_DAYS: /);
      }
      expect(() => withRetention('36500')).not.toThrow();
    });
  });

  it('the dispatcher stops at its time budget with a receiver that hangs, and the webhook waits for the next run', async () => {
    const hanging = new Receiver();
    hanging.behaviour = 'hang';
    await hanging.start();
    const dispatcherEnvironment = { ...environment, CLASSWIRE_WEBHOOK_URL: hanging.url, CLASSWIRE_WEBHOOK_SECRET: hanging.secret, CLASSWIRE_WEBHOOK_TIMEOUT_MS: '1000' };
    const teacher = await TestClient.connect(gateway, await makeToken({ sub: 't-3', name: 'Ms Ito', role: 'teacher', rooms: ['chemistry'] }));
    await teacher.join('chemistry');
    await publish(teacher, 'chemistry', 'class.start', {});
    const handlers = createRecordsHandlers(dispatcherEnvironment, { logger: silent });
    opened.push(handlers);
    await handlers.record(SCHEDULED_EVENT, contextWith(60_000));
    const outbox = async () => (await database.records.db.selectFrom('webhook_outbox').select(['type', 'attempts']).where('body', 'like', '%chemistry%').orderBy('id').execute()).map((row) => `${row.type} ${row.attempts}`);
    // The first join's class, the member, the first join's class ended by the teacher's start, the teacher's class.
    const queued = ['class.started 0', 'member.joined 0', 'class.ended 0', 'class.started 0'];
    expect(await outbox()).toEqual(queued);
    // 6.3 s left: 5 s of safety and one attempt's 1 s timeout leave a budget of 0.3 s, which the attempt
    // to the hanging receiver outlasts: the run stops there and aborts it, recording no outcome.
    expect(await handlers.dispatch(SCHEDULED_EVENT, contextWith(6_300))).toEqual({ idle: false });
    expect(await outbox()).toEqual(queued);
    await teacher.close();
    await hanging.stop();
  });

  it('refuses to start without a database, and with a half-configured webhook', () => {
    expect(() => createRecordsHandlers({ CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/CLASSWIRE_DATABASE_URL or CLASSWIRE_DATABASE_SECRET_ARN/);
    expect(() => createRecordsHandlers({ CLASSWIRE_DATABASE_URL: 'postgres://db/x', CLASSWIRE_WEBHOOK_URL: 'https://example.com/hooks' })).toThrow(/SECRET/);
  });

  it('reads the database from an RDS secret, and refuses one without credentials', async () => {
    const handlers = createRecordsHandlers(
      { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db' },
      { logger: silent, readSecret: () => Promise.resolve(JSON.stringify({ username: 'classwire', host: 'db.internal' })) },
    );
    opened.push(handlers);
    await expect(handlers.record(SCHEDULED_EVENT, contextWith(60_000))).rejects.toThrow(/lacks username, password or host/);
  });

  describe('run metrics (CloudWatch Embedded Metric Format)', () => {
    it('a recorder run logs one EMF line with the rooms it recorded, failed and deferred', async () => {
      const functionName = 'ClasswireTest-Recorder1A2B3C';
      const captured = capturingLogger();
      const handlers = createRecordsHandlers({ ...environment, AWS_LAMBDA_FUNCTION_NAME: functionName }, { logger: captured.logger });
      opened.push(handlers);
      const room = 'emf-refused';
      // The database refuses this room's events (a trigger, as a real constraint failure would): its recording fails.
      const db = database.records.db;
      await sql`create function refuse_emf_room() returns trigger language plpgsql as $$ begin raise exception 'room refused'; end $$`.execute(db);
      await sql`create trigger refuse_emf_room before insert on record_events for each row when (new.room = 'emf-refused') execute function refuse_emf_room()`.execute(db);
      const teacher = await TestClient.connect(gateway, await makeToken({ sub: 't-5', name: 'Ms Laine', role: 'teacher', rooms: [room] }));
      await teacher.join(room);
      await publish(teacher, room, 'chat.message', { text: 'refused' });
      // Two marked rooms with nothing in their logs: looked at, recorded as up to date.
      await redis.client().sadd(redisKeys(prefix).roomsToRecord(), 'emf-empty-a', 'emf-empty-b');
      // Rooms with an open class are looked at on every run too.
      const openClasses = new Set(await store.roomsWithOpenClasses()).size;

      // Out of time before anything: every room is deferred.
      expect(await handlers.record(SCHEDULED_EVENT, contextWith(1_000))).toEqual({ recorded: 0, failed: 0, deferred: openClasses + 3 });
      // Then the empty rooms (and open classes) are recorded, the refused room fails and stays marked.
      expect(await handlers.record(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ recorded: openClasses + 2, failed: 1, deferred: 0 });
      expect(await pending()).toEqual([room]);
      expect(captured.metricLines().map((line) => emfMetrics(line, functionName))).toEqual([
        { RoomsRecorded: 0, RoomsFailed: 0, RoomsDeferred: openClasses + 3 },
        { RoomsRecorded: openClasses + 2, RoomsFailed: 1, RoomsDeferred: 0 },
      ]);

      await sql`drop trigger refuse_emf_room on record_events`.execute(db);
      await sql`drop function refuse_emf_room`.execute(db);
      expect(await handlers.record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 0, deferred: 0 });
      // Every run logs its line, a quiet one too: zeros keep the graphs continuous.
      expect(captured.metricLines()).toHaveLength(3);
      expect(emfMetrics(captured.metricLines()[2]!, functionName)).toMatchObject({ RoomsFailed: 0, RoomsDeferred: 0 });
      expect((await store.roomEvents(room)).map((event) => event.event)).toEqual(['presence.join', 'chat.message']);
      await closeAndRecord(room, [teacher]);
    });

    it('an idle class the database refuses to end is a failed room of the run (RoomsFailed, marked again); the sweep ends the others in the same run', async () => {
      const functionName = 'ClasswireTest-Recorder4D5E6F';
      const captured = capturingLogger();
      const handlers = createRecordsHandlers({ ...environment, AWS_LAMBDA_FUNCTION_NAME: functionName }, { logger: captured.logger });
      opened.push(handlers);
      const db = database.records.db;
      const rooms = ['idle-refused-a', 'idle-refused-b', 'idle-refused-c'];
      // Classes a first join started, whose rooms emptied an hour ago: past the 300 s idle time.
      const emptySince = Date.now() - 3_600_000;
      await db.insertInto('classes').values(rooms.map((room) => ({ room, started_at: emptySince - 60_000, ended_at: null, started_by: null, auto: true, empty_since: emptySince }))).execute();
      // The database refuses to end the middle one (a trigger, as a lock timeout or a constraint would).
      await sql`create function refuse_idle_end() returns trigger language plpgsql as $$ begin raise exception 'class end refused'; end $$`.execute(db);
      await sql`create trigger refuse_idle_end before update on classes for each row when (new.room = 'idle-refused-b') execute function refuse_idle_end()`.execute(db);
      const stillOpen = async (): Promise<string[]> => {
        const open = new Set(await store.roomsWithOpenClasses());
        return rooms.filter((room) => open.has(room));
      };

      expect(await handlers.record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 1, deferred: 0 });
      expect(await stillOpen()).toEqual(['idle-refused-b']);
      expect(await pending()).toEqual(['idle-refused-b']);
      expect(emfMetrics(captured.metricLines()[0]!, functionName)).toMatchObject({ RoomsFailed: 1 });

      await sql`drop trigger refuse_idle_end on classes`.execute(db);
      await sql`drop function refuse_idle_end`.execute(db);
      expect(await handlers.record(SCHEDULED_EVENT, contextWith(60_000))).toMatchObject({ failed: 0, deferred: 0 });
      expect(await stillOpen()).toEqual([]);
      expect(await pending()).toEqual([]);
      expect(emfMetrics(captured.metricLines()[1]!, functionName)).toMatchObject({ RoomsFailed: 0 });
    });

    it('a dispatcher run logs one EMF line with the webhooks delivered, the failed attempts and the dead-lettered', async () => {
      const functionName = 'ClasswireTest-Dispatcher4D5E6F';
      const db = database.records.db;
      await db.deleteFrom('webhook_outbox').execute();
      const failing = new Receiver();
      failing.behaviour = 'fail';
      await failing.start();
      const captured = capturingLogger();
      const handlers = createRecordsHandlers(
        { ...environment, CLASSWIRE_WEBHOOK_2_URL: failing.url, CLASSWIRE_WEBHOOK_2_SECRET: failing.secret, AWS_LAMBDA_FUNCTION_NAME: functionName },
        { logger: captured.logger },
      );
      opened.push(handlers);
      const now = Date.now();
      const row = (endpoint: string, id: string, retryFrom: number) => ({
        endpoint,
        message_id: id,
        type: 'class.started',
        body: JSON.stringify({ type: 'class.started', timestamp: new Date(now).toISOString(), data: { room: 'emf-hooks' } }),
        created_at: retryFrom,
        retry_from: retryFrom,
        next_attempt_at: now - 1_000,
        last_status: null,
        last_error: null,
      });
      const dayAndMore = 25 * 60 * 60 * 1000;
      await db
        .insertInto('webhook_outbox')
        .values([
          row('1', 'msg_emf_ok_1', now),
          row('1', 'msg_emf_ok_2', now),
          // Endpoint 2 refuses everything: a fresh webhook is retried later, one past the 24 h window is dead-lettered.
          row('2', 'msg_emf_retry', now),
          row('2', 'msg_emf_dead', now - dayAndMore),
        ])
        .execute();

      expect(await handlers.dispatch(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ idle: true });
      expect(captured.metricLines().map((line) => emfMetrics(line, functionName))).toEqual([{ WebhooksDelivered: 2, WebhookAttemptsFailed: 2, WebhooksDeadLettered: 1 }]);
      const left = await db.selectFrom('webhook_outbox').select(['message_id', 'attempts', 'dead_at']).orderBy('message_id').execute();
      expect(left.map((r) => [r.message_id, r.attempts, r.dead_at !== null])).toEqual([
        ['msg_emf_dead', 1, true],
        ['msg_emf_retry', 1, false],
      ]);

      // Nothing due: the next run logs zeros.
      expect(await handlers.dispatch(SCHEDULED_EVENT, contextWith(60_000))).toEqual({ idle: true });
      expect(emfMetrics(captured.metricLines()[1]!, functionName)).toEqual({ WebhooksDelivered: 0, WebhookAttemptsFailed: 0, WebhooksDeadLettered: 0 });
      await db.deleteFrom('webhook_outbox').execute();
      await failing.stop();
    });

    it('a function name that is not one Lambda could give is not used as the dimension', async () => {
      const captured = capturingLogger();
      const handlers = createRecordsHandlers({ ...environment, AWS_LAMBDA_FUNCTION_NAME: 'room "physics" user=u-1 '.repeat(10) }, { logger: captured.logger });
      opened.push(handlers);
      await handlers.record(SCHEDULED_EVENT, contextWith(60_000));
      expect(captured.metricLines().map((line) => line.Function)).toEqual(['records.record']);
    });
  });
});
