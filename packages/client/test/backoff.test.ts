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

const attempt = fc.nat(60);
const base = fc.integer({ min: 1, max: 5000 });
const cap = fc.integer({ min: 1, max: 60_000 });
/** What `Math.random` returns: [0, 1). */
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const PARAMETERS = { seed: 3, numRuns: 500 };

describe('fullJitterDelay', () => {
  it('is a whole number of milliseconds from 0 up to, not including, the cap', () => {
    fc.assert(
      fc.property(attempt, base, cap, draw, (n, baseDelayMs, maxDelayMs, r) => {
        const delay = fullJitterDelay(n, { baseDelayMs, maxDelayMs }, () => r);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(maxDelayMs);
      }),
      PARAMETERS,
    );
  });

  it('waits less than baseDelayMs before the first retry', () => {
    fc.assert(
      fc.property(base, draw, (baseDelayMs, r) => {
        expect(fullJitterDelay(0, { baseDelayMs, maxDelayMs: 60_000 }, () => r)).toBeLessThan(baseDelayMs);
      }),
      PARAMETERS,
    );
  });

  it('uses the documented defaults: under 300 ms first, never 10 s or more', () => {
    fc.assert(
      fc.property(attempt, draw, (n, r) => {
        expect(fullJitterDelay(0, {}, () => r)).toBeLessThan(300);
        expect(fullJitterDelay(n, {}, () => r)).toBeLessThan(10_000);
      }),
      PARAMETERS,
    );
  });

  it('never shortens from one attempt to the next for the same draw', () => {
    fc.assert(
      fc.property(attempt, base, cap, draw, (n, baseDelayMs, maxDelayMs, r) => {
        const options = { baseDelayMs, maxDelayMs };
        expect(fullJitterDelay(n + 1, options, () => r)).toBeGreaterThanOrEqual(fullJitterDelay(n, options, () => r));
      }),
      PARAMETERS,
    );
  });

  it('doubles the window each attempt while below the cap: the same draw waits twice as long', () => {
    fc.assert(
      fc.property(fc.nat(29), base, draw, (n, baseDelayMs, r) => {
        const options = { baseDelayMs, maxDelayMs: Number.MAX_SAFE_INTEGER };
        const before = fullJitterDelay(n, options, () => r);
        const after = fullJitterDelay(n + 1, options, () => r);
        // Each is rounded down to whole milliseconds, so doubling may gain one.
        expect(after - 2 * before).toBeGreaterThanOrEqual(0);
        expect(after - 2 * before).toBeLessThanOrEqual(1);
      }),
      PARAMETERS,
    );
  });

  it('stops growing at the cap: late attempts draw from [0, maxDelayMs), however many there were', () => {
    fc.assert(
      fc.property(base, cap, draw, fc.integer({ min: 30, max: 10_000 }), (baseDelayMs, maxDelayMs, r, late) => {
        const options = { baseDelayMs, maxDelayMs };
        const delay = fullJitterDelay(late, options, () => r);
        expect(delay).toBe(fullJitterDelay(late + 1, options, () => r));
        expect(Math.abs(delay - r * maxDelayMs)).toBeLessThanOrEqual(1);
      }),
      PARAMETERS,
    );
  });

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
