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
import { useCallback, useEffect, useRef, useState } from 'react';

export interface UseRoom<Events = ClassroomEventMap> {
  /** The joined room; undefined without a client or a room id. */
  room: Room<Events> | undefined;
  /** `idle` without a room, then the room's own state. */
  state: RoomState | 'idle';
  /** The last successful (re)join. */
  joined: JoinInfo | undefined;
  /** Why the server refused the join (or a publish nobody awaited). */
  error: ClasswireError | undefined;
  /** Publishes to the joined room; rejects with `closed` when there is none. */
  publish<K extends keyof Events & string>(event: K, data: Events[K], options?: PublishOptions): Promise<number | undefined>;
}

interface RoomView<Events> {
  room: Room<Events> | undefined;
  state: RoomState | 'idle';
  joined: JoinInfo | undefined;
  error: ClasswireError | undefined;
}

function idle<Events>(): RoomView<Events> {
  return { room: undefined, state: 'idle', joined: undefined, error: undefined };
}

/** Joins `roomId` while the component is mounted (the old room is left when the id changes). */
export function useRoom<Events = ClassroomEventMap>(client: ClasswireClient<Events> | undefined, roomId: string | undefined): UseRoom<Events> {
  const [view, setView] = useState<RoomView<Events>>(idle);

  useEffect(() => {
    if (client === undefined || roomId === undefined) {
      setView(idle());
      return;
    }
    const room = client.join(roomId);
    const follow = (change: Partial<RoomView<Events>> = {}) => setView((previous) => (previous.room === room ? { ...previous, ...change, state: room.state } : previous));
    setView({ room, state: room.state, joined: undefined, error: undefined });
    const offs = [room.onJoined((joined) => follow({ joined })), room.onError((error) => follow({ error }))];
    // A refused join settles `ready` before any event says so.
    room.ready.then(
      () => follow(),
      () => follow(),
    );
    return () => {
      for (const off of offs) off();
      // Leaving a room the client already closed has nothing to undo.
      if (room.state !== 'left' && room.state !== 'failed') void room.leave().catch(() => undefined);
    };
  }, [client, roomId]);

  const { room } = view;
  const publish = useCallback(
    <K extends keyof Events & string>(event: K, data: Events[K], options?: PublishOptions) =>
      room === undefined ? Promise.reject(new ClasswireError('closed', 'no room joined')) : room.publish(event, data, options),
    [room],
  );
  return { ...view, publish };
}

/**
 * Calls `handler` for each message of `event` (or of every event with `'*'`) in the room, in seq order,
 * once. The latest handler is the one called: it need not be memoized.
 */
export function useRoomEvent<Events>(room: Room<Events> | undefined, event: '*', handler: (message: AnyEventMessage<Events>) => void): void;
export function useRoomEvent<Events, K extends keyof Events & string>(room: Room<Events> | undefined, event: K, handler: (message: EventMessage<Events, K>) => void): void;
export function useRoomEvent(room: Room<OpenEventMap> | undefined, event: string, handler: (message: RoomMessage) => void): void {
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => room?.on(event, (message) => latest.current(message)), [room, event]);
}

/** The members present in a room, updated on every join and leave (and after each re-join). */
export function usePresence<Events>(room: Room<Events> | undefined): Member[] {
  const [members, setMembers] = useState<Member[]>([]);
  useEffect(() => {
    setMembers(room?.presence ?? []);
    if (room === undefined) return;
    const offs = [room.onPresence((change) => setMembers(change.members)), room.onJoined((info) => setMembers(info.presence))];
    return () => {
      for (const off of offs) off();
    };
  }, [room]);
  return members;
}
