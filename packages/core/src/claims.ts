import { DEFAULT_LIMITS, isRole, parseGroupRoom, type Role } from '@classwire/protocol';

/** What Classwire knows about an authenticated user. Built from verified JWT claims only. */
export interface Claims {
  userId: string;
  name: string;
  role: Role;
  /** Rooms this user may join: exact names, prefixes ending in `*` (`physics-*`), or `*` for any room. */
  rooms: readonly string[];
  /** Token expiry, epoch milliseconds. The connection is closed when it passes. */
  expiresAt: number;
}

export class ClaimsError extends Error {
  override readonly name = 'ClaimsError';
}

const MAX_NAME_LENGTH = 64;
const MAX_ROOM_CLAIMS = 256;

/**
 * Maps a verified JWT payload to claims. `sub` and `exp` are required; `role` defaults to `student`
 * (least privilege that can still take part); `name` defaults to `sub`; `rooms` is a list or one string.
 */
export function claimsFromPayload(payload: Record<string, unknown>): Claims {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > DEFAULT_LIMITS.maxUserIdLength) {
    throw new ClaimsError('sub must be a non-empty string');
  }
  const exp = payload.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new ClaimsError('exp is required');
  const role = payload.role ?? 'student';
  if (!isRole(role)) throw new ClaimsError('role is not one of teacher, assistant, student, observer');
  const rawName = payload.name ?? sub;
  if (typeof rawName !== 'string') throw new ClaimsError('name must be a string');
  const rawRooms = payload.rooms ?? [];
  const rooms = typeof rawRooms === 'string' ? [rawRooms] : rawRooms;
  if (!Array.isArray(rooms) || rooms.length > MAX_ROOM_CLAIMS || !rooms.every((r) => typeof r === 'string')) {
    throw new ClaimsError('rooms must be a string or a list of strings');
  }
  return {
    userId: sub,
    name: rawName.slice(0, MAX_NAME_LENGTH) || sub,
    role,
    rooms: rooms as string[],
    expiresAt: exp * 1000,
  };
}

/**
 * Whether the claims allow joining `room`. A breakout group's room (`<class>~g<n>`) is allowed by the
 * claim on its class, whatever the claims say of the group's name: the classroom then decides from the
 * class's state (`Classroom.checkJoin`), so no token is needed per group.
 */
export function mayJoinRoom(claims: Pick<Claims, 'rooms'>, room: string): boolean {
  const target = parseGroupRoom(room)?.classRoom ?? room;
  for (const allowed of claims.rooms) {
    if (allowed === '*' || allowed === target) return true;
    if (allowed.endsWith('*') && target.startsWith(allowed.slice(0, -1))) return true;
  }
  return false;
}
