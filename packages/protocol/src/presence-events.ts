/**
 * Presence in the room log (docs/records.md): when records are on, the server appends a user's first
 * join and last leave of a room (merged across tabs and nodes) as sequenced messages, so the recorder
 * copies them with the same exactly-once and gap guarantees as any other message. The names are
 * reserved: only the server appends them, so a client cannot forge attendance.
 */
export const PRESENCE_EVENTS = { join: 'presence.join', leave: 'presence.leave' } as const;

/** Why a user's last connection left a room. */
export type PresenceLeaveReason = 'left' | 'disconnected' | 'reaped';

export interface PresenceJoinData {
  userId: string;
  name: string;
  role: string;
}

export interface PresenceLeaveData extends PresenceJoinData {
  reason: PresenceLeaveReason;
}

/** True for an event name that only the server may append (`presence` and anything below it). */
export function isServerOnlyEvent(event: string): boolean {
  return event === 'presence' || event.startsWith('presence.');
}
