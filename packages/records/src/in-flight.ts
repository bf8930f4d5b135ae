/**
 * Background work that uses something its owner closes (the records' database and recorder): each task
 * is tracked by name while it runs, so closing can wait for all of them under one deadline.
 */
export class InFlightTasks {
  private readonly running = new Set<{ name: string; ended: Promise<void> }>();

  /** Tracks `task` under `name` until it settles (a rejection stays the caller's to handle). */
  track(name: string, task: Promise<unknown>): void {
    const entry = {
      name,
      ended: task.then(
        () => undefined,
        () => undefined,
      ),
    };
    this.running.add(entry);
    void entry.ended.then(() => this.running.delete(entry));
  }

  /**
   * Resolves once no tracked task runs (tasks tracked meanwhile included), or once `waitMs` has passed:
   * answers the names of the tasks still running then, each once (empty when all ended).
   */
  async ended(waitMs: number): Promise<string[]> {
    if (this.running.size === 0) return [];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    const drained = async (): Promise<void> => {
      while (this.running.size > 0) await Promise.all([...this.running].map((entry) => entry.ended));
    };
    await Promise.race([drained(), deadline]);
    clearTimeout(timer);
    return [...new Set([...this.running].map((entry) => entry.name))];
  }
}
