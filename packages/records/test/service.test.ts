import { JwtAuthorizer, MemoryBroker, MemoryPresence, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SECRET } from '../../../test-support/harness.js';
import { Recorder, RecordsService, RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

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
});
