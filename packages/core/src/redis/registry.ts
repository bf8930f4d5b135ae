import type { Redis } from 'ioredis';
import type { Role } from '@classwire/protocol';
import { SLOT_RESERVATION_MS, StoreUnavailableError, type ConnectionRecord, type ConnectionRegistry, type ConnectionState } from '../ports.js';
import { redisKeys, type RedisKeys } from './keys.js';
import { asString, asStrings, execAll, guarded, withScripts, type ScriptCommands } from './scripts.js';

export interface RedisRegistryOptions {
  /** Key prefix. @default 'cw' */
  prefix?: string;
  /**
   * TTL of every key of a connection, ms, re-armed by `touch`: a connection whose node died without
   * removing it disappears after this long. @default 7_500_000 (API Gateway's 2-hour maximum connection
   * duration plus 5 minutes)
   */
  recordTtlMs?: number;
  /**
   * The id of the node this registry runs on. The records of its own connections are then kept in memory,
   * written through, and `get` answers them without a round trip while `trustLocalUntil` allows (see
   * there). @default none: every read goes to Redis
   */
  localNode?: string;
  now?: () => number;
}

/** Record hash fields, in the order registry-remove.lua returns them. */
const FIELDS = ['userId', 'name', 'role', 'rooms', 'expiresAt', 'connectedAt', 'node'] as const;

/** Connections touched per pipeline. */
const TOUCH_BATCH = 1000;
/** Removal attempts while joins keep racing it. */
const REMOVE_ATTEMPTS = 5;

/**
 * Connection registry in Redis, shared by every node: a hash per connection, the set of rooms it joined,
 * and index sets by user, by room and by node. Index sets are cleaned lazily: ids whose record expired
 * or was removed are skipped and removed when read. Add, join and leave are one round trip each; remove
 * and index reads two (the keys of what they touch are read first, then passed to the script). A
 * connection's keys span cluster slots: a single Redis, not Redis Cluster.
 */
export class RedisRegistry implements ConnectionRegistry {
  private readonly redis: Redis & ScriptCommands;
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;
  private readonly localNode: string | undefined;
  private readonly now: () => number;
  /** States of this node's connections; never mutated, replaced on every change. */
  private readonly local = new Map<string, ConnectionState>();
  private trustedUntil = 0;
  /** Bumped by every change, so a Redis read that raced with one is not cached. */
  private changes = 0;

