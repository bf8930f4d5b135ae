import { ClasswireError, type ClasswireClient, type JoinInfo, type Member, type PublishOptions, type Room, type RoomMessage, type RoomState } from '@classwire/client';
import { onScopeDispose, shallowRef, toValue, watch, type MaybeRefOrGetter, type ShallowRef } from 'vue';

export interface UseRoom {
  /** The joined room; undefined while no room id is given. */
  room: Readonly<ShallowRef<Room | undefined>>;
  /** `idle` without a room id, then the room's own state. */
  state: Readonly<ShallowRef<RoomState | 'idle'>>;
  /** The last successful (re)join. */
  joined: Readonly<ShallowRef<JoinInfo | undefined>>;
  /** Why the server refused the join (or a publish nobody awaited). */
  error: Readonly<ShallowRef<ClasswireError | undefined>>;
  /**
   * Handles messages of one event (or `'*'`) of whichever room is joined now, until the scope ends.
   * Returns a function that removes the handler earlier.
   */
  on<T = unknown>(event: string, handler: (message: RoomMessage<T>) => void): () => void;
  /** Publishes to the joined room; rejects with `closed` when there is none. */
  publish<T>(event: string, data: T, options?: PublishOptions): Promise<number | undefined>;
}

/**
 * Joins `roomId` (a ref or getter may change it: the old room is left, the new one joined) and leaves it
 * when the scope ends. Handlers registered with `on` follow the room across such changes.
 */
export function useRoom(client: ClasswireClient, roomId: MaybeRefOrGetter<string | undefined>): UseRoom {
  const room = shallowRef<Room>();
  const state = shallowRef<RoomState | 'idle'>('idle');
  const joined = shallowRef<JoinInfo>();
  const error = shallowRef<ClasswireError>();
  let detach: (() => void)[] = [];

  function attach(next: Room): void {
    const follow = () => {
      state.value = next.state;
    };
    detach = [
      next.onJoined((info) => {
        joined.value = info;
        follow();
      }),
      next.onError((cause) => {
        error.value = cause;
        follow();
      }),
    ];
    // A refused join settles `ready` before any event says so.
    next.ready.then(follow, follow);
  }

  function release(): void {
    for (const off of detach) off();
    detach = [];
    const leaving = room.value;
    room.value = undefined;
    // Leaving a room the client already closed has nothing to undo.
    if (leaving !== undefined && leaving.state !== 'left' && leaving.state !== 'failed') void leaving.leave().catch(() => undefined);
  }

  watch(
    () => toValue(roomId),
    (id) => {
      release();
      joined.value = undefined;
      error.value = undefined;
      if (id === undefined) {
        state.value = 'idle';
        return;
      }
      const next = client.join(id);
      room.value = next;
      state.value = next.state;
      attach(next);
    },
    { immediate: true },
  );
  onScopeDispose(release);

  return {
    room,
    state,
    joined,
    error,
    on<T>(event: string, handler: (message: RoomMessage<T>) => void) {
      let off = room.value?.on(event, handler);
      // Synchronously, so that no message of a newly joined room arrives before the handler is on it.
      const stopFollowing = watch(
        room,
        (next) => {
          off?.();
          off = next?.on(event, handler);
        },
        { flush: 'sync' },
      );
      const remove = () => {
        stopFollowing();
        off?.();
      };
      onScopeDispose(remove);
      return remove;
    },
    publish(event, data, options) {
      const current = room.value;
      if (current === undefined) return Promise.reject(new ClasswireError('closed', 'no room joined'));
      return current.publish(event, data, options);
    },
  };
}

/** The members present in a room, updated on every join and leave (and after each re-join). */
export function usePresence(room: MaybeRefOrGetter<Room | undefined>): Readonly<ShallowRef<Member[]>> {
  const members = shallowRef<Member[]>([]);
  let offs: (() => void)[] = [];
  watch(
    () => toValue(room),
    (next) => {
      for (const off of offs) off();
      members.value = next?.presence ?? [];
      offs =
        next === undefined
          ? []
          : [
              next.onPresence((change) => {
                members.value = change.members;
              }),
              next.onJoined((info) => {
                members.value = info.presence;
              }),
            ];
    },
    { immediate: true },
  );
  onScopeDispose(() => {
    for (const off of offs) off();
  });
  return members;
}
