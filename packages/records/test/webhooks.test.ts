import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwtAuthorizer, MemoryBroker, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_KEY, eventually, makeToken, SECRET } from '../../../test-support/harness.js';
import {
  DEFAULT_IDLE_MS,
  createRecordsApi,
  recordedAttendance,
  Recorder,
  RECORDS_ENV,
  recordsSettings,
  RecordsStore,
  WebhookDeadLetters,
  WebhookDispatcher,
  WebhookOutbox,
  type AttendanceSummaryFn,
  type WebhookEndpoint,
} from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';
import { expectDocumented } from './openapi.js';
import { newSecret, Receiver } from './receiver.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const ada: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silent = { warn: () => undefined };

/** Time for the outbox's schedule: advanced by the tests, never waited for. */
class Clock {
  value = Date.now();
  readonly now = (): number => this.value;
  advance(ms: number): void {
    this.value += ms;
  }
}

function endpoint(name: string, receiver: Receiver, filters: Partial<Pick<WebhookEndpoint, 'events' | 'messages'>> = {}): WebhookEndpoint {
  return { name, url: receiver.url, secret: receiver.secret, events: filters.events ?? ['class.*', 'member.*', 'moderation.*'], messages: filters.messages ?? [] };
}

describe.each(BACKENDS)('webhooks on $name', ({ open }) => {
  let database: TestDatabase;
  const receivers: Receiver[] = [];
  const dispatchers: WebhookDispatcher[] = [];

  beforeAll(async () => {
    database = await open();
  });
  afterEach(async () => {
    for (const dispatcher of dispatchers.splice(0)) await dispatcher.close();
    for (const receiver of receivers.splice(0)) await receiver.stop();
    await database.records.db.deleteFrom('webhook_outbox').execute();
  });
  afterAll(() => database.drop());

  async function newReceiver(): Promise<Receiver> {
    const receiver = new Receiver();
    await receiver.start();
    receivers.push(receiver);
    return receiver;
  }

  /** A room's log, its recorder writing the outbox, and a dispatcher on the same clock. */
  function setup(endpoints: WebhookEndpoint[], options: { clock?: Clock; backoffMs?: number; retryForMs?: number; concurrency?: number; timeoutMs?: number; attendance?: AttendanceSummaryFn } = {}) {
    const clock = options.clock ?? new Clock();
    // The log's server timestamps come from the same clock (attendance minutes are measured on them).
    const broker = new MemoryBroker({ maxMessages: 1000, maxAgeMs: 7 * 24 * 60 * 60 * 1000, delivery: noDelivery, now: clock.now });
    const dispatcher = new WebhookDispatcher({
      db: database.records.db,
      endpoints,
      logger: silent,
      timeoutMs: options.timeoutMs ?? 30_000,
      retryForMs: options.retryForMs ?? 24 * 60 * 60 * 1000,
      concurrency: options.concurrency ?? 4,
      // Retries come due only when a test moves the clock and wakes the dispatcher.
      pollMs: 3_600_000,
      now: clock.now,
      backoff: () => options.backoffMs ?? 60_000,
    });
    dispatchers.push(dispatcher);
    const outbox = new WebhookOutbox(endpoints, options.attendance ?? recordedAttendance(), () => dispatcher.wake());
    const store = new RecordsStore(database.records.db, { hook: outbox });
    const recorder = new Recorder({ store, broker, logger: silent, now: clock.now });
    const publish = async (room: string, event: string, data: unknown, from: Sender): Promise<void> => {
      clock.advance(1_000);
      await broker.publish(room, encodeMessageBody(event, data, from));
    };
    return { clock, broker, dispatcher, store, recorder, publish };
  }

  async function outboxRows() {
    return database.records.db.selectFrom('webhook_outbox').selectAll().orderBy('id').execute();
  }

  it('sends class, member and moderation webhooks signed per Standard Webhooks, and message.published only where opted in', async () => {
    const everything = await newReceiver();
    const chatOnly = await newReceiver();
    const { dispatcher, recorder, publish } = setup([endpoint('1', everything), endpoint('2', chatOnly, { events: ['message.published'], messages: ['chat.*'] })]);
    dispatcher.start();
    const room = 'webhook-kinds';
    await publish(room, 'class.start', {}, teacher);
    await publish(room, 'presence.join', { userId: ada.userId, name: ada.name, role: ada.role }, ada);
    await publish(room, 'chat.message', { text: 'hello' }, ada);
    await publish(room, 'moderation.mute', { userId: ada.userId, muted: true }, teacher);
    await publish(room, 'hand.raise', {}, ada);
    await publish(room, 'presence.leave', { userId: ada.userId, name: ada.name, role: ada.role, reason: 'left' }, ada);
    await publish(room, 'class.end', {}, teacher);
    await recorder.recordRoom(room);

    await eventually(() => everything.received.length === 5 && chatOnly.received.length === 1);
    expect(everything.rejected).toEqual([]);
    // Deliveries to one endpoint run in parallel (its concurrency), so their order is not promised.
    expect(everything.received.map((delivery) => delivery.type).sort()).toEqual(['class.ended', 'class.started', 'member.joined', 'member.left', 'moderation.mute']);
    expect(everything.ids().size).toBe(5);
    const byType = new Map(everything.received.map((delivery) => [delivery.type, delivery.payload]));
    const started = byType.get('class.started')!;
    expect(started.data).toMatchObject({ room, startedBy: 't-1' });
    expect(typeof started.data.classId).toBe('string');
    expect(byType.get('member.joined')!.data).toMatchObject({ room, userId: 's-1', name: 'Ada', role: 'student', classId: started.data.classId });
    expect(byType.get('member.left')!.data).toMatchObject({ userId: 's-1', reason: 'left' });
    expect(byType.get('moderation.mute')!.data).toMatchObject({ room, by: { userId: 't-1' }, action: { userId: 's-1', muted: true } });
    const ended = byType.get('class.ended')!.data as { attendance: { attendees: { userId: string; firstJoin: number; lastLeave: number; disconnects: number }[] } };
    expect(ended).toMatchObject({ room, classId: started.data.classId, endedBy: 't-1' });
    // Ada joined at the second publish and left at the sixth: one visit of four (test) seconds.
    expect(ended.attendance.attendees).toEqual([expect.objectContaining({ userId: 's-1', disconnects: 0 })]);
    expect(ended.attendance.attendees[0]!.lastLeave - ended.attendance.attendees[0]!.firstJoin).toBe(4_000);
    expect(Date.parse(started.timestamp)).toBeGreaterThan(0);

    expect(chatOnly.received.map((delivery) => [delivery.type, delivery.payload.data.event])).toEqual([['message.published', 'chat.message']]);
    expect(chatOnly.received[0]!.payload.data).toMatchObject({ room, seq: 3, data: { text: 'hello' }, from: { userId: 's-1' } });
    await eventually(async () => (await outboxRows()).length === 0);
  });

  it('a class a first join started: class.started at the join, class.ended with its attendance once the room stays empty', async () => {
    const receiver = await newReceiver();
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)]);
    dispatcher.start();
    const room = 'webhook-idle';
    await publish(room, 'presence.join', { userId: ada.userId, name: ada.name, role: ada.role }, ada);
    await publish(room, 'chat.message', { text: 'early' }, ada);
    await publish(room, 'presence.leave', { userId: ada.userId, name: ada.name, role: ada.role, reason: 'disconnected' }, ada);
    await recorder.recordRoom(room);
    // Delivered and deleted: a row still claimed when the clock jumps below would come due again (its
    // claim expires), and at-least-once would rightly send it a second time.
    await eventually(async () => receiver.received.length === 3 && (await outboxRows()).length === 0);
    expect(receiver.received.map((delivery) => delivery.type).sort()).toEqual(['class.started', 'member.joined', 'member.left']);
    // Not idle long enough yet: nothing ends.
    expect((await recorder.endIdleClasses(DEFAULT_IDLE_MS)).ended).toBe(0);
    clock.advance(DEFAULT_IDLE_MS);
    expect((await recorder.endIdleClasses(DEFAULT_IDLE_MS)).ended).toBe(1);
    await eventually(() => receiver.received.length === 4);
    expect(receiver.rejected).toEqual([]);
    const started = receiver.received.find((delivery) => delivery.type === 'class.started')!.payload;
    const ended = receiver.received.find((delivery) => delivery.type === 'class.ended')!.payload;
    expect(started.data).toMatchObject({ room, startedBy: null });
    // It ended when the room emptied (Ada's leave, two test seconds after her join), by nobody.
    expect(ended.data).toMatchObject({ room, classId: started.data.classId, endedBy: null, endedAt: (started.data.startedAt as number) + 2_000 });
    expect((ended.data.attendance as { attendees: unknown[] }).attendees).toEqual([expect.objectContaining({ userId: 's-1', disconnects: 1, minutesPresent: 0 })]);
    // A second sweep ends nothing.
    expect((await recorder.endIdleClasses(DEFAULT_IDLE_MS)).ended).toBe(0);
  });

  it('loses nothing while the receiver is down: every event arrives once it is back, under the id it was first sent with', async () => {
    const receiver = await newReceiver();
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)]);
    await receiver.stop();
    const room = 'webhook-down';
    await publish(room, 'class.start', {}, teacher);
    for (let i = 0; i < 12; i++) {
      const student: Sender = { userId: `s-${i}`, name: `Student ${i}`, role: 'student' };
      await publish(room, 'presence.join', student, student);
      if (i % 3 === 0) await publish(room, 'presence.leave', { ...student, reason: 'network' }, student);
    }
    await publish(room, 'class.end', {}, teacher);
    await recorder.recordRoom(room);
    const expected = new Set((await outboxRows()).map((row) => row.message_id));
    expect(expected.size).toBe(1 + 12 + 4 + 1);

    // Every attempt fails (connection refused) and is put off by the backoff.
    dispatcher.wake();
    await eventually(async () => (await outboxRows()).every((row) => row.attempts === 1 && row.next_attempt_at === clock.value + 60_000 && row.last_status === null));

    await receiver.start();
    clock.advance(60_000);
    dispatcher.wake();
    await eventually(() => receiver.ids().size === expected.size);
    expect(receiver.ids()).toEqual(expected);
    expect(receiver.rejected).toEqual([]);
    await eventually(async () => (await outboxRows()).length === 0);
  });

  it('retries 500s: a retried webhook carries the same id and the same body', async () => {
    const receiver = await newReceiver();
    receiver.behaviour = 'fail-first';
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)]);
    const room = 'webhook-500';
    await publish(room, 'class.start', {}, teacher);
    await publish(room, 'presence.join', ada, ada);
    await recorder.recordRoom(room);
    dispatcher.wake();
    await eventually(async () => (await outboxRows()).every((row) => row.attempts === 1 && row.last_status === 500));
    expect(receiver.received).toHaveLength(2);

    clock.advance(60_000);
    dispatcher.wake();
    await eventually(async () => (await outboxRows()).length === 0);
    expect(receiver.received).toHaveLength(4);
    for (const first of receiver.received.slice(0, 2)) {
      const again = receiver.received.slice(2).find((delivery) => delivery.id === first.id);
      expect(again?.body).toBe(first.body);
    }
    // Closed, every attempt has settled: two failed, then both delivered, none given up.
    await dispatcher.close();
    expect(dispatcher.counts()).toEqual({ delivered: 2, failedAttempts: 2, deadLettered: 0 });
  });

  it('waits as long as a busy receiver asks (retry-after) when that is longer than the backoff', async () => {
    const receiver = await newReceiver();
    receiver.behaviour = 'busy';
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)]);
    const room = 'webhook-busy';
    await publish(room, 'class.start', {}, teacher);
    await recorder.recordRoom(room);
    dispatcher.wake();
    await eventually(async () => (await outboxRows())[0]?.attempts === 1);
    expect((await outboxRows())[0]).toMatchObject({ last_status: 429, next_attempt_at: clock.value + 600_000 });
  });

  it('a receiver that hangs does not delay deliveries to another endpoint', async () => {
    const stuck = await newReceiver();
    stuck.behaviour = 'hang';
    const healthy = await newReceiver();
    const { dispatcher, recorder, publish } = setup([endpoint('1', stuck), endpoint('2', healthy)], { concurrency: 3 });
    dispatcher.start();
    const room = 'webhook-hang';
    await publish(room, 'class.start', {}, teacher);
    for (let i = 0; i < 20; i++) {
      const student: Sender = { userId: `h-${i}`, name: `Student ${i}`, role: 'student' };
      await publish(room, 'presence.join', student, student);
    }
    await recorder.recordRoom(room);

    // Everything for the healthy endpoint is delivered (and its rows gone) while the stuck one still hangs.
    await eventually(async () => healthy.ids().size === 21 && (await outboxRows()).every((row) => row.endpoint === '1'));
    // The stuck endpoint holds exactly its own slots, still unanswered; its other rows wait their turn.
    expect(stuck.waiting).toBe(3);
    expect(stuck.received).toHaveLength(3);
    expect(await outboxRows()).toHaveLength(21);
  });

  it('gives up on an attempt at the timeout and retries it later', async () => {
    const receiver = await newReceiver();
    receiver.behaviour = 'hang';
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)], { timeoutMs: 300 });
    const room = 'webhook-timeout';
    await publish(room, 'class.start', {}, teacher);
    await recorder.recordRoom(room);
    dispatcher.wake();
    await eventually(async () => (await outboxRows())[0]?.attempts === 1);
    const [row] = await outboxRows();
    expect(row).toMatchObject({ last_status: null, next_attempt_at: clock.value + 60_000 });
    expect(row!.last_error).toMatch(/timeout|aborted/i);

    receiver.behaviour = 'ok';
    clock.advance(60_000);
    dispatcher.wake();
    await eventually(async () => (await outboxRows()).length === 0);
    expect(receiver.received.map((delivery) => delivery.id)).toEqual([row!.message_id, row!.message_id]);
  });

  it('dead-letters after the retry window, lists it in the API, and redelivers it with the same id', async () => {
    const receiver = await newReceiver();
    receiver.behaviour = 'fail';
    const threeHours = 3 * 60 * 60 * 1000;
    const { clock, dispatcher, recorder, publish } = setup([endpoint('1', receiver)], { backoffMs: threeHours });
    const room = 'webhook-dead';
    await publish(room, 'class.start', {}, teacher);
    await recorder.recordRoom(room);
    const [row] = await outboxRows();

    // Attempts at 0 h, 3 h, ... 24 h: the one at 24 h, having failed, ends the window.
    for (let attempt = 1; attempt <= 9; attempt++) {
      dispatcher.wake();
      await eventually(async () => (await outboxRows())[0]!.attempts === attempt);
      clock.advance(threeHours);
    }
    const dead = (await outboxRows())[0]!;
    expect(dead.dead_at).not.toBeNull();
    expect(receiver.received).toHaveLength(9);
    await eventually(() => dispatcher.counts().deadLettered === 1);
    expect(dispatcher.counts()).toEqual({ delivered: 0, failedAttempts: 9, deadLettered: 1 });

    const api = createRecordsApi({
      store: new RecordsStore(database.records.db),
      broker: new MemoryBroker({ delivery: noDelivery }),
      presence: { list: () => Promise.resolve([]) },
      authenticateBackend: (req) => Promise.resolve(req.headers.authorization === `Bearer ${API_KEY}`),
      authorizer: new JwtAuthorizer({ secret: SECRET }),
      keepErasedMessages: false,
      deadLetters: new WebhookDeadLetters(database.records.db),
      onRedeliver: () => dispatcher.wake(),
      now: clock.now,
      logger: { warn: () => undefined, error: () => undefined },
    });
    const server = createServer((req, res) => {
      api(req, res).then(
        (handled) => handled || res.writeHead(404).end(),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = async (method: string, path: string, auth = `Bearer ${API_KEY}`) => {
      const response = await fetch(`${base}${path}`, { method, headers: { authorization: auth } });
      const body: unknown = await response.json();
      expectDocumented(method, new URL(path, base).pathname, response.status, body);
      return { status: response.status, body };
    };
    try {
      const listed = await call('GET', '/webhooks/dead-letters');
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ next: null, deadLetters: [{ id: row!.id, endpoint: '1', messageId: row!.message_id, type: 'class.started', attempts: 9, lastStatus: 500, lastError: 'HTTP 500' }] });
      expect((await call('GET', '/webhooks/dead-letters?endpoint=2')).body).toEqual({ deadLetters: [], next: null });
      expect((await call('GET', '/webhooks/dead-letters?limit=0')).status).toBe(400);
      expect((await call('GET', '/webhooks/dead-letters?endpoint=x')).status).toBe(400);
      const staff = `Bearer ${await makeToken({ role: 'teacher', rooms: [room] })}`;
      expect((await call('GET', '/webhooks/dead-letters', staff)).status).toBe(403);
      expect((await call('POST', `/webhooks/dead-letters/${row!.id}/redeliver`, staff)).status).toBe(403);
      expect((await call('POST', '/webhooks/dead-letters/999999/redeliver')).status).toBe(404);
      expect((await call('POST', '/webhooks/dead-letters/abc/redeliver')).status).toBe(400);

      receiver.behaviour = 'ok';
      const redelivered = await call('POST', `/webhooks/dead-letters/${row!.id}/redeliver`);
      expect(redelivered).toMatchObject({ status: 202, body: { id: row!.id, redelivering: true } });
      await eventually(async () => (await outboxRows()).length === 0);
      expect(receiver.received).toHaveLength(10);
      expect(receiver.received.at(-1)!.id).toBe(row!.message_id);
      expect((await call('POST', `/webhooks/dead-letters/${row!.id}/redeliver`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('retention deletes old dead letters and leaves webhooks still being tried', async () => {
    const { store } = setup([]);
    const row = { type: 'class.started', body: '{}', created_at: 1_000, retry_from: 1_000, next_attempt_at: 1_000 };
    await database.records.db
      .insertInto('webhook_outbox')
      .values([
        { ...row, endpoint: '1', message_id: 'msg_old_dead', dead_at: 2_000 },
        { ...row, endpoint: '1', message_id: 'msg_recent_dead', dead_at: 9_000 },
        { ...row, endpoint: '1', message_id: 'msg_pending', dead_at: null },
      ])
      .execute();
    await store.deleteOlderThan(5_000);
    expect((await outboxRows()).map((left) => left.message_id)).toEqual(['msg_recent_dead', 'msg_pending']);
  });

  it('writes the outbox in the recorder transaction: a failing outbox records nothing, and re-recording enqueues nothing twice', async () => {
    const receiver = await newReceiver();
    let broken = true;
    const attendance: AttendanceSummaryFn = (db, classId) => (broken ? Promise.reject(new Error('summary failed')) : recordedAttendance()(db, classId));
    const { store, recorder, publish, broker } = setup([endpoint('1', receiver)], { attendance });
    const room = 'webhook-atomic';
    await publish(room, 'class.start', {}, teacher);
    await publish(room, 'presence.join', ada, ada);
    await publish(room, 'class.end', {}, teacher);
    await expect(recorder.recordRoom(room)).rejects.toThrow();
    expect(await store.roomEvents(room)).toEqual([]);
    expect(await store.cursor(room)).toBeUndefined();
    expect(await outboxRows()).toEqual([]);

    broken = false;
    const second = new Recorder({ store, broker, logger: silent });
    await Promise.allSettled([recorder.recordRoom(room), second.recordRoom(room)]);
    await recorder.recordRoom(room);
    expect((await store.roomEvents(room)).map((event) => event.seq)).toEqual([1, 2, 3]);
    // Delivered at once (the commit wakes the dispatcher): three webhooks, each sent once.
    await eventually(async () => (await outboxRows()).length === 0 && receiver.received.length >= 3);
    expect(receiver.received.map((delivery) => delivery.type).sort()).toEqual(['class.ended', 'class.started', 'member.joined']);
    expect(await database.records.db.selectFrom('classes').select('id').where('room', '=', room).execute()).toHaveLength(1);
    expect(receiver.ids().size).toBe(3);
  });
});

describe('webhook configuration', () => {
  const schema = z.object(RECORDS_ENV);
  const secret = newSecret();
  const settings = (env: Record<string, string>) => recordsSettings(schema.parse(env));

  it('reads endpoints, their secrets and filters, with message.published opt-in by room event pattern', () => {
    const parsed = settings({
      CLASSWIRE_DATA_DIR: '/tmp/x',
      CLASSWIRE_WEBHOOK_URL: 'https://lms.example/hooks',
      CLASSWIRE_WEBHOOK_SECRET: secret,
      CLASSWIRE_WEBHOOK_3_URL: 'http://analytics.internal/in',
      CLASSWIRE_WEBHOOK_3_SECRET: secret,
      CLASSWIRE_WEBHOOK_3_EVENTS: 'class.ended',
      CLASSWIRE_WEBHOOK_3_MESSAGES: 'chat.*, hand.raise',
      CLASSWIRE_WEBHOOK_RETRY_HOURS: '12',
    });
    expect(parsed?.webhooks).toEqual({
      endpoints: [
        { name: '1', url: 'https://lms.example/hooks', secret, events: ['class.*', 'member.*', 'moderation.*'], messages: [] },
        { name: '3', url: 'http://analytics.internal/in', secret, events: ['class.ended', 'message.published'], messages: ['chat.*', 'hand.raise'] },
      ],
      timeoutMs: 10_000,
      retryForMs: 12 * 60 * 60 * 1000,
      concurrency: 4,
    });
    expect(settings({ CLASSWIRE_DATA_DIR: '/tmp/x' })?.webhooks).toBeUndefined();
  });

  it('refuses a bad value with a message naming the variable', () => {
    const problems = (env: Record<string, string>): string => {
      const parsed = schema.safeParse(env);
      if (!parsed.success) return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      try {
        recordsSettings(parsed.data);
        return '';
      } catch (error) {
        return String(error);
      }
    };
    const base = { CLASSWIRE_DATA_DIR: '/tmp/x' };
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'ftp://x/y', CLASSWIRE_WEBHOOK_SECRET: secret })).toMatch(/CLASSWIRE_WEBHOOK_URL: a webhook URL is http/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: 'hunter2' })).toMatch(/CLASSWIRE_WEBHOOK_SECRET: a webhook secret is whsec_/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: `whsec_${randomBytes(8).toString('base64')}` })).toMatch(/24 to 64 bytes/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y' })).toMatch(/CLASSWIRE_WEBHOOK_SECRET: every webhook endpoint needs its own secret/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_2_SECRET: secret })).toMatch(/CLASSWIRE_WEBHOOK_2_URL: set it/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: secret, CLASSWIRE_WEBHOOK_EVENTS: 'class.stated' })).toMatch(/"class.stated" matches no webhook type/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: secret, CLASSWIRE_WEBHOOK_MESSAGES: 'chat.**' })).toMatch(/CLASSWIRE_WEBHOOK_MESSAGES/);
    expect(problems({ CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: secret })).toMatch(/webhooks need the records database/);
    expect(problems({ ...base, CLASSWIRE_WEBHOOK_URL: 'https://x/y', CLASSWIRE_WEBHOOK_SECRET: secret, CLASSWIRE_WEBHOOK_CONCURRENCY: '0' })).toMatch(/CLASSWIRE_WEBHOOK_CONCURRENCY/);
    // A started class's idle limit: a year at most, so its milliseconds stay exact.
    expect(problems({ ...base, CLASSWIRE_RECORDS_STARTED_IDLE_HOURS: '8761' })).toMatch(/CLASSWIRE_RECORDS_STARTED_IDLE_HOURS/);
    expect(problems({ ...base, CLASSWIRE_RECORDS_STARTED_IDLE_HOURS: '0' })).toMatch(/CLASSWIRE_RECORDS_STARTED_IDLE_HOURS/);
    expect(settings({ ...base, CLASSWIRE_RECORDS_STARTED_IDLE_HOURS: '8760' })?.startedIdleMs).toBe(8760 * 3_600_000);
    // Retention: 1 to 36,500 days (a hundred years), whole days.
    for (const bad of ['0', '36501', '1.5', 'a year']) expect(problems({ ...base, CLASSWIRE_RECORDS_RETENTION_DAYS: bad })).toMatch(/CLASSWIRE_RECORDS_RETENTION_DAYS/);
    expect(settings({ ...base, CLASSWIRE_RECORDS_RETENTION_DAYS: '36500' })?.retentionDays).toBe(36_500);
  });
});
