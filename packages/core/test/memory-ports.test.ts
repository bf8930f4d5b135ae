import { describe, it, expect } from 'vitest';
import { encodeMessageBody } from '@classwire/protocol';
import { MemoryBroker, MemoryPresence, MemoryRateLimiter, MemoryRegistry, MemoryRoomLog } from '@classwire/core';
import { KeyedRate } from '../src/keyed-rate.js';
import { describeBrokerContract } from './contracts/broker.contract.js';
import { describeRegistryContract } from './contracts/registry.contract.js';
import { describePresenceContract } from './contracts/presence.contract.js';

describeBrokerContract('MemoryBroker', (options) => new MemoryBroker(options));
describeRegistryContract('MemoryRegistry', () => new MemoryRegistry());
describePresenceContract('MemoryPresence', () => new MemoryPresence());

const START = 1_700_000_000_000;

function manualClock(start = START) {
  const clock = {
    value: start,
    now: () => clock.value,
    advance(ms: number) {
      clock.value += ms;
    },
  };
  return clock;
}

describe('MemoryRateLimiter', () => {
  it('sweep forgets refilled buckets only, and a forgotten bucket admits what a full one would', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 10, burst: 2, bytesPerSecond: 1000, bytesBurst: 1000, abusiveAfter: 100, now: clock.now });
    expect(limiter.take('idle', 10)).toBe('ok');
    expect([limiter.take('busy', 1), limiter.take('busy', 1), limiter.take('busy', 1)]).toEqual(['ok', 'ok', 'limited']);
    expect(limiter.take('bytes', 900)).toBe('ok');
    // After 100 ms: 'idle' has refilled both buckets, 'busy' has 1 of 2 frames, 'bytes' has 200 of 1000 bytes.
    clock.advance(100);
    limiter.sweep();
    expect(limiter.size).toBe(2);
    expect(limiter.take('busy', 1)).toBe('ok');
    expect(limiter.take('busy', 1)).toBe('limited');
    expect(limiter.take('bytes', 300)).toBe('limited');
    expect([limiter.take('idle', 1), limiter.take('idle', 1), limiter.take('idle', 1)]).toEqual(['ok', 'ok', 'limited']);
    clock.advance(60_000);
    limiter.sweep();
    expect(limiter.size).toBe(0);
  });

  it('accepts a burst, then limits', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 3, abusiveAfter: 100, now: clock.now });
    expect([limiter.take('c', 1), limiter.take('c', 1), limiter.take('c', 1)]).toEqual(['ok', 'ok', 'ok']);
    expect(limiter.take('c', 1)).toBe('limited');
    expect(limiter.take('c', 1)).toBe('limited');
  });

  it('refills at ratePerSecond, up to the burst size', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 2, burst: 4, abusiveAfter: 100, now: clock.now });
    for (let i = 0; i < 4; i++) expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('limited');

    clock.advance(499); // 0.998 tokens: not yet one
    expect(limiter.take('c', 1)).toBe('limited');
    clock.advance(1); // 1 token after 500 ms at 2/s
    expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('limited');

    clock.advance(60_000); // far more than the burst: capped at 4
    for (let i = 0; i < 4; i++) expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('limited');
  });

  it('limits bytes beside frames: a frame needs room in both buckets, a refused one takes from neither', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 100, burst: 100, bytesPerSecond: 1000, bytesBurst: 3000, abusiveAfter: 100, now: clock.now });
    expect([limiter.take('c', 1000), limiter.take('c', 1000), limiter.take('c', 1000)]).toEqual(['ok', 'ok', 'ok']);
    expect(limiter.take('c', 1000)).toBe('limited');
    // Small frames still fit once a little has refilled; the frame bucket was not charged by refusals.
    clock.advance(100);
    expect(limiter.take('c', 100)).toBe('ok');
    expect(limiter.take('c', 100)).toBe('limited');
    clock.advance(60_000); // capped at the byte burst
    expect([limiter.take('c', 3000), limiter.take('c', 1)]).toEqual(['ok', 'limited']);
    // A frame larger than the byte burst costs a full bucket, so it can still pass when the bucket is full.
    clock.advance(60_000);
    expect(limiter.take('c', 10_000)).toBe('ok');
  });

  it('tells how long until a frame would be admitted, without taking anything', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 2, burst: 2, bytesPerSecond: 1000, bytesBurst: 2000, abusiveAfter: 100, now: clock.now });
    expect(limiter.delayMs('c', 500)).toBe(0);
    expect([limiter.take('c', 500), limiter.take('c', 500)]).toEqual(['ok', 'ok']);
    // No frame token left: half a second at 2/s; the bytes (1000 left) would fit.
    expect(limiter.delayMs('c', 500)).toBe(500);
    // 1,500 bytes needs 500 more bytes: half a second at 1000/s too; 2,500 needs a full bucket (the cap).
    expect(limiter.delayMs('c', 1500)).toBe(500);
    expect(limiter.delayMs('c', 2500)).toBe(1000);
    clock.advance(200);
    expect(limiter.delayMs('c', 500)).toBe(300);
    // Asking took nothing: after the wait it was told, the frame is admitted.
    clock.advance(300);
    expect(limiter.delayMs('c', 500)).toBe(0);
    expect(limiter.take('c', 500)).toBe('ok');
  });

  it('keeps one bucket per connection', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 1, now: clock.now });
    expect(limiter.take('a', 1)).toBe('ok');
    expect(limiter.take('a', 1)).toBe('limited');
    expect(limiter.take('b', 1)).toBe('ok');
  });

  it("judges a sender 'abusive' after abusiveAfter consecutive refusals", () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 2, abusiveAfter: 3, now: clock.now });
    expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('ok');
    expect([limiter.take('c', 1), limiter.take('c', 1), limiter.take('c', 1)]).toEqual(['limited', 'limited', 'limited']);
    expect(limiter.take('c', 1)).toBe('abusive');
    expect(limiter.take('c', 1)).toBe('abusive');
  });

  it('an accepted frame resets the refusal streak', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 1, abusiveAfter: 2, now: clock.now });
    expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('limited');
    expect(limiter.take('c', 1)).toBe('limited');
    clock.advance(1000);
    expect(limiter.take('c', 1)).toBe('ok');
    expect(limiter.take('c', 1)).toBe('limited');
    expect(limiter.take('c', 1)).toBe('limited');
    expect(limiter.take('c', 1)).toBe('abusive');
  });

  it('abusiveAfter defaults to the burst size', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 2, now: clock.now });
    expect([limiter.take('c', 1), limiter.take('c', 1)]).toEqual(['ok', 'ok']);
    expect([limiter.take('c', 1), limiter.take('c', 1)]).toEqual(['limited', 'limited']);
    expect(limiter.take('c', 1)).toBe('abusive');
  });

  it('forget resets the connection to a full bucket', () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 1, burst: 2, abusiveAfter: 1, now: clock.now });
    limiter.take('c', 1);
    limiter.take('c', 1);
    expect(limiter.take('c', 1)).toBe('limited');
    expect(limiter.take('c', 1)).toBe('abusive');
    limiter.forget('c');
    expect([limiter.take('c', 1), limiter.take('c', 1)]).toEqual(['ok', 'ok']);
    expect(limiter.take('c', 1)).toBe('limited');
    limiter.forget('never-seen');
  });
});

