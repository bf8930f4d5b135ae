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
});
