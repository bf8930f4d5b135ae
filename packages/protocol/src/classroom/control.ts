import type { ClassroomEventMap, ClassSettings, ClassStatus } from './types.js';

/**
 * The part of a classroom's state that decides what members may do: what the permission table reads and
 * the control events change. The server stores it in the room's `control` collection; the app keeps it
 * in its state (and the join snapshot carries it), so both apply the same transitions below.
 */
export interface ClassControl {
  status: ClassStatus;
  settings: ClassSettings;
  muted: readonly string[];
  granted: readonly string[];
  removed: readonly string[];
}

export const INITIAL_CONTROL: ClassControl = {
  status: 'waiting',
  settings: { chatLocked: false, whiteboardLocked: false },
  muted: [],
  granted: [],
  removed: [],
};

/** The events that change the control state. */
export type ControlEvent = 'class.settings' | 'class.start' | 'class.end' | 'moderation.mute' | 'moderation.grant' | 'moderation.remove';

type ControlTransitions = { [E in ControlEvent]: (control: ClassControl, data: ClassroomEventMap[E]) => ClassControl };

/** What each control event changes. (Removing a user also lowers their hand: hands are not control state.) */
const CONTROL_TRANSITIONS: ControlTransitions = {
  'class.settings': (control, change) => {
    const settings: ClassSettings = {
      chatLocked: change.chatLocked ?? control.settings.chatLocked,
      whiteboardLocked: change.whiteboardLocked ?? control.settings.whiteboardLocked,
    };
    const same = settings.chatLocked === control.settings.chatLocked && settings.whiteboardLocked === control.settings.whiteboardLocked;
    return same ? control : { ...control, settings };
  },
  'class.start': (control) => (control.status === 'live' ? control : { ...control, status: 'live' }),
  'class.end': (control) => (control.status === 'ended' ? control : { ...control, status: 'ended' }),
  'moderation.mute': (control, { userId, muted }) => withList(control, 'muted', toggled(control.muted, userId, muted)),
  'moderation.grant': (control, { userId, granted }) => withList(control, 'granted', toggled(control.granted, userId, granted)),
  'moderation.remove': (control, { userId }) => withList(control, 'removed', toggled(control.removed, userId, true)),
};

/** The control state after an accepted control event; `control` itself when nothing changed. */
export function applyControlEvent<E extends ControlEvent>(control: ClassControl, event: E, data: ClassroomEventMap[E]): ClassControl {
  const transition: ControlTransitions[E] = CONTROL_TRANSITIONS[event];
  return transition(control, data);
}

/** Whose raised hand an accepted `hand.lower` lowers: the named user's, or else the sender's own. */
export function handToLower(data: ClassroomEventMap['hand.lower'], senderId: string): string {
  return data.userId ?? senderId;
}

function withList(control: ClassControl, key: 'muted' | 'granted' | 'removed', list: readonly string[]): ClassControl {
  return list === control[key] ? control : { ...control, [key]: list };
}

/** Adds or removes one user, keeping the order of the others; the same list when nothing changes. */
function toggled(list: readonly string[], userId: string, on: boolean): readonly string[] {
  if (list.includes(userId) === on) return list;
  return on ? [...list, userId] : list.filter((id) => id !== userId);
}
