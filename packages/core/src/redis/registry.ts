import type { Redis } from 'ioredis';
import type { Role } from '@classwire/protocol';
import type { ConnectionRecord, ConnectionRegistry, ConnectionState } from '../ports.js';
import { asString, asStrings, clientKeyPrefix, execAll, guarded, scriptPipeline, withScripts, type ScriptCommands } from './scripts.js';

export interface RedisRegistryOptions {
  /** Key prefix. @default 'cw' */
  prefix?: string;
  /**
   * TTL of every key of a connection, ms, re-armed by `touch`: a connection whose node died without
   * removing it disappears after this long. @default 7_500_000 (API Gateway's 2-hour maximum connection
   * duration plus 5 minutes)
   */
  recordTtlMs?: number;
}

/** Record hash fields, in the order registry-remove.lua returns them. */
const FIELDS = ['userId', 'name', 'role', 'rooms', 'expiresAt', 'connectedAt', 'node'] as const;

/** Connections touched per pipeline. */
const TOUCH_BATCH = 1000;

/**
 * Connection registry in Redis, shared by every node: a hash per connection, the set of rooms it joined,
 * and index sets by user, by room and by node. Index sets are cleaned lazily: ids whose record expired
 * or was removed are skipped and removed when read. Add, join, leave and remove are one round trip each.
 * Uses keys derived inside scripts (remove, touch, index reads): a single Redis, not Redis Cluster.
 */
export class RedisRegistry implements ConnectionRegistry {
  private readonly redis: Redis & ScriptCommands;
  private readonly prefix: string;
  private readonly ttlMs: number;

