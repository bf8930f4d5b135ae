import { ProtocolError, utf8Length } from '@classwire/protocol';

/** A user's whiteboard write rate: item data bytes and items (strokes, shapes) per second, with bursts. */
export interface BoardRate {
  bytesPerSecond: number;
  bytesBurst: number;
  itemsPerSecond: number;
  itemsBurst: number;
}

/** Users tracked before full budgets (users who have not drawn for a while) are forgotten. */
const PRUNE_ABOVE = 10_000;

interface Budget {
  bytes: number;
  items: number;
  updatedAt: number;
}

/**
 * Per user on this node (per execution environment on AWS), how fast they may add to whiteboards: every
 * stored stroke or shape goes to every member of the class, so one student drawing 1,000-point strokes
 * as fast as the generic byte bucket allows would cost the class ~25× that in outbound frames. Erases
 * are not charged: each erases an item that was charged when drawn.
 */
export class BoardBudget {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly rate: BoardRate,
    private readonly now: () => number,
  ) {}

  /** Charges one item of `data` to `userId`; throws `rate_limited` (nothing charged) when over budget. */
  charge(userId: string, data: unknown): void {
    const bytes = utf8Length(JSON.stringify(data));
    const now = this.now();
    let budget = this.budgets.get(userId);
    if (budget === undefined) {
      if (this.budgets.size >= PRUNE_ABOVE) this.prune(now);
      budget = { bytes: this.rate.bytesBurst, items: this.rate.itemsBurst, updatedAt: now };
      this.budgets.set(userId, budget);
    } else {
      this.refill(budget, now);
    }
    if (budget.items < 1 || budget.bytes < bytes) {
      throw new ProtocolError(
        'rate_limited',
        `drawing too fast: at most ${this.rate.itemsPerSecond} whiteboard items and ${this.rate.bytesPerSecond} bytes of them per second; retry later`,
      );
    }
    budget.items -= 1;
    budget.bytes -= bytes;
  }

  private refill(budget: Budget, now: number): void {
    const seconds = Math.max(0, now - budget.updatedAt) / 1000;
    budget.bytes = Math.min(this.rate.bytesBurst, budget.bytes + seconds * this.rate.bytesPerSecond);
    budget.items = Math.min(this.rate.itemsBurst, budget.items + seconds * this.rate.itemsPerSecond);
    budget.updatedAt = now;
  }

  /** A full budget is the same as none. */
  private prune(now: number): void {
    for (const [userId, budget] of this.budgets) {
      this.refill(budget, now);
      if (budget.bytes >= this.rate.bytesBurst && budget.items >= this.rate.itemsBurst) this.budgets.delete(userId);
    }
  }
}
