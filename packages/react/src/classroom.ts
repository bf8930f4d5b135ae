import { ClasswireError, type ClasswireClient, type JoinInfo, type Member, type Room } from '@classwire/client';
import { applyEvent, applySnapshot, initialState, permissionsOf, type Actor, type ClassroomSnapshot, type ClassroomState, type Permissions } from '@classwire/protocol/classroom';
import { useCallback, useEffect, useMemo, useState } from 'react';

export interface UseClassroom {
  room: Room | undefined;
  /** The classroom as this viewer sees it: status, settings, chat, hands, whiteboard, private messages. */
  state: ClassroomState;
  /** The members present now. */
  roster: Member[];
  /** What the viewer may do now, by the same table the server applies. */
  permissions: Permissions;
  /** The last successful (re)join. */
  joined: JoinInfo | undefined;
  /** Why the server refused the join (removed from the class, or it has ended). */
  error: ClasswireError | undefined;
  /** Publishes a classroom event; the server's refusal rejects with its code. */
  publish(event: string, data: unknown): Promise<number | undefined>;
}

interface ClassroomView {
  room: Room | undefined;
  state: ClassroomState;
  roster: Member[];
  joined: JoinInfo | undefined;
  error: ClasswireError | undefined;
}

const EMPTY: ClassroomView = { room: undefined, state: initialState(), roster: [], joined: undefined, error: undefined };

/**
 * Joins a classroom room and keeps its state (docs/classroom.md): the join snapshot, then every event
 * applied in seq order. `viewer` is who the token is for; it decides `permissions`.
 */
export function useClassroom(client: ClasswireClient | undefined, classroomId: string | undefined, viewer: Actor): UseClassroom {
  const [view, setView] = useState<ClassroomView>(EMPTY);

  useEffect(() => {
    if (client === undefined || classroomId === undefined) {
      setView(EMPTY);
      return;
    }
    const room = client.join(classroomId);
    const update = (change: (previous: ClassroomView) => Partial<ClassroomView>) =>
      setView((previous) => (previous.room === room ? { ...previous, ...change(previous) } : previous));
    setView({ ...EMPTY, room });
    // All handlers go on in the same turn as the join: the snapshot and replay cannot arrive before them.
    const offs = [
      room.onSnapshot<ClassroomSnapshot>(({ state }) => update((previous) => ({ state: applySnapshot(previous.state, state) }))),
      room.on('*', (message) => {
        if (!message.ephemeral) update((previous) => ({ state: applyEvent(previous.state, message) }));
      }),
      room.onPresence(({ members }) => update(() => ({ roster: members }))),
      room.onJoined((joined) => update(() => ({ joined, roster: joined.presence }))),
      room.onError((error) => update(() => ({ error }))),
    ];
    room.ready.catch((error: unknown) => {
      if (error instanceof ClasswireError) update(() => ({ error }));
    });
    return () => {
      for (const off of offs) off();
      if (room.state !== 'left' && room.state !== 'failed') void room.leave().catch(() => undefined);
    };
  }, [client, classroomId]);

  const { room, state } = view;
  const { userId, role } = viewer;
  const permissions = useMemo(() => permissionsOf(state, { userId, role }), [state, userId, role]);
  const publish = useCallback(
    (event: string, data: unknown) => (room === undefined ? Promise.reject(new ClasswireError('closed', 'not in a class')) : room.publish(event, data)),
    [room],
  );
  return { ...view, permissions, publish };
}
