/**
 * `room.history()` and `room.fetchMembers()` against a real gateway: paging the live log alone, and
 * beyond it from the class records (a real PostgreSQL database) when the server keeps them.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { RecordsStore } from '../../records/src/index.js';
import { BACKENDS, type TestDatabase } from '../../records/test/databases.js';
import { TestClient, startTestGateway } from '../../../test-support/harness.js';
import type { ClasswireClient, HistoryPage, OpenEventMap, Room } from '../src/node.js';
import { RUNTIMES, makeToken, range, sdkClient, startRuntime, wsUrl } from './helpers.js';

/** The live log keeps this many messages per room in these suites. */
const LIVE = 10;
const LIMITS = { CLASSWIRE_HISTORY_SIZE: String(LIVE), CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' };

/** Every page from the newest back, each page's seqs, until `next` is null. */
async function pageBack(room: Room<OpenEventMap>, limit: number): Promise<{ pages: number[][]; archive: boolean[] }> {
  const pages: number[][] = [];
  const archive: boolean[] = [];
  let before: number | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const page: HistoryPage = await room.history(before === undefined ? { limit } : { before, limit });
    pages.push(page.messages.map((m) => m.seq!));
    archive.push(page.archive);
    if (page.next === null) return { pages, archive };
    before = page.next;
  }
  throw new Error('history did not end');
}

async function joined(gateway: Gateway, sub: string, room: string, role = 'student'): Promise<[ClasswireClient<OpenEventMap>, Room<OpenEventMap>]> {
  const client = sdkClient(wsUrl(gateway), { token: await makeToken({ sub, name: sub.toUpperCase(), role, rooms: [room] }) });
  const joinedRoom = client.join(room);
  await joinedRoom.ready;
  return [client, joinedRoom];
}

describe.each(RUNTIMES)('room.history on the live log only (no records), on %s', (runtime) => {
  let gateway: Gateway;
  let client: ClasswireClient<OpenEventMap>;
  let room: Room<OpenEventMap>;

  beforeAll(async () => {
    gateway = await startRuntime(runtime, LIMITS);
    [client, room] = await joined(gateway, 'ada', 'h-live');
    for (const i of range(1, 25)) await room.publish('note.add', { i });
  });
  afterAll(async () => {
    client.close();
    await gateway.drain();
  });

  it('pages back from the newest and stops where the live log ends, saying no archive answered', async () => {
    const first = await room.history({ limit: 4 });
    expect(first.messages.map((m) => [m.seq, (m.data as { i: number }).i, m.event, m.from.userId])).toEqual(range(22, 25).map((i) => [i, i, 'note.add', 'ada']));
    expect(first.next).toBe(22);
    expect(first.archive).toBe(false);
    // The log holds the last 10 (16–25): a page below 22 gets 16–21, and nothing older is available.
    const { pages, archive } = await pageBack(room, 4);
    expect(pages).toEqual([range(22, 25), range(18, 21), range(16, 17)]);
    expect(archive).toEqual([false, false, false]);
  });

  it('answers members with the authoritative member list', async () => {
    const [other, otherRoom] = await joined(gateway, 'bo', 'h-live');
    const members = await room.fetchMembers();
    expect(members.map((m) => m.userId).sort()).toEqual(['ada', 'bo']);
    expect((await otherRoom.fetchMembers()).map((m) => m.name).sort()).toEqual(['ADA', 'BO']);
    other.close();
    await vi.waitFor(async () => expect((await room.fetchMembers()).map((m) => m.userId)).toEqual(['ada']), { timeout: 5000, interval: 20 });
  });

  it('refuses a non-member, a limit over 100 and a frame without an id, with catalogue codes', async () => {
    const stranger = await TestClient.connect(gateway, await makeToken({ sub: 'eve', rooms: ['h-live'] }));
    expect(await stranger.request({ action: 'history', room: 'h-live', id: 'h1' })).toMatchObject({ code: 'not_joined', id: 'h1' });
    expect(await stranger.request({ action: 'members', room: 'h-live', id: 'm1' })).toMatchObject({ code: 'not_joined', id: 'm1' });
    expect(await stranger.request({ action: 'history', room: 'h-live', limit: 101, id: 'h2' })).toMatchObject({ code: 'bad_request', id: 'h2' });
    expect(await stranger.request({ action: 'history', room: 'h-live', before: 0, id: 'h3' })).toMatchObject({ code: 'bad_request', id: 'h3' });
    stranger.send({ action: 'history', room: 'h-live' });
    expect(await stranger.next((f) => f.type === 'error')).toMatchObject({ code: 'bad_request' });
    await stranger.close();
  });

  it('keeps every answer within the frame limit: large messages come in smaller pages', async () => {
    const [big, bigRoom] = await joined(gateway, 'cy', 'h-big');
    const text = 'x'.repeat(8000);
    for (const i of range(1, LIVE)) await bigRoom.publish('note.add', { i, text });
    const { pages } = await pageBack(bigRoom, 100);
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flat().sort((a, b) => a - b)).toEqual(range(1, LIVE));
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(3);
    big.close();
  });

  it('never pages private messages (in a classroom), not even to the staff they were sent to', async () => {
    const classroom = await startTestGateway({ ...LIMITS, CLASSWIRE_CLASSROOM: '1' });
    const [teacher, teacherRoom] = await joined(classroom, 'tess', 'h-private', 'teacher');
    const [student, studentRoom] = await joined(classroom, 'sam', 'h-private');
    await teacherRoom.publish('class.start', {});
    await studentRoom.publish('chat.private', { text: 'a private question' });
    await studentRoom.publish('chat.message', { text: 'a public one' });
    for (const room of [teacherRoom, studentRoom]) {
      const page = await room.history();
      expect(page.messages.map((m) => m.event)).toEqual(['class.start', 'chat.message']);
    }
    teacher.close();
    student.close();
    await classroom.drain();
  });
});

