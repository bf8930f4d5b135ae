import { utf8Length } from '@classwire/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkMessageSize } from '../src/frames.js';

const PREFIX = 80;

function refused(room: string, body: string, max: number): boolean {
  try {
    checkMessageSize(room, body, max);
    return false;
  } catch (error) {
    expect(error).toMatchObject({ code: 'payload_too_large' });
    return true;
  }
}

describe('checkMessageSize', () => {
  it('refuses exactly the frames whose UTF-8 size would pass the limit, whatever the characters (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 0, max: 1500 }), (room, body, max) => {
        expect(refused(room, body, max)).toBe(utf8Length(body) + utf8Length(room) + PREFIX > max);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts multi-byte characters at the limit, not code units', () => {
    const body = '€'.repeat(100); // 300 bytes in 100 code units
    expect(refused('r', body, 300 + 1 + PREFIX)).toBe(false);
    expect(refused('r', body, 300 + PREFIX)).toBe(true);
    const emoji = '😀'.repeat(50); // 200 bytes in 100 code units
    expect(refused('r', emoji, 200 + 1 + PREFIX)).toBe(false);
    expect(refused('r', emoji, 200 + PREFIX)).toBe(true);
  });
});
