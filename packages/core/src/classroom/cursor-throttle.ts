/** Admits at most `perSecond` cursor updates per connection; the rest are dropped by the caller. */
export class CursorThrottle {
  private readonly minIntervalMs: number;
  private readonly lastAdmitted = new Map<string, number>();

  constructor(
    readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.minIntervalMs = 1000 / perSecond;
  }

  admit(connectionId: string): boolean {
    const now = this.now();
    const last = this.lastAdmitted.get(connectionId);
    if (last !== undefined && now - last < this.minIntervalMs) return false;
    this.lastAdmitted.set(connectionId, now);
    return true;
  }

  forget(connectionId: string): void {
    this.lastAdmitted.delete(connectionId);
  }
}
