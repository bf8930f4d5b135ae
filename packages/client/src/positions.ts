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

/** Room positions kept across page reloads (see `createPositions`). */
export interface Positions {
  read(room: string): RoomPosition | undefined;
  write(room: string, position: RoomPosition): void;
  forget(room: string): void;
}

/** The page's `sessionStorage`; undefined where there is none. */
export function sessionPositionStorage(): PositionStorage | undefined {
  try {
    return (globalThis as { sessionStorage?: PositionStorage }).sessionStorage;
  } catch {
    // Access throws when storage is disabled.
    return undefined;
  }
}

/**
 * Room positions kept across page reloads, so that a reloaded page resumes its rooms (replaying what it
 * missed) instead of starting over. Storage failures (quota, privacy modes) only cost that resume.
 * `scope` tells one server's rooms from another's in a shared storage.
 */
export function createPositions(storage: PositionStorage, scope: string): Positions {
  const key = (room: string) => `classwire:${scope}#${room}`;
  const attempt = (operation: () => void) => {
    try {
      operation();
    } catch {
      // A full or disabled storage: the next reload fetches a full snapshot instead.
    }
  };
  return {
    read(room) {
      try {
        const value: unknown = JSON.parse(storage.getItem(key(room)) ?? 'null');
        const { seq, epoch } = (value ?? {}) as Partial<RoomPosition>;
        return Number.isSafeInteger(seq) && seq! >= 0 && typeof epoch === 'string' ? { seq: seq!, epoch } : undefined;
      } catch {
        return undefined;
      }
    },
    write: (room, position) => attempt(() => storage.setItem(key(room), JSON.stringify(position))),
    forget: (room) => attempt(() => storage.removeItem(key(room))),
  };
}