describe('room.history beyond the live log, from the class records (Postgres)', () => {
  // With records on, ada's first join is in the log (`presence.join`, seq 1): the 25 notes are seqs 2-26.
  const JOIN = 1;
  let database: TestDatabase;
  let gateway: Gateway;
  let client: ClasswireClient<OpenEventMap>;
  let room: Room<OpenEventMap>;

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    gateway = await startTestGateway({ ...LIMITS, CLASSWIRE_DATABASE_URL: await database.url() });
    [client, room] = await joined(gateway, 'ada', 'h-rec');
    const store = new RecordsStore(database.records.db);
    // In fives, each recorded before the next: the live log (10) never drops what the recorder has not read.
    for (const batch of range(0, 4)) {
      for (const i of range(batch * 5 + 1, batch * 5 + 5)) await room.publish('note.add', { i });
      await vi.waitFor(async () => expect(await store.cursor('h-rec')).toMatchObject({ seq: JOIN + batch * 5 + 5 }), { timeout: 15_000, interval: 20 });
    }
  });
  afterAll(async () => {
    client.close();
    await gateway.drain();
    await database.drop();
  });

  it('pages every message once, in order, back to the first: the live log, then the records', async () => {
    const { pages, archive } = await pageBack(room, 7);
    expect(pages).toEqual([range(20, 26), range(13, 19), range(6, 12), range(1, 5)]);
    expect(archive.every(Boolean)).toBe(true);
    // From the records, a message is the frame the room delivered.
    const first = await room.history({ before: JOIN + 2, limit: 1 });
    expect(first.messages).toEqual([
      expect.objectContaining({ type: 'message', room: 'h-rec', seq: JOIN + 1, event: 'note.add', data: { i: 1 }, from: { userId: 'ada', name: 'ADA', role: 'student' } }),
    ]);
    const oldest = await room.history({ before: JOIN + 1, limit: 1 });
    expect(oldest.messages).toEqual([expect.objectContaining({ seq: 1, event: 'presence.join', data: { userId: 'ada', name: 'ADA', role: 'student' } })]);
    expect(oldest.next).toBeNull();
  });

  it('mixes the live log and the records in one page when it spans both', async () => {
    // The live log (10) holds seqs 17-26: this page takes 13-16 from the records and 17-20 from the log.
    const page = await room.history({ before: 21, limit: 8 });
    expect(page.messages.map((m) => m.seq)).toEqual(range(13, 20));
    expect(page.next).toBe(13);
  });
});
