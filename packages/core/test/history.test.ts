import { encodeMessageBody } from '@classwire/protocol';
import { describe, expect, it } from 'vitest';
import { readHistoryPage } from '../src/history.js';
import { MemoryBroker } from '../src/memory/broker.js';
import type { HistoryArchive, StoredMessage } from '../src/ports.js';

const FROM = { userId: 'u1', name: 'Ada', role: 'student' } as const;
const BUDGET = 32 * 1024;

function broker(maxMessages = 10): MemoryBroker {
  return new MemoryBroker({ maxMessages, delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
}

async function publish(target: MemoryBroker, room: string, count: number, text = ''): Promise<void> {
  for (let i = 1; i <= count; i++) await target.publish(room, encodeMessageBody('note.add', { i, text }, FROM), { dedupKey: `k${i}` });
}

/** An archive holding seqs 1…`upTo` of any room, recording what it was asked. */
function archiveUpTo(upTo: number): HistoryArchive & { asked: [number, number][] } {
  const asked: [number, number][] = [];
  return {
    asked,
    before: (room, _epoch, before, limit) => {
      asked.push([before, limit]);
      const seqs: number[] = [];
      for (let seq = Math.min(before - 1, upTo); seq >= 1 && seqs.length < limit; seq--) seqs.unshift(seq);
      return Promise.resolve(seqs.map((seq): StoredMessage => ({ seq, frame: `{"type":"message","room":"${room}","seq":${seq}}` })));
    },
  };
}

const seqs = (page: { messages: StoredMessage[] }) => page.messages.map((m) => m.seq);

describe('readHistoryPage', () => {
  it('answers an empty page with no next for a room with no messages, without asking the archive', async () => {
    const archive = archiveUpTo(0);
    const page = await readHistoryPage(broker(), archive, 'empty', { limit: 10 }, BUDGET);
    expect(page).toMatchObject({ messages: [], next: null, archive: true });
    expect(archive.asked).toEqual([]);
  });

  it('clamps a `before` beyond the newest message to the newest', async () => {
    const live = broker();
    await publish(live, 'r', 5);
    const page = await readHistoryPage(live, undefined, 'r', { before: 1_000, limit: 3 }, BUDGET);
    expect(seqs(page)).toEqual([3, 4, 5]);
    expect(page.next).toBe(3);
    expect((await readHistoryPage(live, undefined, 'r', { before: 3, limit: 3 }, BUDGET)).next).toBeNull();
  });

  it('asks the archive only for what the live log no longer holds, and only as many as are missing', async () => {
    const live = broker(10);
    await publish(live, 'r', 30);
    const archive = archiveUpTo(30);
    const page = await readHistoryPage(live, archive, 'r', { before: 24, limit: 10 }, BUDGET);
    expect(seqs(page)).toEqual([14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    // The log holds 21–30: 21–23 came from it, 14–20 from the archive.
    expect(archive.asked).toEqual([[21, 7]]);
    expect(page.next).toBe(14);
  });

  it('cuts a page to the byte budget, newest kept, and skips a message too large for any page', async () => {
    const live = broker(10);
    await publish(live, 'r', 6, 'x'.repeat(1000));
    const page = await readHistoryPage(live, undefined, 'r', { limit: 6 }, 2500);
    expect(seqs(page)).toEqual([5, 6]);
    expect(page.next).toBe(5);
    const tiny = await readHistoryPage(live, undefined, 'r', { limit: 6 }, 100);
    expect(tiny).toMatchObject({ messages: [], next: 6 });
  });
});
