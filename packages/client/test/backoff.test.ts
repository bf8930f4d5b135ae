import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../src/index.js';

/** A small seeded PRNG (mulberry32), so the spread is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fullJitterDelay', () => {
  it('spreads 500 clients dropped at once over the whole first window instead of one wave', () => {
    const random = seeded(7);
    const options = { baseDelayMs: 1000, maxDelayMs: 30_000 };
    const delays = Array.from({ length: 500 }, () => fullJitterDelay(0, options, random));
    const buckets = new Array<number>(10).fill(0);
    for (const delay of delays) buckets[Math.floor(delay / 100)]! += 1;
    // Every 100 ms slice of the first second gets between 5% and 15% of the clients; none gets a wave.
    for (const count of buckets) {
      expect(count).toBeGreaterThan(25);
      expect(count).toBeLessThan(75);
    }
    expect(Math.min(...delays)).toBeLessThan(50);
    expect(Math.max(...delays)).toBeGreaterThan(950);
    // 500 draws over 1000 whole milliseconds: about 393 distinct values are expected (birthday collisions).
    expect(new Set(delays).size).toBeGreaterThan(350);
  });

  it('doubles the window each attempt up to the cap, and never exceeds it', () => {
    fc.assert(
      fc.property(fc.nat(60), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 60_000 }), fc.double({ min: 0, max: 0.999999 }), (attempt, base, cap, r) => {
        const delay = fullJitterDelay(attempt, { baseDelayMs: base, maxDelayMs: cap }, () => r);
        const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.max(ceiling, 1));
        expect(delay).toBe(Math.floor(r * ceiling));
      }),
      { seed: 3 },
    );
  });

  it('keeps the spread at later attempts (no synchronised retries)', () => {
    const random = seeded(11);
    const delays = Array.from({ length: 500 }, () => fullJitterDelay(4, { baseDelayMs: 500, maxDelayMs: 5000 }, random));
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    const sd = Math.sqrt(delays.reduce((a, b) => a + (b - mean) ** 2, 0) / delays.length);
    // Uniform over [0, 5000): mean about 2500, standard deviation about 1443.
    expect(mean).toBeGreaterThan(2250);
    expect(mean).toBeLessThan(2750);
    expect(sd).toBeGreaterThan(1250);
  });
});