describe('MemoryRoomLog specifics', () => {
  const sender = { userId: 'u', role: 'student', name: 'U' } as const;
  const body = (text: string): string => encodeMessageBody('chat.message', { text }, sender);

  it('rejects maxMessages below 1', () => {
    expect(() => new MemoryRoomLog({ maxMessages: 0 })).toThrow();
  });

  it('sweep drops expired messages but keeps the room while its metadata lives', async () => {
    const clock = manualClock();
    const log = new MemoryRoomLog({ maxAgeMs: 1000, metaTtlMs: 10_000, now: clock.now });
    log.append('r', body('a'));
    log.append('r', body('b'));
    const { epoch } = await log.read('r');
    clock.advance(1001);
    log.sweep();
    expect(log.roomCount).toBe(1);
    const read = await log.read('r', 0, epoch);
    expect(read).toEqual({ epoch, seq: 2, recovered: false, messages: [] });
    expect(await log.read('r', 2, epoch)).toEqual({ epoch, seq: 2, recovered: true, messages: [] });
  });

  it('sweep forgets a room after metaTtlMs of inactivity, so a later read has a new epoch and seq 0', async () => {
    const clock = manualClock();
    const log = new MemoryRoomLog({ maxAgeMs: 2000, metaTtlMs: 5000, now: clock.now });
    log.append('quiet', body('a'));
    log.append('busy', body('a'));
    const quietEpoch = (await log.read('quiet')).epoch;
    const busyEpoch = (await log.read('busy')).epoch;
    expect(log.roomCount).toBe(2);

    clock.advance(4000);
    log.append('busy', body('b'));
    clock.advance(1500); // quiet: 5500 ms since its last append; busy: 1500 ms
    log.sweep();
    expect(log.roomCount).toBe(1);

    const quiet = await log.read('quiet', 1, quietEpoch);
    expect(quiet.epoch).not.toBe(quietEpoch);
    expect(quiet.seq).toBe(0);
    expect(quiet.recovered).toBe(false);
    expect(log.append('quiet', body('again')).result.seq).toBe(1);

    const busy = await log.read('busy', 1, busyEpoch);
    expect(busy.epoch).toBe(busyEpoch);
    expect(busy.seq).toBe(2);
    expect(busy.recovered).toBe(true);
    expect(busy.messages.map((m) => m.seq)).toEqual([2]);
  });

  it('sweep keeps a room that still holds unexpired messages', async () => {
    const clock = manualClock();
    const log = new MemoryRoomLog({ maxAgeMs: 60_000, metaTtlMs: 1000, now: clock.now });
    log.append('r', body('a'));
    const { epoch } = await log.read('r');
    clock.advance(2000);
    log.sweep();
    expect(log.roomCount).toBe(1);
    expect((await log.read('r', 0, epoch)).messages.map((m) => m.seq)).toEqual([1]);
  });

  it('sweep expires dedup keys after dedupTtlMs', async () => {
    const clock = manualClock();
    const log = new MemoryRoomLog({ maxAgeMs: 60_000, dedupTtlMs: 1000, now: clock.now });
    expect(log.append('r', body('a'), 'k').result.seq).toBe(1);
    clock.advance(500);
    expect(log.append('r', body('a'), 'k').result).toMatchObject({ seq: 1, duplicate: true });
    clock.advance(600);
    log.sweep();
    expect(log.append('r', body('a'), 'k').result).toMatchObject({ seq: 2, duplicate: false });
  });

  it('keeps serving correct windows after many trims (internal compaction)', async () => {
    const log = new MemoryRoomLog({ maxMessages: 10 });
    for (let i = 1; i <= 500; i++) log.append('r', body(`m${i}`));
    const { epoch } = await log.read('r');
    const read = await log.read('r', 490, epoch);
    expect(read.recovered).toBe(true);
    expect(read.messages.map((m) => m.seq)).toEqual([491, 492, 493, 494, 495, 496, 497, 498, 499, 500]);
    expect((await log.read('r', 495, epoch)).messages.map((m) => m.seq)).toEqual([496, 497, 498, 499, 500]);
    expect((await log.read('r', 489, epoch)).recovered).toBe(false);
  });
});

describe('KeyedRate', () => {
  it('sweep forgets full buckets only; a forgotten key starts again with a full burst', () => {
    const clock = manualClock();
    const rate = new KeyedRate(1, 2, clock.now);
    expect(rate.admit('once')).toBe(true);
    expect([rate.admit('twice'), rate.admit('twice'), rate.admit('twice')]).toEqual([true, true, false]);
    clock.advance(1_000);
    // 'once' is back to 2 tokens (full); 'twice' has 1.
    rate.sweep();
    expect(rate.size).toBe(1);
    expect([rate.admit('twice'), rate.admit('twice')]).toEqual([true, false]);
    expect([rate.admit('once'), rate.admit('once'), rate.admit('once')]).toEqual([true, true, false]);
    clock.advance(10_000);
    rate.sweep();
    expect(rate.size).toBe(0);
  });
});
