import type { Role } from '../types.js';

/** The roles that run a class: they moderate, and direct and private messages may always reach them. */
export const STAFF_ROLES: ReadonlySet<Role> = new Set<Role>(['teacher', 'assistant']);

/** Takes a sender's role too: the server (`'server'`) is not staff. */
export function isStaff(role: Role | 'server'): boolean {
  return role !== 'server' && STAFF_ROLES.has(role);
}
