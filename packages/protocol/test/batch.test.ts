import { describe, expect, it } from 'vitest';
import { BATCH_OVERHEAD_BYTES, composeBatchFrames, composeMessageFrame, encodeMessageBody, utf8Length, type ServerFrame } from '../src/index.js';

const SENDER = { userId: 'u', role: 'student' as const, name: 'Zoë 🎨' };
const frame = (seq: number, data: unknown = seq) => composeMessageFrame('r', seq, 1, encodeMessageBody('board.stroke', data, SENDER, `m${seq}`));

describe('composeBatchFrames', () => {
  it('packs frames in order into one batch whose frames are the originals, byte for byte', () => {
    const frames = [frame(1), frame(2), frame(3)];
    const [batch, ...rest] = composeBatchFrames(frames, 32 * 1024);
    expect(rest).toEqual([]);
    const parsed = JSON.parse(batch!) as Extract<ServerFrame, { type: 'batch' }>;
    expect(parsed.type).toBe('batch');
    expect(parsed.frames.map((f) => JSON.stringify(f))).toEqual(frames.map((f) => JSON.stringify(JSON.parse(f))));
    expect(batch).toBe(`{"type":"batch","frames":[${frames.join(',')}]}`);
    expect(utf8Length(batch!)).toBe(BATCH_OVERHEAD_BYTES + frames.reduce((n, f) => n + utf8Length(f), 0) + 2);
  });

  it('leaves a single frame unwrapped and an empty list empty', () => {
    expect(composeBatchFrames([frame(1)], 32 * 1024)).toEqual([frame(1)]);
    expect(composeBatchFrames([], 32 * 1024)).toEqual([]);
  });

  it('splits at the byte limit (counting multi-byte characters), every batch within it, order kept', () => {
    const frames = Array.from({ length: 50 }, (_, i) => frame(i + 1, 'é'.repeat(100 + i * 3)));
    for (const limit of [1024, 4096, 32 * 1024]) {
      const out = composeBatchFrames(frames, limit);
      for (const text of out) expect(utf8Length(text)).toBeLessThanOrEqual(limit);
      const seqs = out.flatMap((text) => {
        const parsed = JSON.parse(text) as ServerFrame;
        return parsed.type === 'batch' ? parsed.frames.map((f) => (f as { seq: number }).seq) : [(parsed as { seq: number }).seq];
      });
      expect(seqs).toEqual(frames.map((_, i) => i + 1));
      // Full batches: no two neighbours would have fit together.
      for (let i = 0; i + 1 < out.length; i++) expect(utf8Length(out[i]!) + utf8Length(out[i + 1]!)).toBeGreaterThan(limit - BATCH_OVERHEAD_BYTES);
    }
  });

  it('sends a frame too large to share one alone and as it is, between batches of the others', () => {
    const big = frame(2, 'x'.repeat(2000));
    const out = composeBatchFrames([frame(1), big, frame(3), frame(4)], 1500);
    expect(out).toEqual([frame(1), big, `{"type":"batch","frames":[${frame(3)},${frame(4)}]}`]);
  });
});
