/** The part of the Web Storage API (`sessionStorage`) the SDK uses to keep room positions. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Where a room's stream stands: what a resume needs. */
export interface RoomPosition {
  seq: number;
  epoch: string;
}

/**
 * Room positions kept across page reloads, so that a reloaded page resumes its rooms (replaying what it
 * missed) instead of starting over. Storage failures (quota, privacy modes) only cost that resume.
 */
export class Positions {
  constructor(
    private readonly storage: PositionStorage,
    /** Tells one server's rooms from another's in a shared storage. */
    private readonly scope: string,
  ) {}

  /** The position `sessionStorage` in this page; undefined where there is none. */
  static sessionStorage(): PositionStorage | undefined {
    try {
      return (globalThis as { sessionStorage?: PositionStorage }).sessionStorage;
    } catch {
      // Access throws when storage is disabled.
      return undefined;
    }
  }

  read(room: string): RoomPosition | undefined {
    try {
      const value: unknown = JSON.parse(this.storage.getItem(this.key(room)) ?? 'null');
      const { seq, epoch } = (value ?? {}) as Partial<RoomPosition>;
      return Number.isSafeInteger(seq) && seq! >= 0 && typeof epoch === 'string' ? { seq: seq!, epoch } : undefined;
    } catch {
      return undefined;
    }
  }

  write(room: string, position: RoomPosition): void {
    this.attempt(() => this.storage.setItem(this.key(room), JSON.stringify(position)));
  }

  forget(room: string): void {
    this.attempt(() => this.storage.removeItem(this.key(room)));
  }

  private key(room: string): string {
    return `classwire:${this.scope}#${room}`;
  }

  private attempt(operation: () => void): void {
    try {
      operation();
    } catch {
      // A full or disabled storage: the next reload fetches a full snapshot instead.
    }
  }
}
