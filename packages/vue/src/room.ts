import {
  ClasswireError,
  type AnyEventMessage,
  type ClassroomEventMap,
  type ClasswireClient,
  type EventMessage,
  type JoinInfo,
  type Member,
  type OpenEventMap,
  type PublishOptions,
  type Room,
  type RoomMessage,
  type RoomState,
} from '@classwire/client';
import { onScopeDispose, shallowRef, toValue, watch, type MaybeRefOrGetter, type ShallowRef } from 'vue';

/** A room of any event map, for what does not depend on its events. */
type UntypedRoom = Room<OpenEventMap>;

export interface UseRoom<Events = ClassroomEventMap> {
  /** The joined room; undefined while no room id is given. */
  room: Readonly<ShallowRef<Room<Events> | undefined>>;
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
  on(event: '*', handler: (message: AnyEventMessage<Events>) => void): () => void;
  on<K extends keyof Events & string>(event: K, handler: (message: EventMessage<Events, K>) => void): () => void;
  /** Publishes to the joined room; rejects with `closed` when there is none. */
  publish<K extends keyof Events & string>(event: K, data: Events[K], options?: PublishOptions): Promise<number | undefined>;
}

/**
 * Joins `roomId` (a ref or getter may change it: the old room is left, the new one joined) and leaves it
 * when the scope ends. Handlers registered with `on` follow the room across such changes.
 */
export function useRoom<Events = ClassroomEventMap>(client: ClasswireClient<Events>, roomId: MaybeRefOrGetter<string | undefined>): UseRoom<Events> {
  const room = shallowRef<Room<Events>>();
  const state = shallowRef<RoomState | 'idle'>('idle');
  const joined = shallowRef<JoinInfo>();
  const error = shallowRef<ClasswireError>();
  let detach: (() => void)[] = [];

  function attach(next: Room<Events>): void {
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
    on: ((event: string, handler: (message: RoomMessage) => void) => {
      // The overloads above type the handler; underneath, one handler of an untyped room.
      const untyped = (r: Room<Events> | undefined) => r as UntypedRoom | undefined;
      let off = untyped(room.value)?.on(event, handler);
      // Synchronously, so that no message of a newly joined room arrives before the handler is on it.
      const stopFollowing = watch(
        room,
        (next) => {
          off?.();
          off = untyped(next)?.on(event, handler);
        },
        { flush: 'sync' },
      );
      const remove = () => {
        stopFollowing();
        off?.();
      };
      onScopeDispose(remove);
      return remove;
    }) as UseRoom<Events>['on'],
    publish(event, data, options) {
      const current = room.value;
      if (current === undefined) return Promise.reject(new ClasswireError('closed', 'no room joined'));
      return current.publish(event, data, options);
    },
  };
}

/** The members present in a room, updated on every join and leave (and after each re-join). */
export function usePresence<Events>(room: MaybeRefOrGetter<Room<Events> | undefined>): Readonly<ShallowRef<Member[]>> {
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
