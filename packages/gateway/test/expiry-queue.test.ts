import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryQueue, type Expiring } from '../src/expiry-queue.js';

interface Item extends Expiring {
  name: string;
}

const item = (name: string, expiresAt: number): Item => ({ name, expiresAt, expiryKey: 0, expiryIndex: -1 });

describe('ExpiryQueue', () => {
  let expired: string[];
  let queue: ExpiryQueue<Item>;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    expired = [];
    queue = new ExpiryQueue<Item>((expiring) => expired.push(expiring.name));
  });
  afterEach(() => {
    queue.stop();
    vi.useRealTimers();
  });

  it('expires each item at its time, in order, whatever order they were added in', () => {
    // A fixed pseudo-random order, so a heap bug shows as a wrong order rather than by chance.
    const offsets = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 1000) * 10 + 10);
    for (const [i, offset] of offsets.entries()) queue.add(item(`i${i}`, Date.now() + offset));
    expect(queue.size).toBe(200);
    const expected = [...offsets.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([i]) => `i${i}`);
    vi.advanceTimersByTime(4_999);
    const dueBy5s = offsets.filter((offset) => offset <= 4_999).length;
    expect(expired).toHaveLength(dueBy5s);
    vi.advanceTimersByTime(10_000);
    expect([...expired].sort()).toEqual([...expected].sort());
    // Items due at the same instant may leave in either order; times never go backwards.
    const times = expired.map((name) => offsets[Number(name.slice(1))]!);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(queue.size).toBe(0);
  });

  it('never expires an item before its time', () => {
    queue.add(item('a', Date.now() + 1_000));
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['a']);
  });

  it('forgets a removed item, and keeps the others in order', () => {
    const items = ['a', 'b', 'c', 'd', 'e'].map((name, i) => item(name, Date.now() + (i + 1) * 100));
    for (const each of items) queue.add(each);
    queue.remove(items[0]!);
    queue.remove(items[2]!);
    queue.remove(items[2]!);
    expect(items[2]!.expiryIndex).toBe(-1);
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual(['b', 'd', 'e']);
  });

  it('follows an expiry moved later or earlier by update', () => {
    const later = item('later', Date.now() + 100);
    const earlier = item('earlier', Date.now() + 5_000);
    queue.add(later);
    queue.add(earlier);
    later.expiresAt = Date.now() + 3_000;
    queue.update(later);
    earlier.expiresAt = Date.now() + 200;
    queue.update(earlier);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(['earlier']);
    vi.advanceTimersByTime(2_799);
    expect(expired).toEqual(['earlier']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['earlier', 'later']);
  });

  it('waits again for an item whose expiry moved later without an update', () => {
    const moved = item('moved', Date.now() + 100);
    queue.add(moved);
    moved.expiresAt = Date.now() + 1_000;
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    expect(queue.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['moved']);
  });

  it('expires at once an item already past its time, and reaches an expiry beyond the longest timer', () => {
    queue.add(item('past', Date.now() - 1));
    const far = 2 ** 31 + 5_000;
    queue.add(item('far', Date.now() + far));
    vi.advanceTimersByTime(0);
    expect(expired).toEqual(['past']);
    vi.advanceTimersByTime(far - 1);
    expect(expired).toEqual(['past']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['past', 'far']);
  });

  it('keeps one timer for the node however many items it holds, and none once empty or stopped', () => {
    for (let i = 0; i < 1_000; i += 1) queue.add(item(`i${i}`, Date.now() + 60_000 + i));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(61_000);
    expect(expired).toHaveLength(1_000);
    expect(vi.getTimerCount()).toBe(0);
    queue.add(item('after', Date.now() + 10));
    queue.stop();
    expect(vi.getTimerCount()).toBe(0);
    queue.add(item('stopped', Date.now() + 10));
    vi.advanceTimersByTime(100);
    expect(expired).toHaveLength(1_000);
  });
});
