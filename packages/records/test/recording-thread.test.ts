import { readdirSync, readFileSync } from 'node:fs';
import { MemoryBroker, type RecordingLease, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RecordsStore } from '../src/index.js';
import { RecordingThread } from '../src/recording-thread.js';
import { BACKENDS, type TestDatabase } from './databases.js';

const ada: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };
const silent = { warn: () => undefined, error: () => undefined };

describe('the recording thread', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await BACKENDS[0].open();
  });
  afterAll(() => database.drop());

  it('records the noted rooms from the main thread log, asking the lease for each, and ends idle classes', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    const leased: string[][] = [];
    const lease: RecordingLease = {
      ttlMs: 3_000,
      acquire: (rooms) => {
        leased.push([...rooms]);
        return Promise.resolve(rooms.map(() => true));
      },
    };
    const thread = new RecordingThread({
      data: { url: await database.url(), idleMs: 60_000, startedIdleMs: 60_000, resumeGraceMs: 0, webhooks: undefined, leaseTtlMs: lease.ttlMs },
      broker,
      lease,
      logger: silent,
      hooked: () => undefined,
      lost: () => expect.unreachable('the thread stopped'),
    });
    for (const room of ['thread-a', 'thread-b']) {
      await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, ada, ada));
      await broker.publish(room, encodeMessageBody('chat.message', { text: `hello ${room}` }, ada));
      await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...ada, reason: 'left' }, ada));
      thread.noteActivity(room);
    }
    const store = new RecordsStore(database.records.db);
    await vi.waitFor(async () => expect(await store.cursors(['thread-a', 'thread-b'])).toEqual(new Map([['thread-a', expect.objectContaining({ seq: 3 })], ['thread-b', expect.objectContaining({ seq: 3 })]])), { timeout: 10_000, interval: 50 });
    // Both rooms were noted in one turn: one drain, whose lease request names both.
    expect(leased.map((rooms) => [...rooms].sort())).toContainEqual(['thread-a', 'thread-b']);
    expect((await store.roomEvents('thread-a')).map((event) => [event.event, event.data])).toEqual([
      [PRESENCE_EVENTS.join, ada],
      ['chat.message', { text: 'hello thread-a' }],
      [PRESENCE_EVENTS.leave, { ...ada, reason: 'left' }],
    ]);
    // The thread lowered its own priority, and only its own: the event loop keeps the process's.
    const nice = (task: string) => Number(readFileSync(`/proc/${process.pid}/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(readdirSync(`/proc/${process.pid}/task`).map(nice)).toContain(10);
    expect(nice(String(process.pid))).toBe(0);
    // Requests cross too: a class emptied long ago ends at once with an idle time of 1 ms.
    expect(await thread.endIdleClasses(1)).toEqual({ ended: 2, failed: [] });
    await thread.close();
  });

  it('hands the rooms it was given back when it stops unasked (here: its database refuses it)', async () => {
    const broker = new MemoryBroker({ delivery: noDelivery });
    let handedBack!: (rooms: readonly string[]) => void;
    const lost = new Promise<readonly string[]>((resolve) => (handedBack = resolve));
    const errors: string[] = [];
    const thread = new RecordingThread({
      data: { url: 'postgres://postgres@127.0.0.1:1/nowhere', idleMs: 60_000, startedIdleMs: 60_000, resumeGraceMs: 0, webhooks: undefined, leaseTtlMs: undefined },
      broker,
      lease: undefined,
      logger: { warn: () => undefined, error: (_details, message) => errors.push(message) },
      hooked: () => undefined,
      lost: (rooms) => handedBack(rooms),
    });
    thread.noteActivity('kept-1');
    thread.noteActivity('kept-2');
    expect(new Set(await lost)).toEqual(new Set(['kept-1', 'kept-2']));
    expect(errors).toContain('the recording thread stopped; recording continues on the main thread');
    await expect(thread.recordRoom('kept-1')).rejects.toThrow('the recording thread has stopped');
    await thread.close();
  });
});
