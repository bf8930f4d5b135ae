import { STAFF_ROLES, type Role } from '@classwire/protocol';

/**
 * Which roles may publish which events. The first rule whose pattern matches decides.
 * Patterns: `*` (any event), `prefix.*` (the prefix and anything below it), or an exact name.
 */
export interface PublishRule {
  events: string;
  roles: readonly Role[];
}

export const DEFAULT_PUBLISH_RULES: readonly PublishRule[] = [
  { events: 'class.*', roles: ['teacher'] },
  { events: 'moderation.*', roles: ['teacher', 'assistant'] },
  { events: '*', roles: ['teacher', 'assistant', 'student'] },
];

/** Staff may send direct messages to anyone sharing a room; others may only message staff. */
export { STAFF_ROLES };

export function matchesEventPattern(pattern: string, event: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) {
    const prefix = pattern.slice(0, -2);
    return event === prefix || event.startsWith(`${prefix}.`);
  }
  return pattern === event;
}

export class PublishPolicy {
  private readonly cache = new Map<string, ReadonlySet<Role>>();

  constructor(private readonly rules: readonly PublishRule[] = DEFAULT_PUBLISH_RULES) {}

  mayPublish(role: Role, event: string): boolean {
    let roles = this.cache.get(event);
    if (roles === undefined) {
      const rule = this.rules.find((r) => matchesEventPattern(r.events, event));
      roles = new Set(rule?.roles ?? []);
      // Event names are validated and bounded, but a client could still send many distinct ones.
      if (this.cache.size < 10_000) this.cache.set(event, roles);
    }
    return roles.has(role);
  }

  /** A direct message is allowed when sender and recipient share a room and one of them is staff. */
  mayDirect(senderRole: Role, recipientRole: Role): boolean {
    return STAFF_ROLES.has(senderRole) || STAFF_ROLES.has(recipientRole);
  }
}
