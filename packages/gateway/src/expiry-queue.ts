/** setTimeout's largest delay; an expiry further away is reached in steps of it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the queue keeps on each item instead of an entry object of its own. */
export interface Expiring {
  /** Epoch ms at which the item expires; may move (an in-band token refresh) and is then `update`d. */
  expiresAt: number;
  /** The expiry the item is queued under. */
  expiryKey: number;
  /** Its place in the heap; -1 while not queued. */
  expiryIndex: number;
}

/**
 * Every connection's token expiry behind one timer: a binary min-heap by expiry, with the timer armed for
 * the earliest. A timer per connection cost a Timeout, its closures and, since every connection's delay
 * differs, a timer list per distinct delay: about 0.4 KB of heap per idle connection (docs/performance.md).
 */
export class ExpiryQueue<T extends Expiring> {
  private readonly heap: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (epoch ms); Infinity when none is armed. */
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(item: T): void {
    if (this.stopped || item.expiryIndex !== -1) return;
    item.expiryKey = item.expiresAt;
    item.expiryIndex = this.heap.length;
    this.heap.push(item);
    this.siftUp(item.expiryIndex);
    this.schedule();
  }

  remove(item: T): void {
    const index = item.expiryIndex;
    if (index === -1 || this.heap[index] !== item) return;
    this.removeAt(index);
    this.schedule();
  }

  /** Re-queues an item whose `expiresAt` changed. */
  update(item: T): void {
    if (item.expiryIndex === -1) return;
    this.remove(item);
    this.add(item);
  }

  /** Disarms the timer for good (the node is stopping). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const item of this.heap) item.expiryIndex = -1;
    this.heap.length = 0;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let first = this.heap[0]; first !== undefined && first.expiryKey <= now; first = this.heap[0]) {
      this.removeAt(0);
      // Moved later since it was queued without an `update`: wait for the new expiry instead.
      if (first.expiresAt > now) this.add(first);
      else this.expire(first);
    }
    this.schedule();
  }

  private schedule(): void {
    const first = this.heap[0];
    if (first === undefined || this.stopped) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer !== undefined && this.timerAt <= first.expiryKey) return;
    clearTimeout(this.timer);
    const now = this.now();
    const delay = Math.min(Math.max(0, first.expiryKey - now), MAX_TIMER_MS);
    this.timerAt = now + delay;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private removeAt(index: number): void {
    const heap = this.heap;
    const item = heap[index]!;
    const last = heap.pop()!;
    item.expiryIndex = -1;
    if (last === item) return;
    heap[index] = last;
    last.expiryIndex = index;
    this.siftUp(index);
    this.siftDown(last.expiryIndex);
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.expiryKey <= item.expiryKey) break;
      heap[index] = parent;
      parent.expiryIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.expiryIndex = index;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const item = heap[index]!;
    const half = heap.length >> 1;
    while (index < half) {
      let childIndex = 2 * index + 1;
      let child = heap[childIndex]!;
      const rightIndex = childIndex + 1;
      if (rightIndex < heap.length && heap[rightIndex]!.expiryKey < child.expiryKey) {
        childIndex = rightIndex;
        child = heap[rightIndex]!;
      }
      if (item.expiryKey <= child.expiryKey) break;
      heap[index] = child;
      child.expiryIndex = index;
      index = childIndex;
    }
    heap[index] = item;
    item.expiryIndex = index;
  }
}
