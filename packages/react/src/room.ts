import { ClasswireError, type ClasswireClient, type JoinInfo, type Member, type PublishOptions, type Room, type RoomMessage, type RoomState } from '@classwire/client';
import { useCallback, useEffect, useRef, useState } from 'react';

export interface UseRoom {
  /** The joined room; undefined without a client or a room id. */
  room: Room | undefined;
  /** `idle` without a room, then the room's own state. */
  state: RoomState | 'idle';
  /** The last successful (re)join. */
  joined: JoinInfo | undefined;
  /** Why the server refused the join (or a publish nobody awaited). */
  error: ClasswireError | undefined;
  /** Publishes to the joined room; rejects with `closed` when there is none. */
  publish<T>(event: string, data: T, options?: PublishOptions): Promise<number | undefined>;
}

interface RoomView {
  room: Room | undefined;
  state: RoomState | 'idle';
  joined: JoinInfo | undefined;
  error: ClasswireError | undefined;
}

const IDLE: RoomView = { room: undefined, state: 'idle', joined: undefined, error: undefined };

/** Joins `roomId` while the component is mounted (the old room is left when the id changes). */
export function useRoom(client: ClasswireClient | undefined, roomId: string | undefined): UseRoom {
  const [view, setView] = useState<RoomView>(IDLE);

  useEffect(() => {
    if (client === undefined || roomId === undefined) {
      setView(IDLE);
      return;
    }
    const room = client.join(roomId);
    const follow = (change: Partial<RoomView> = {}) => setView((previous) => (previous.room === room ? { ...previous, ...change, state: room.state } : previous));
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
    <T>(event: string, data: T, options?: PublishOptions) =>
      room === undefined ? Promise.reject(new ClasswireError('closed', 'no room joined')) : room.publish(event, data, options),
    [room],
  );
  return { ...view, publish };
}

/**
 * Calls `handler` for each message of `event` (or of every event with `'*'`) in the room, in seq order,
 * once. The latest handler is the one called: it need not be memoized.
 */
export function useRoomEvent<T = unknown>(room: Room | undefined, event: string, handler: (message: RoomMessage<T>) => void): void {
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => room?.on<T>(event, (message) => latest.current(message)), [room, event]);
}

/** The members present in a room, updated on every join and leave (and after each re-join). */
export function usePresence(room: Room | undefined): Member[] {
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