  constructor(redis: Redis, options: RedisRegistryOptions = {}) {
    this.redis = withScripts(redis);
    this.prefix = options.prefix ?? 'cw';
    this.ttlMs = options.recordTtlMs ?? 7_500_000;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 1) throw new Error('recordTtlMs must be a positive integer');
  }

  async add(record: ConnectionRecord): Promise<void> {
    const id = record.connectionId;
    const recordKey = this.recordKey(id);
    const roomsKey = this.roomsKey(id);
    const userKey = this.userKey(record.userId);
    const nodeKey = this.nodeKey(record.node);
    // Re-adding an id starts it afresh with no rooms joined (stale index entries are skipped lazily).
    const multi = this.redis
      .multi()
      .del(recordKey, roomsKey)
      .hset(recordKey, {
        connectionId: id,
        userId: record.userId,
        name: record.name,
        role: record.role,
        rooms: JSON.stringify(record.rooms),
        expiresAt: String(record.expiresAt),
        connectedAt: String(record.connectedAt),
        node: record.node,
      })
      .sadd(userKey, id)
      .sadd(nodeKey, id)
      .pexpire(recordKey, this.ttlMs)
      .pexpire(userKey, this.ttlMs)
      .pexpire(nodeKey, this.ttlMs);
    await execAll(multi, 'registry add');
  }

  async get(connectionId: string): Promise<ConnectionState | undefined> {
    const [fields, joined] = await execAll(
      this.redis
        .pipeline()
        .hmget(this.recordKey(connectionId), ...FIELDS)
        .smembers(this.roomsKey(connectionId)),
      'registry get',
    );
    return toState(connectionId, fields, joined);
  }

  async remove(connectionId: string): Promise<ConnectionState | undefined> {
    const reply = await guarded('registry remove', () =>
      this.redis.classwireRegistryRemove(2, this.recordKey(connectionId), this.roomsKey(connectionId), this.keyBase(), connectionId),
    );
    if (reply === null || reply === undefined) return undefined;
    const values = asStrings(reply);
    return toState(connectionId, values.slice(0, FIELDS.length), values.slice(FIELDS.length));
  }

  async joinRoom(connectionId: string, room: string): Promise<void> {
    await guarded('registry join', () =>
      this.redis.classwireRegistryJoin(
        3,
        this.recordKey(connectionId),
        this.roomsKey(connectionId),
        this.membersKey(room),
        room,
        connectionId,
        this.ttlMs,
      ),
    );
  }

  async leaveRoom(connectionId: string, room: string): Promise<void> {
    await execAll(
      this.redis.multi().srem(this.roomsKey(connectionId), room).srem(this.membersKey(room), connectionId),
      'registry leave',
    );
  }

  members(room: string): Promise<string[]> {
    return this.alive(this.membersKey(room), 'joined', room);
  }

  async connectionsOfUser(userId: string): Promise<ConnectionState[]> {
    const ids = await this.alive(this.userKey(userId), 'field', 'userId', userId);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.recordKey(id), ...FIELDS).smembers(this.roomsKey(id));
    const replies = await execAll(pipeline, 'registry connectionsOfUser');
    const states: ConnectionState[] = [];
    ids.forEach((id, i) => {
      const state = toState(id, replies[2 * i], replies[2 * i + 1]);
      // Removed or re-added under another user since the index was read.
      if (state !== undefined && state.userId === userId) states.push(state);
    });
    return states;
  }

  async countForUser(userId: string): Promise<number> {
    return (await this.alive(this.userKey(userId), 'field', 'userId', userId)).length;
  }

  /** Ids of the live connections registered by `node` (e.g. to clean up after a node that died). */
  connectionsOfNode(node: string): Promise<string[]> {
    return this.alive(this.nodeKey(node), 'field', 'node', node);
  }

  /** Re-arms the TTL of the connections' keys (record, joined rooms, user/node/room indexes), pipelined. */
  async touch(connectionIds: string[]): Promise<void> {
    for (let start = 0; start < connectionIds.length; start += TOUCH_BATCH) {
      const pipeline = scriptPipeline(this.redis);
      for (const id of connectionIds.slice(start, start + TOUCH_BATCH)) {
        pipeline.classwireRegistryTouch(2, this.recordKey(id), this.roomsKey(id), this.keyBase(), this.ttlMs);
      }
      await execAll(pipeline, 'registry touch');
    }
  }

  private async alive(setKey: string, mode: 'joined' | 'field', ...args: string[]): Promise<string[]> {
    const reply = await guarded('registry index read', () =>
      this.redis.classwireRegistryAlive(1, setKey, `${this.keyBase()}conn:`, mode, ...args),
    );
    return asStrings(reply);
  }

  /** The prefix of every key, including the client's own keyPrefix, for keys built inside scripts. */
  private keyBase(): string {
    return `${clientKeyPrefix(this.redis)}${this.prefix}:`;
  }

  private recordKey(connectionId: string): string {
    return `${this.prefix}:conn:${connectionId}`;
  }

  private roomsKey(connectionId: string): string {
    return `${this.prefix}:conn:${connectionId}:rooms`;
  }

  private userKey(userId: string): string {
    return `${this.prefix}:user:${userId}`;
  }

  private membersKey(room: string): string {
    return `${this.prefix}:members:{${room}}`;
  }

  private nodeKey(node: string): string {
    return `${this.prefix}:node:${node}:conns`;
  }
}

function toState(connectionId: string, fieldsReply: unknown, joinedReply: unknown): ConnectionState | undefined {
  if (!Array.isArray(fieldsReply)) return undefined;
  const fields = fieldsReply as unknown[];
  if (fields[0] === null || fields[0] === undefined || fields[0] === '') return undefined;
  const [userId, name, role, rooms, expiresAt, connectedAt, node] = fields.map((v) => (v === null ? '' : asString(v)));
  return {
    connectionId,
    userId: userId!,
    name: name!,
    role: role as Role,
    rooms: parseRooms(rooms!),
    expiresAt: Number(expiresAt),
    connectedAt: Number(connectedAt),
    node: node!,
    joined: new Set(asStrings(joinedReply)),
  };
}

function parseRooms(value: string): string[] {
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}
