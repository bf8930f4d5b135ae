import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { JwtAuthorizer, MemoryBroker, MemoryPresence, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SECRET } from '../../../test-support/harness.js';
import { POSTGRES } from '../../../test-support/postgres.js';
import { MAX_EARLY_ROOMS, Recorder, RecordsService, RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A TCP gate in front of the machine's Postgres: connections wait (their bytes unread) until `release`,
 * so the records database opens exactly when the test says.
 */
async function heldPostgres(): Promise<{ port: number; release(): void; close(): Promise<void> }> {
  const target = new URL(POSTGRES);
  const sockets = new Set<Socket>();
  const waiting: Socket[] = [];
  let released = false;
  const pass = (client: Socket): void => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  };
  const server = createServer((client) => {
    sockets.add(client);
    if (released) pass(client);
    else waiting.push(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    release: () => {
      released = true;
      for (const client of waiting.splice(0)) pass(client);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('RecordsService on Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await BACKENDS[0].open();
  });
  afterAll(() => database.drop());

  it('at start, catches up rooms with an open class that saw no publish since the last recorder stopped', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const store = new RecordsStore(database.records.db);
    const publish = (event: string, data: unknown) => broker.publish('history', encodeMessageBody(event, data, teacher));
    await publish('class.start', {});
    await new Recorder({ store, broker, logger: silent }).recordRoom('history');
    // Sequenced after the last recording, by a node that then died: nobody publishes in the room again.
    await publish('chat.message', { text: 'unrecorded one' });
    await publish('chat.message', { text: 'unrecorded two' });

    const service = new RecordsService(
      { target: { url: await database.url() }, retentionDays: undefined, keepErasedMessages: false },
      { broker, presence: new MemoryPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger: silent },
    );
    expect(await service.ready()).toBe(true);
    await vi.waitFor(async () => expect(await store.cursor('history')).toMatchObject({ seq: 3 }), { timeout: 10_000, interval: 50 });
    await service.close();
    expect((await store.roomEvents('history')).map((event) => event.seq)).toEqual([1, 2, 3]);
  });

  it('at start, closes the presence of members the records hold but the live presence lost (a restart), through the log', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const store = new RecordsStore(database.records.db);
    const presence = new MemoryPresence();
    const ada = { userId: 's-ada', name: 'Ada', role: 'student' as const };
    const publish = (event: string, data: unknown, from: Sender) => broker.publish('geography', encodeMessageBody(event, data, from));
    await publish('presence.join', { ...teacher }, teacher);
    await publish('presence.join', { ...ada }, ada);
    await new Recorder({ store, broker, logger: silent }).recordRoom('geography');
    // After a restart only the teacher is back: Ada's leave never reached the log.
    await presence.add('geography', { userId: 't-1', name: 'Ms Rivera', role: 'teacher' }, 'c-teacher');

    const service = new RecordsService(
      { target: { url: await database.url() }, retentionDays: undefined, keepErasedMessages: false },
      { broker, presence, authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger: silent },
    );
    expect(await service.ready()).toBe(true);
    await vi.waitFor(async () => expect(await store.cursor('geography')).toMatchObject({ seq: 3 }), { timeout: 10_000, interval: 50 });
    await service.close();
    const events = await store.roomEvents('geography');
    expect(events.map((event) => [event.event, event.author_id, (event.data as { reason?: string }).reason])).toEqual([
      ['presence.join', 't-1', undefined],
      ['presence.join', 's-ada', undefined],
      ['presence.leave', 's-ada', 'disconnected'],
    ]);
    expect((await store.recordedPresence()).filter((member) => member.room === 'geography').map((member) => member.userId)).toEqual(['t-1']);
  });

  it('at start, a room whose reconciliation fails holds back no other room, is counted failed, and is reconciled again by the idle sweep once it can be', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const db = database.records.db;
    const store = new RecordsStore(db);
    const rooms = ['reconcile-a', 'reconcile-b', 'reconcile-c'];
    const ada = { userId: 's-ada', name: 'Ada', role: 'student' as const };
    for (const room of rooms) {
      await broker.publish(room, encodeMessageBody('presence.join', { ...ada }, ada));
      await new Recorder({ store, broker, logger: silent }).recordRoom(room);
    }
    // The middle room has a message left unrecorded, and the database refuses its events (a trigger, as a
    // constraint or a lock timeout would): its recording, the reconciliation's first step, fails.
    await broker.publish('reconcile-b', encodeMessageBody('chat.message', { text: 'unrecorded' }, ada));
    await sql`create function refuse_reconcile_b() returns trigger language plpgsql as $$ begin raise exception 'room refused'; end $$`.execute(db);
    await sql`create trigger refuse_reconcile_b before insert on record_events for each row when (new.room = 'reconcile-b') execute function refuse_reconcile_b()`.execute(db);
    const present = async (): Promise<string[]> => (await store.recordedPresence()).filter((member) => rooms.includes(member.room)).map((member) => member.room);
    const warned: unknown[] = [];

    // After a restart nobody is back (an empty live presence).
    const service = new RecordsService(
      { target: { url: await database.url() }, retentionDays: undefined, keepErasedMessages: false, worker: false, idleMs: 1_000 },
      { broker, presence: new MemoryPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger: { ...silent, warn: (details) => warned.push((details as { room?: unknown }).room) } },
    );
    try {
      expect(await service.ready()).toBe(true);
      await vi.waitFor(async () => expect(await present()).toEqual(['reconcile-b']), { timeout: 10_000, interval: 50 });
      await vi.waitFor(() => expect(warned).toContain('reconcile-b'), { timeout: 10_000, interval: 50 });
      expect(service.recordingStats().roomsFailed).toBeGreaterThan(0);

      await sql`drop trigger refuse_reconcile_b on record_events`.execute(db);
      await sql`drop function refuse_reconcile_b`.execute(db);
      await vi.waitFor(async () => expect(await present()).toEqual([]), { timeout: 10_000, interval: 50 });
    } finally {
      await service.close();
    }
    expect((await store.roomEvents('reconcile-b')).map((event) => [event.event, (event.data as { reason?: string }).reason])).toEqual([
      ['presence.join', undefined],
      ['chat.message', undefined],
      ['presence.leave', 'disconnected'],
    ]);
  });

  it('remembers at most MAX_EARLY_ROOMS rooms while the database is not open; a room past the bound is recorded whole at its next message', async () => {
    const own = await BACKENDS[0].open();
    const gate = await heldPostgres();
    try {
      const url = new URL(await own.url());
      url.port = String(gate.port);
      const broker = new MemoryBroker({ delivery: noDelivery });
      const warnings: string[] = [];
      const service = new RecordsService(
        { target: { url: url.href }, retentionDays: undefined, keepErasedMessages: false, worker: false },
        { broker, presence: new MemoryPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger: { ...silent, warn: (_details, message) => warnings.push(message) } },
      );
      const observed = service.observe(broker);
      const publish = (room: string, text: string) => observed.publish(room, encodeMessageBody('chat.message', { text }, teacher));
      await publish('early-first', 'within the bound');
      for (let i = 1; i < MAX_EARLY_ROOMS; i++) service.noteActivity(`early-${i}`);
      expect(warnings).toEqual([]);
      // Past the bound: neither remembered nor counted twice, and said once.
      await publish('early-past', 'one');
      await publish('early-past', 'two');
      service.notePrivate('early-past-private');
      expect(service.recordingStats().rooms).toBe(MAX_EARLY_ROOMS);
      expect(service.recordingStats().oldestNotedAt).toBeLessThanOrEqual(Date.now());
      expect(warnings).toHaveLength(1);

      gate.release();
      expect(await service.ready()).toBe(true);
      const store = new RecordsStore(own.records.db);
      await vi.waitFor(async () => expect(await store.cursor('early-first')).toMatchObject({ seq: 1 }), { timeout: 60_000, interval: 100 });
      // Its next message notes it: recorded from its cursor, so its messages from before the open too.
      await publish('early-past', 'three');
      await vi.waitFor(async () => expect(await store.cursor('early-past')).toMatchObject({ seq: 3 }), { timeout: 60_000, interval: 100 });
      await service.close();
      expect((await store.roomEvents('early-past')).map((event) => (event.data as { text: string }).text)).toEqual(['one', 'two', 'three']);
      expect(await store.gaps('early-past')).toEqual([]);
    } finally {
      await gate.close();
      await own.drop();
    }
  }, 120_000);

  it('close() waits for a presence reconciliation in progress, which starts no further room, before closing the database', async () => {
    const own = await BACKENDS[0].open();
    try {
      const broker = new MemoryBroker({ delivery: noDelivery });
      const store = new RecordsStore(own.records.db);
      const ada = { userId: 's-ada', name: 'Ada', role: 'student' as const };
      for (const room of ['close-a', 'close-b']) {
        await broker.publish(room, encodeMessageBody('presence.join', { ...ada }, ada));
        await new Recorder({ store, broker, logger: silent }).recordRoom(room);
      }
      // After a restart nobody is back; the live presence of the first room answers only when the test says.
      let entered!: () => void;
      const reconciling = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const listed: string[] = [];
      class HeldPresence extends MemoryPresence {
        override async list(room: string) {
          listed.push(room);
          entered();
          await held;
          return super.list(room);
        }
      }
      const order: string[] = [];
      const append = broker.publish.bind(broker);
      broker.publish = async (room, body, options) => {
        const result = await append(room, body, options);
        order.push(`appended in ${room}`);
        return result;
      };
      const problems: string[] = [];
      const logger = { info: () => undefined, warn: (_details: object, message: string) => problems.push(message), error: (_details: object, message: string) => problems.push(message) };
      const service = new RecordsService(
        { target: { url: await own.url() }, retentionDays: undefined, keepErasedMessages: false, worker: false },
        { broker, presence: new HeldPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger },
      );
      expect(await service.ready()).toBe(true);
      await reconciling;
      // The catch-up at open has been recorded: closing the recorder has nothing in flight to wait for.
      await vi.waitFor(() => expect(service.recordingStats().rooms).toBe(0), { timeout: 10_000, interval: 50 });

      const closed = service.close().then(() => order.push('closed'));
      // Whatever close() does without waiting on the reconciliation is done within this turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      order.push('released');
      release();
      await closed;
      // The held room finished (its leave appended through a database still open), then close resolved;
      // the second room was not started once close had begun (the next start reconciles it).
      expect(order).toEqual(['released', 'appended in close-a', 'closed']);
      expect(listed).toEqual(['close-a']);
      expect(problems).toEqual([]);
    } finally {
      await own.drop();
    }
  });

  it('close() waits for an idle sweep in progress, which ends its classes through a database still open', async () => {
    const own = await BACKENDS[0].open();
    try {
      const broker = new MemoryBroker({ delivery: noDelivery });
      const store = new RecordsStore(own.records.db);
      const ada = { userId: 's-ada', name: 'Ada', role: 'student' as const };
      const rooms = ['idle-a', 'idle-b'];
      // A first join opened each class, and the room emptied: both are idle once the sweep looks.
      for (const room of rooms) {
        await broker.publish(room, encodeMessageBody('presence.join', { ...ada }, ada));
        await broker.publish(room, encodeMessageBody('presence.leave', { ...ada, reason: 'left' }, ada));
        await new Recorder({ store, broker, logger: silent }).recordRoom(room);
      }
      // Only the idle sweep reads these rooms' state (their polls' final results, once a class ended):
      // the first such read holds the sweep midway, its first class ended and the second not yet.
      let entered!: () => void;
      const sweeping = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const readState = broker.readState.bind(broker);
      broker.readState = async (...args) => {
        entered();
        await held;
        return readState(...args);
      };
      const problems: string[] = [];
      const logger = { info: () => undefined, warn: (_details: object, message: string) => problems.push(message), error: (_details: object, message: string) => problems.push(message) };
      const service = new RecordsService(
        { target: { url: await own.url() }, retentionDays: undefined, keepErasedMessages: false, worker: false, idleMs: 1_000 },
        { broker, presence: new MemoryPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger },
      );
      expect(await service.ready()).toBe(true);
      await sweeping;

      const order: string[] = [];
      const closed = service.close().then(() => order.push('closed'));
      // Whatever close() does without waiting on the sweep is done within this turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      order.push('released');
      release();
      await closed;
      expect(order).toEqual(['released', 'closed']);
      // The sweep went on to the second room through the open database, and nothing failed at shutdown.
      const classes = await own.records.db.selectFrom('classes').select(['room', 'ended_at']).orderBy('room').execute();
      expect(classes.map((row) => [row.room, row.ended_at !== null])).toEqual([
        ['idle-a', true],
        ['idle-b', true],
      ]);
      expect(problems).toEqual([]);
    } finally {
      await own.drop();
    }
  });

  it('close() waits for a retention run in progress, which stops after the class it is deleting, before closing the database', async () => {
    const own = await BACKENDS[0].open();
    try {
      const db = own.records.db;
      // Two classes that ended long ago, with an event each: retention deletes them one class at a time.
      for (const room of ['retention-a', 'retention-b']) {
        const { id } = await db.insertInto('classes').values({ room, started_at: 1_000, ended_at: 2_000, started_by: null, empty_since: null }).returning('id').executeTakeFirstOrThrow();
        await db
          .insertInto('record_events')
          .values({ room, epoch: 'e1', seq: 1, private_id: null, ts: 1_500, event: 'chat.message', data: JSON.stringify({ text: 'old' }), author_id: 't-1', author_name: 'Ms Rivera', author_role: 'teacher', class_id: id })
          .execute();
      }
      // Another session holds the events table against writes: retention's first delete waits for it.
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const holder = db.transaction().execute(async (trx) => {
        await sql`lock table record_events in share mode`.execute(trx);
        locked();
        await held;
      });
      await lockTaken;
      const deletesWaiting = async (): Promise<number> =>
        (await sql<{ waiting: number }>`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'delete from "record_events"%'`.execute(db)).rows[0]!.waiting;

      const problems: string[] = [];
      const logger = { info: () => undefined, warn: (_details: object, message: string) => problems.push(message), error: (_details: object, message: string) => problems.push(message) };
      const broker = new MemoryBroker({ delivery: noDelivery });
      const service = new RecordsService(
        { target: { url: await own.url() }, retentionDays: 1, keepErasedMessages: false, worker: false },
        { broker, presence: new MemoryPresence(), authorizer: new JwtAuthorizer({ secret: SECRET }), authenticateBackend: () => Promise.resolve(false), logger },
      );
      expect(await service.ready()).toBe(true);
      await vi.waitFor(async () => expect(await deletesWaiting()).toBe(1), { timeout: 10_000, interval: 50 });

      const order: string[] = [];
      const closed = service.close().then(() => order.push('closed'));
      // Whatever close() does without waiting on the retention run is done within this turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      order.push('released');
      release();
      await holder;
      await closed;
      expect(order).toEqual(['released', 'closed']);
      // The class in progress went whole (its events, then itself) through the open database; the next
      // one was not started once close had begun (the next run deletes it), and nothing failed.
      expect((await db.selectFrom('classes').select('room').execute()).map((row) => row.room)).toEqual(['retention-b']);
      expect((await db.selectFrom('record_events').select('room').execute()).map((row) => row.room)).toEqual(['retention-b']);
      expect(problems).toEqual([]);
    } finally {
      await own.drop();
    }
  });
});
