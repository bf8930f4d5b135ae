import type { Redis } from 'ioredis';
import type { Member, Role } from '@classwire/protocol';
import type { PresenceStore } from '../ports.js';
import { redisKeys, type RedisKeys } from './keys.js';
import { asStrings, guarded, withScripts, type ScriptCommands } from './scripts.js';

export interface RedisPresenceOptions {
  /** Key prefix. @default 'cw' */
  prefix?: string;
  /**
   * TTL of a room's presence keys, ms, re-armed by every add to the room; a safety net against presence
   * left by a node that died. Must exceed the longest time a connection stays joined without re-adding
   * (API Gateway: 2 hours). @default none: presence is removed only by `remove`
   */
  ttlMs?: number;
}

/**
 * Presence in Redis: per room a hash userId -> member JSON and, per room and user, the set of that
 * user's connections, both under the room's hash tag. Add and remove are Lua scripts, so two nodes
 * adding or removing one user's connections agree on who announces the join and the leave.
 */
export class RedisPresence implements PresenceStore {
  private readonly redis: Redis & ScriptCommands;
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;

  constructor(redis: Redis, options: RedisPresenceOptions = {}) {
    this.redis = withScripts(redis);
    this.keys = redisKeys(options.prefix);
    this.ttlMs = options.ttlMs ?? 0;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 0) throw new Error('ttlMs must be a positive integer');
  }

  async add(room: string, member: Member, connectionId: string): Promise<boolean> {
    const json = JSON.stringify({ userId: member.userId, name: member.name, role: member.role });
    const reply = await guarded('presence add', () =>
      this.redis.classwirePresenceAdd(
        2,
        this.keys.presence(room),
        this.keys.presenceConnections(room, member.userId),
        member.userId,
        json,
        connectionId,
        this.ttlMs,
      ),
    );
    return Number(reply) === 1;
  }

  async remove(room: string, userId: string, connectionId: string): Promise<boolean> {
    const reply = await guarded('presence remove', () =>
      this.redis.classwirePresenceRemove(2, this.keys.presence(room), this.keys.presenceConnections(room, userId), userId, connectionId),
    );
    return Number(reply) === 1;
  }

  async list(room: string): Promise<Member[]> {
    const values = asStrings(await guarded('presence list', () => this.redis.hvals(this.keys.presence(room))));
    return values.map((value) => {
      const parsed = JSON.parse(value) as { userId: string; name: string; role: Role };
      return { userId: parsed.userId, name: parsed.name, role: parsed.role };
    });
  }
}
