import { afterEach, describe, expect, it, vi } from 'vitest';
import { throttle } from '../src/throttle.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('throttle', () => {
  it('sends the first value at once and drops the rest of the interval without trailing', () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const typing = throttle((value: number) => sent.push(value), 3000, { trailing: false });
    typing.offer(1);
    typing.offer(2);
    vi.advanceTimersByTime(2999);
    typing.offer(3);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(1);
    typing.offer(4);
    expect(sent).toEqual([1, 4]);
  });

  it('with trailing, sends the last value offered during the interval when it ends', () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const cursor = throttle((value: number) => sent.push(value), 50, { trailing: true });
    for (let i = 1; i <= 10; i += 1) {
      cursor.offer(i);
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(100);
    // Offers at 0, 10, …, 90 ms: 1 at once, 5 (the latest) when the interval ends at 50 ms, 10 at 100 ms.
    expect(sent).toEqual([1, 5, 10]);
  });

  it('never sends more than one value per interval, however many are offered', () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const cursor = throttle(() => times.push(Date.now()), 40, { trailing: true });
    for (let i = 0; i < 1000; i += 1) {
      cursor.offer(i);
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(100);
    for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(40);
    expect(times.length).toBeGreaterThanOrEqual(25);
  });

  it('drops a waiting value when cancelled', () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const cursor = throttle((value: number) => sent.push(value), 50, { trailing: true });
    cursor.offer(1);
    cursor.offer(2);
    cursor.cancel();
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([1]);
  });

  it('sends at once after a reset', () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const typing = throttle((value: number) => sent.push(value), 3000, { trailing: false });
    typing.offer(1);
    typing.reset();
    typing.offer(2);
    expect(sent).toEqual([1, 2]);
  });
});
