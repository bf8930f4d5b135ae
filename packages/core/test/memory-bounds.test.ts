import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, encodeMessageBody } from '@classwire/protocol';
import { DEFAULTS, MemoryBroker } from '@classwire/core';

/** Bytes a dedup entry may cost in the memory log, key and hash included (docs/security.md). */
const DEDUP_ENTRY_BOUND = 512;

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** A message body of exactly `bytes` bytes with a distinct text, as a client's largest publish makes. */
function maxSizeBody(i: number, bytes: number): string {
  const sender = { userId: `user-${i % 7}`, role: 'student', name: 'Ada' } as const;
  const shell = encodeMessageBody('chat.message', '', sender, `id-${i}`);
  return encodeMessageBody('chat.message', `${i}:`.padEnd(bytes - shell.length, 'x'), sender, `id-${i}`);
}

describe('memory broker: retained memory per room', () => {
  it('holds 1,500 max-size publishes to one room within historySize x frame size plus a small dedup entry each', () => {
    const publishes = 1500;
    const bodyBytes = DEFAULT_LIMITS.maxFrameBytes - 200;
    const broker = new MemoryBroker({ delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
    const before = heapAfterGc();
    for (let i = 0; i < publishes; i++) {
      const body = maxSizeBody(i, bodyBytes);
      void broker.publish('room', body, { dedupKey: `user-${i % 7}\nid-${i}` });
    }
    const retained = heapAfterGc() - before;
    // The kept history (DEFAULTS.historySize frames) plus one dedup entry per publish in the TTL window.
    const bound = DEFAULTS.historySize * DEFAULT_LIMITS.maxFrameBytes + publishes * DEDUP_ENTRY_BOUND;
    expect(retained).toBeLessThan(bound);
    // Still deduplicating: a retry of the oldest publish is answered with its seq, and a changed body conflicts.
    return expect(broker.publish('room', maxSizeBody(0, bodyBytes), { dedupKey: 'user-0\nid-0' })).resolves.toMatchObject({
      seq: 1,
      duplicate: true,
      conflict: false,
    });
  });
});
