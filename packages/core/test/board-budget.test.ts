import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@classwire/protocol';
import { BoardBudget, DEFAULTS } from '@classwire/core';

const DEFAULT_RATE = {
  bytesPerSecond: DEFAULTS.boardBytesPerSecond,
  bytesBurst: DEFAULTS.boardBytesBurst,
  itemsPerSecond: DEFAULTS.boardItemsPerSecond,
  itemsBurst: DEFAULTS.boardItemsBurst,
};

/** Coordinates as the classroom stores them (rounded to 4 decimals). */
const points = (count: number, seed = 0) => Array.from({ length: count }, (_, i) => Math.round((((i + seed) * 7919) % 10_000)) / 10_000);
const stroke = (id: string, count: number) => ({ id, color: '#112233', width: 3, points: points(count) });

function refusal(action: () => void): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError) return error.code;
    throw error;
  }
}

describe('BoardBudget: how fast one user may add to whiteboards', () => {
  it('refuses a spammer of maximal strokes with rate_limited after its burst, then admits its sustained rate', () => {
    const clock = { value: 0 };
    const budget = new BoardBudget(DEFAULT_RATE, () => clock.value);
    const spam = stroke('spam', 1000);
    let admitted = 0;
    while (refusal(() => budget.charge('mallory', spam)) === undefined) admitted += 1;
    const size = JSON.stringify(spam).length;
    // The byte burst, not the generic inbound byte bucket (512 KiB, ~75 such strokes), bounds it.
    expect(admitted).toBe(Math.floor(DEFAULTS.boardBytesBurst / size));
    expect(refusal(() => budget.charge('mallory', spam))).toBe('rate_limited');
    // Another user is not affected.
    expect(refusal(() => budget.charge('ann', spam))).toBeUndefined();
    // Two seconds later: what the sustained byte rate refilled (plus the remainder left before), no more.
    clock.value += 2000;
    admitted = 0;
    while (refusal(() => budget.charge('mallory', spam)) === undefined) admitted += 1;
    expect(admitted).toBeGreaterThanOrEqual(Math.floor((2 * DEFAULTS.boardBytesPerSecond) / size));
    expect(admitted).toBeLessThanOrEqual(Math.floor((2 * DEFAULTS.boardBytesPerSecond) / size) + 1);
    // A long pause refills the burst, never more.
    clock.value += 3_600_000;
    admitted = 0;
    while (refusal(() => budget.charge('mallory', spam)) === undefined) admitted += 1;
    expect(admitted).toBe(Math.floor(DEFAULTS.boardBytesBurst / size));
  });

  it('bounds many small items by the item rate', () => {
    const clock = { value: 0 };
    const budget = new BoardBudget(DEFAULT_RATE, () => clock.value);
    let admitted = 0;
    while (refusal(() => budget.charge('mallory', stroke(`dot-${admitted}`, 2))) === undefined) admitted += 1;
    expect(admitted).toBe(DEFAULTS.boardItemsBurst);
  });

  it('never refuses a teacher drawing fast: a segment every 150 ms at 120 points/s, then the whole stroke, for two minutes', () => {
    const clock = { value: 0 };
    const budget = new BoardBudget(DEFAULT_RATE, () => clock.value);
    const SEGMENT_MS = 150;
    const POINTS_PER_SECOND = 120;
    // Strokes of 1 to 10 s with a 200 ms pause between them, as the app sends them (WhiteboardPanel.vue).
    for (let stroke = 0; clock.value < 120_000; stroke++) {
      const seconds = 1 + (stroke % 10);
      const segments = Math.ceil((seconds * 1000) / SEGMENT_MS);
      const perSegment = Math.round((POINTS_PER_SECOND * SEGMENT_MS) / 1000) * 2;
      for (let s = 0; s < segments; s++) {
        clock.value += SEGMENT_MS;
        expect(refusal(() => budget.charge('teacher', { id: `t${stroke}-${s}`, color: '#000000', width: 3, points: points(perSegment, s) }))).toBeUndefined();
      }
      // The whole stroke, in pieces of at most 1,000 numbers, at once.
      const total = segments * perSegment;
      for (let offset = 0; offset < total; offset += 1000) {
        const piece = { id: `t${stroke}-whole-${offset}`, color: '#000000', width: 3, points: points(Math.min(1000, total - offset), offset) };
        expect(refusal(() => budget.charge('teacher', piece))).toBeUndefined();
      }
      clock.value += 200;
    }
  });
});
