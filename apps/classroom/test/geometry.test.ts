import { describe, expect, it } from 'vitest';
import type { BoardEntry } from '../src/state/types.js';
import { StrokeRecorder, hitTest, quantise, strokeGroupOf, toBoardPoint, wholeStroke } from '../src/whiteboard/geometry.js';

describe('toBoardPoint', () => {
  it('normalises to the board box, clamps to [0, 1] and keeps 4 decimals', () => {
    const box = { left: 100, top: 50, width: 800, height: 500 };
    expect(toBoardPoint(500, 300, box)).toEqual({ x: 0.5, y: 0.5 });
    expect(toBoardPoint(50, 900, box)).toEqual({ x: 0, y: 1 });
    expect(toBoardPoint(100 + 800 / 3, 50, box)).toEqual({ x: 0.3333, y: 0 });
    expect(quantise(0.123456)).toBe(0.1235);
  });
});

describe('StrokeRecorder', () => {
  it('hands out consecutive segments that join end to start, with ids of one stroke group', () => {
    const recorder = new StrokeRecorder('sabc1', '#1f2937', 4);
    recorder.add({ x: 0.1, y: 0.1 });
    recorder.add({ x: 0.2, y: 0.1 });
    const first = recorder.takeSegment()!;
    recorder.add({ x: 0.3, y: 0.2 });
    recorder.add({ x: 0.4, y: 0.2 });
    const second = recorder.takeSegment()!;
    expect(first).toEqual({ id: 'sabc1~0', color: '#1f2937', width: 4, points: [0.1, 0.1, 0.2, 0.1] });
    expect(second.points).toEqual([0.2, 0.1, 0.3, 0.2, 0.4, 0.2]);
    expect(second.id).toBe('sabc1~1');
    expect(strokeGroupOf(first.id)).toBe('sabc1');
    expect(strokeGroupOf(second.id)).toBe('sabc1');
    expect(recorder.takeSegment()).toBeUndefined();
  });

  it('turns a tap into a dot and skips points that add nothing', () => {
    const recorder = new StrokeRecorder('s', '#000000', 2);
    recorder.add({ x: 0.5, y: 0.5 });
    recorder.add({ x: 0.5001, y: 0.5 });
    expect(recorder.takeSegment()!.points).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('says when a segment must go out to stay within the point limit', () => {
    const recorder = new StrokeRecorder('s', '#000000', 2);
    let taken = 0;
    for (let i = 0; i < 2000; i += 1) {
      recorder.add({ x: (i % 500) / 500, y: Math.floor(i / 500) / 4 });
      if (recorder.full) {
        const segment = recorder.takeSegment()!;
        expect(segment.points.length).toBeLessThanOrEqual(2000);
        taken += 1;
      }
    }
    expect(taken).toBeGreaterThan(1);
  });
});

describe('hitTest', () => {
  const board: BoardEntry[] = [
    { seq: 1, userId: 'a', item: { type: 'stroke', id: 'low', color: '#000000', width: 4, points: [0.1, 0.5, 0.9, 0.5] } },
    { seq: 2, userId: 'b', item: { type: 'shape', id: 'box', kind: 'rect', color: '#000000', width: 2, x1: 0.4, y1: 0.4, x2: 0.6, y2: 0.6 } },
    { seq: 3, userId: 'a', item: { type: 'shape', id: 'ring', kind: 'ellipse', color: '#000000', width: 2, x1: 0.1, y1: 0.1, x2: 0.3, y2: 0.3 } },
  ];

  it('finds the topmost item near the point, among those allowed', () => {
    expect(hitTest(board, { x: 0.5, y: 0.4 }, 0.01, () => true)?.item.id).toBe('box');
    expect(hitTest(board, { x: 0.2, y: 0.502 }, 0.01, () => true)?.item.id).toBe('low');
    expect(hitTest(board, { x: 0.3, y: 0.2 }, 0.01, () => true)?.item.id).toBe('ring');
    // Inside the ellipse, away from its outline: nothing.
    expect(hitTest(board, { x: 0.2, y: 0.2 }, 0.01, () => true)).toBeUndefined();
    // The rectangle's edge crosses the stroke at (0.4, 0.5); only b's items may be erased here.
    expect(hitTest(board, { x: 0.4, y: 0.5 }, 0.01, (e) => e.userId === 'a')?.item.id).toBe('low');
  });
});

describe('wholeStroke', () => {
  it('keeps a stroke within the limit as one item of its group', () => {
    const points = [0.1, 0.1, 0.2, 0.2, 0.3, 0.1];
    expect(wholeStroke('s1', '#000000', 4, points, 1000)).toEqual([{ id: 's1~w0', color: '#000000', width: 4, points }]);
    expect(strokeGroupOf('s1~w0')).toBe('s1');
  });

  it('splits a longer stroke into pieces within the limit that join end to start and lose no point', () => {
    const points = Array.from({ length: 2500 }, (_, i) => i / 10_000);
    const pieces = wholeStroke('s2', '#000000', 4, points, 1000);
    expect(pieces.length).toBe(3);
    for (const piece of pieces) expect(piece.points.length).toBeLessThanOrEqual(1000);
    for (let i = 1; i < pieces.length; i += 1) expect(pieces[i]!.points.slice(0, 2)).toEqual(pieces[i - 1]!.points.slice(-2));
    const joined = pieces.flatMap((piece, i) => (i === 0 ? piece.points : piece.points.slice(2)));
    expect(joined).toEqual(points);
  });
});