  constructor(redis: Redis, options: RedisRegistryOptions = {}) {
    this.redis = withScripts(redis);
    this.keys = redisKeys(options.prefix);
    this.ttlMs = options.recordTtlMs ?? 7_500_000;
    this.localNode = options.localNode;
    this.now = options.now ?? Date.now;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 1) throw new Error('recordTtlMs must be a positive integer');
  }

  /** How long a connection's keys live after its last `add`, `joinRoom` or `touch`, ms. */
  get recordTtlMs(): number {
    return this.ttlMs;
  }

  /**
   * Lets `get` answer this node's connections from memory until `epochMs`. Only the owning node changes a
   * connection's record and rooms, except a peer reaping the node once its liveness key expired; so the
   * node passes the send time of its last successful heartbeat plus its TTL. When that time has passed,
   * everything cached is dropped and read again from Redis.
   */
  trustLocalUntil(epochMs: number): void {
    this.trustedUntil = epochMs;
  }

  /** Drops every cached record (the node was presumed dead, or Redis may have lost its data). */
  forgetLocal(): void {
    this.changes += 1;
    this.local.clear();
  }

  /** Whether cached records may be used; drops them once they may not. */
  private trusted(): boolean {
    if (this.localNode === undefined) return false;
    if (this.now() < this.trustedUntil) return true;
    if (this.local.size > 0) this.forgetLocal();
    return false;
  }

  /** Records a change of a connection (so racing reads are not cached) and its new cached state, if any. */
  private cacheChanged(connectionId: string, state: ConnectionState | undefined): void {
    this.changes += 1;
    if (state === undefined) this.local.delete(connectionId);
    else this.local.set(connectionId, state);
  }

  async add(record: ConnectionRecord): Promise<void> {
    const id = record.connectionId;
    const recordKey = this.keys.connection(id);
    const roomsKey = this.keys.connectionRooms(id);
    const userKey = this.keys.userConnections(record.userId);
    const nodeKey = this.keys.nodeConnections(record.node);
    this.cacheChanged(id, undefined);
    // Re-adding an id starts it afresh with no rooms joined (stale index entries are skipped lazily).
    await guarded('registry add', () =>
      this.redis.classwireRegistryAdd(
        5,
        recordKey,
        roomsKey,
        userKey,
        nodeKey,
        this.keys.userSlots(record.userId),
        this.ttlMs,
        id,
        this.now() + this.ttlMs,
        'connectionId',
        id,
        'userId',
        record.userId,
        'name',
        record.name,
        'role',
        record.role,
        'rooms',
        JSON.stringify(record.rooms),
        'expiresAt',
        String(record.expiresAt),
        'connectedAt',
        String(record.connectedAt),
        'node',
        record.node,
      ),
    );
    if (record.node === this.localNode && this.trusted()) this.cacheChanged(id, { ...record, rooms: [...record.rooms], joined: new Set() });
  }

  async get(connectionId: string): Promise<ConnectionState | undefined> {
    const trusted = this.trusted();
    if (trusted) {
      const cached = this.local.get(connectionId);
      if (cached !== undefined) return cached;
    }
    const changes = this.changes;
    const [fields, joined] = await execAll(
      this.redis
        .pipeline()
        .hmget(this.keys.connection(connectionId), ...FIELDS)
        .smembers(this.keys.connectionRooms(connectionId)),
      'registry get',
    );
    const state = toState(connectionId, fields, joined);
    // Cached only when nothing changed meanwhile: the read could predate a join, a leave or a removal.
    if (trusted && state !== undefined && state.node === this.localNode && changes === this.changes && this.trusted()) {
      this.local.set(connectionId, state);
    }
    return state;
  }

  async remove(connectionId: string): Promise<ConnectionState | undefined> {
    this.cacheChanged(connectionId, undefined);
    const recordKey = this.keys.connection(connectionId);
    const roomsKey = this.keys.connectionRooms(connectionId);
    for (let attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
      const [owner, joinedReply] = await execAll(
        this.redis.pipeline().hmget(recordKey, 'userId', 'node').smembers(roomsKey),
        'registry remove',
      );
      const [userId, node] = (owner as (string | null)[]).map((value) => value ?? '');
      const joined = asStrings(joinedReply);
      const keys = [
        recordKey,
        roomsKey,
        userId === '' ? recordKey : this.keys.userConnections(userId!),
        node === '' ? recordKey : this.keys.nodeConnections(node!),
        ...joined.map((room) => this.keys.roomMembers(room)),
      ];
      const reply = await guarded('registry remove', () =>
        this.redis.classwireRegistryRemove(keys.length, ...keys, connectionId, userId!, node!, ...joined),
      );
      // 0: a join or a re-add changed what was read; read again.
      if (reply === 0) continue;
      if (reply === null || reply === undefined) return undefined;
      await guarded('registry remove', () => this.redis.zrem(this.keys.userSlots(userId!), connectionId));
      const values = asStrings(reply);
      return toState(connectionId, values.slice(0, FIELDS.length), values.slice(FIELDS.length));
    }
    throw new StoreUnavailableError(`registry remove of ${connectionId} kept racing other changes`);
  }

  async setExpiry(connectionId: string, expiresAt: number): Promise<boolean> {
    const reply = await this.writeThrough(connectionId, 'registry expiry', () =>
      this.redis.classwireRegistryExpiry(1, this.keys.connection(connectionId), String(expiresAt)),
    );
    const cached = this.local.get(connectionId);
    const updated = Number(reply) === 1;
    this.cacheChanged(connectionId, cached === undefined || !updated ? undefined : { ...cached, expiresAt });
    return updated;
  }

  async joinRoom(connectionId: string, room: string): Promise<void> {
    const reply = await this.writeThrough(connectionId, 'registry join', () =>
      this.redis.classwireRegistryJoin(
        3,
        this.keys.connection(connectionId),
        this.keys.connectionRooms(connectionId),
        this.keys.roomMembers(room),
        room,
        connectionId,
        this.ttlMs,
      ),
    );
    const cached = this.local.get(connectionId);
    // 0: the record is gone (removed, reaped or expired), so the cache must not keep it either.
    const joined = cached === undefined || Number(reply) !== 1 ? undefined : { ...cached, joined: new Set([...cached.joined, room]) };
    this.cacheChanged(connectionId, joined);
  }

  async leaveRoom(connectionId: string, room: string): Promise<void> {
    await this.writeThrough(connectionId, 'registry leave', () =>
      execAll(
        this.redis.multi().srem(this.keys.connectionRooms(connectionId), room).srem(this.keys.roomMembers(room), connectionId),
        'registry leave',
      ),
    );
    const cached = this.local.get(connectionId);
    const joined = new Set(cached?.joined);
    joined.delete(room);
    this.cacheChanged(connectionId, cached === undefined ? undefined : { ...cached, joined });
  }

  /** Runs a change in Redis; when it fails (it may or may not have happened) the cached record is dropped. */
  private async writeThrough<T>(connectionId: string, what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await guarded(what, operation);
    } catch (error) {
      this.cacheChanged(connectionId, undefined);
      throw error;
    }
  }

  members(room: string): Promise<string[]> {
    return this.alive(this.keys.roomMembers(room), 'joined', room);
  }

  async connectionsOfUser(userId: string): Promise<ConnectionState[]> {
    const ids = await this.alive(this.keys.userConnections(userId), 'field', 'userId', userId);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.connection(id), ...FIELDS).smembers(this.keys.connectionRooms(id));
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
    return (await this.alive(this.keys.userConnections(userId), 'field', 'userId', userId)).length;
  }

  async reserveSlot(userId: string, connectionId: string, max: number): Promise<boolean> {
    const now = this.now();
    const reply = await guarded('registry reserve', () =>
      this.redis.classwireRegistryReserve(1, this.keys.userSlots(userId), now, now + SLOT_RESERVATION_MS, max, connectionId, this.ttlMs),
    );
    return Number(reply) === 1;
  }

  async releaseSlot(userId: string, connectionId: string): Promise<void> {
    await guarded('registry release', () => this.redis.zrem(this.keys.userSlots(userId), connectionId));
  }

  /** Ids of the live connections registered by `node` (e.g. to clean up after a node that died). */
  connectionsOfNode(node: string): Promise<string[]> {
    return this.alive(this.keys.nodeConnections(node), 'field', 'node', node);
  }

  /**
   * Re-arms the TTL of the connections' keys (record, joined rooms, user/node/room indexes): their records
   * are read, then the keys expired, each step pipelined. A key of a connection changed in between is
   * either re-armed by that change itself or harmlessly kept a while longer.
   */
  async touch(connectionIds: string[]): Promise<void> {
    const now = this.now();
    for (let start = 0; start < connectionIds.length; start += TOUCH_BATCH) {
      const batch = connectionIds.slice(start, start + TOUCH_BATCH);
      const reads = this.redis.pipeline();
      for (const id of batch) reads.hmget(this.keys.connection(id), 'userId', 'node').smembers(this.keys.connectionRooms(id));
      const replies = await execAll(reads, 'registry touch');
      const expiries = this.redis.pipeline();
      batch.forEach((id, i) => {
        const [userId, node] = replies[2 * i] as (string | null)[];
        if (userId === null || userId === undefined) return;
        const keys = [this.keys.connection(id), this.keys.connectionRooms(id), this.keys.userConnections(userId), this.keys.userSlots(userId)];
        // The slot lapses with the record: a connection of a dead node stops counting once its keys expire.
        expiries.zadd(this.keys.userSlots(userId), 'XX', now + this.ttlMs, id);
        if (node !== null && node !== undefined) keys.push(this.keys.nodeConnections(node));
        for (const room of asStrings(replies[2 * i + 1])) keys.push(this.keys.roomMembers(room));
        for (const key of keys) expiries.pexpire(key, this.ttlMs);
      });
      await execAll(expiries, 'registry touch');
    }
  }

  /** The ids of an index set whose connection is alive (see registry-alive.lua); the others are dropped. */
  private async alive(setKey: string, mode: 'joined' | 'field', roomOrField: string, fieldValue = ''): Promise<string[]> {
    const ids = asStrings(await guarded('registry index read', () => this.redis.smembers(setKey)));
    if (ids.length === 0) return [];
    const keys = [setKey];
    for (const id of ids) {
      keys.push(this.keys.connection(id));
      if (mode === 'joined') keys.push(this.keys.connectionRooms(id));
    }
    const reply = await guarded('registry index read', () =>
      this.redis.classwireRegistryAlive(keys.length, ...keys, mode, roomOrField, fieldValue, ...ids),
    );
    return asStrings(reply);
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
