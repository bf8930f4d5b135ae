import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import type { PositionStorage, RoomMessage } from '../src/node.js';
import { collect, eventually, makeToken, range, sdkClient, startRuntime, wsUrl } from './helpers.js';

/** A page's sessionStorage, shared by the client before and the client after a "reload". */
class MemoryStorage implements PositionStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

describe('resume across a page reload', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime('gateway');
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('a new client with the same storage resumes the room: it receives only what it missed', async () => {
    const storage = new MemoryStorage();
    const token = await makeToken({ sub: 'reloader', rooms: ['reload'] });
    const publisher = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['reload'] }) });
    const publisherRoom = publisher.join('reload');
    await publisherRoom.ready;

    const before = sdkClient(wsUrl(gateway), { token, rememberPositions: storage });
    const firstRoom = before.join('reload');
    await firstRoom.ready;
    const seenBefore: RoomMessage[] = [];
    firstRoom.on('note', collect(seenBefore));
    for (const i of range(1, 3)) await publisherRoom.publish('note', i);
    await eventually(() => seenBefore.length === 3);
    // The page goes away without leaving: its position stays in the storage.
    before.close();
    for (const i of range(4, 5)) await publisherRoom.publish('note', i);

    const after = sdkClient(wsUrl(gateway), { token, rememberPositions: storage });
    const room = after.join('reload');
    const seen: RoomMessage[] = [];
    room.on('note', collect(seen));
    const info = await room.ready;
    expect(info.recovered).toBe(true);
    await eventually(() => seen.length === 2);
    expect(seen.map((m) => [m.seq, m.data])).toEqual([
      [4, 4],
      [5, 5],
    ]);

    // Leaving forgets the position: the next join starts afresh.
    await room.leave();
    expect(storage.items.size).toBe(0);
    after.close();
    publisher.close();
  });

  it('without rememberPositions a new client starts afresh (no replay)', async () => {
    const token = await makeToken({ rooms: ['fresh'] });
    const publisher = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['fresh'] }) });
    const publisherRoom = publisher.join('fresh');
    await publisherRoom.ready;
    await publisherRoom.publish('note', 1);
    const client = sdkClient(wsUrl(gateway), { token });
    const room = client.join('fresh');
    const seen: RoomMessage[] = [];
    room.on('note', collect(seen));
    expect((await room.ready).seq).toBe(1);
    expect(room.lastSeq).toBe(1);
    expect(seen).toEqual([]);
    client.close();
    publisher.close();
  });

  it('a storage that throws or holds garbage costs only the resume', async () => {
    const broken: PositionStorage = {
      getItem: () => '{"seq":"x"',
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
      removeItem: () => {
        throw new Error('SecurityError');
      },
    };
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['broken'] }), rememberPositions: broken });
    const room = client.join('broken');
    expect((await room.ready).recovered).toBe(false);
    await room.leave();
    client.close();
  });
});
