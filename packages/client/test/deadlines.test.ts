import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { ClasswireError, type RoomMessage } from '../src/node.js';
import { collect, eventually, makeToken, sdkClient, startRuntime, wsUrl } from './helpers.js';

/** A loopback port nothing listens on: the client keeps reconnecting and never gets an answer. */
const NOWHERE = 'ws://127.0.0.1:9/ws';

describe('per-operation timeouts and abort signals', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime('gateway');
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('an aborted publish rejects with code aborted; a retry with the same id stores it once', async () => {
    const author = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'author', rooms: ['abort'] }) });
    const reader = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'reader', rooms: ['abort'] }) });
    const room = author.join('abort');
    const readerRoom = reader.join('abort');
    await Promise.all([room.ready, readerRoom.ready]);
    const seen: RoomMessage[] = [];
    readerRoom.on('note', collect(seen));
    const controller = new AbortController();
    // Sent at once (the room is joined), then abandoned before its ack can arrive.
    const first = room.publish('note', 'once', { id: 'note-1', signal: controller.signal });
    controller.abort();
    await expect(first).rejects.toMatchObject({ name: 'ClasswireError', code: 'aborted' });
    expect(author.pendingCount).toBe(0);
    expect(await room.publish('note', 'once', { id: 'note-1' })).toBe(1);
    expect(await room.publish('note', 'next')).toBe(2);
    await eventually(() => seen.length === 2);
    expect(seen.map((m) => [m.seq, m.data, m.id])).toEqual([
      [1, 'once', 'note-1'],
      [2, 'next', expect.any(String)],
    ]);
    author.close();
    reader.close();
  });

  it('a publish that cannot be delivered in time rejects with code timeout and leaves nothing pending', async () => {
    const client = sdkClient(NOWHERE, { token: await makeToken({ rooms: ['*'] }) });
    const room = client.join('t');
    const publish = room.publish('note', 'x', { timeoutMs: 100 });
    await expect(publish).rejects.toBeInstanceOf(ClasswireError);
    await expect(publish).rejects.toMatchObject({ code: 'timeout' });
    expect(client.pendingCount).toBe(0);
    client.close();
  });

  it('a publish given an already aborted signal rejects at once', async () => {
    const client = sdkClient(NOWHERE, { token: await makeToken({ rooms: ['*'] }) });
    const room = client.join('t');
    await expect(room.publish('note', 'x', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    expect(client.pendingCount).toBe(0);
    client.close();
  });

  it('a join that does not complete in time fails with code timeout, and one aborted with code aborted', async () => {
    const client = sdkClient(NOWHERE, { token: await makeToken({ rooms: ['*'] }) });
    const slow = client.join('slow', { timeoutMs: 100 });
    await expect(slow.ready).rejects.toMatchObject({ code: 'timeout' });
    expect(slow.state).toBe('failed');
    expect(client.room('slow')).toBeUndefined();
    const controller = new AbortController();
    const aborted = client.join('aborted', { signal: controller.signal });
    controller.abort(new Error('the user navigated away'));
    await expect(aborted.ready).rejects.toMatchObject({ code: 'aborted', cause: new Error('the user navigated away') });
    client.close();
  });

  it('a join that completes in time is unaffected by its timeout', async () => {
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['*'] }) });
    const room = client.join('fast', { timeoutMs: 5000, signal: new AbortController().signal });
    await room.ready;
    expect(room.state).toBe('joined');
    client.close();
  });
});
