/**
 * Every Redis key and channel name Classwire uses, in one place. Scripts receive their keys as KEYS built
 * here; none builds a key itself. A room's keys share its hash tag (`{room}`) so they sit in one cluster
 * slot; the connection registry's keys span slots (a single Redis, not Redis Cluster).
 */
export interface RedisKeys {
  readonly prefix: string;
  /** Hash: the room's `seq` and `epoch`. */
  roomMeta(room: string): string;
  /** SCAN pattern matching every room's meta hash (a failover renews every epoch). */
  roomMetaPattern(): string;
  /** Stream: the room's kept messages, entry ID `${seq}-0`, fields `t` (ts) and `b` (body). */
  roomStream(room: string): string;
  /** String: a publish id seen in the room, for dedup. */
  roomDedup(room: string, dedupKey: string): string;
  /** Hash: one state collection of the room (field -> value). */
  roomState(room: string, collection: string): string;
  /** Hash: the room's present users, userId -> member JSON. */
  presence(room: string): string;
  /** Set: one user's connections in the room. */
  presenceConnections(room: string, userId: string): string;
  /** Hash: a connection's record. */
  connection(connectionId: string): string;
  /** Set: the rooms a connection joined. */
  connectionRooms(connectionId: string): string;
  /** Set: a user's connections. */
  userConnections(userId: string): string;
  /** Sorted set: a user's connection slots (the per-user limit), scored by when each lapses (ms). */
  userSlots(userId: string): string;
  /** Set: the connections that joined a room. */
  roomMembers(room: string): string;
  /** Set: the connections a node registered. */
  nodeConnections(node: string): string;
  /** String with a TTL: the node is alive while it exists. */
  nodeAlive(node: string): string;
  /** Set: every node that has announced itself. */
  nodes(): string;
  /** String with a TTL: which live node is cleaning up after a dead one. */
  nodeReaping(node: string): string;
  /** The node recording a room's records (a lease: `SET NX PX`, docs/records.md). */
  recordingLease(room: string): string;
  /** String: changes when Redis lost its data (the gateway nodes compare it). */
  generation(): string;
  /** String with a TTL: which process renews the epochs after the primary changed to this replication id. */
  failoverLock(replicationId: string): string;
  /** String: the primary's replication id last seen by the Lambda runtime. */
  replicationId(): string;
  /** Sorted set: API Gateway connection ids by connect time (the sweeper's index). */
  apigwConnections(): string;
  /** Set: rooms with messages the scheduled recorder (Lambda runtime) has not recorded yet. */
  roomsToRecord(): string;
  /**
   * String with a TTL: the scheduled recorder (Lambda runtime) ran records retention; while it exists no
   * run deletes again (`SET NX PX`, one hour).
   */
  recordsRetentionMark(): string;
  /** Channel: a room's publications (messages and unsequenced frames). */
  roomChannel(room: string): string;
  /** Channel: frames and calls addressed to one gateway node. */
  nodeChannel(node: string): string;
}

/** The key schema under `prefix` (default `cw`). */
export function redisKeys(prefix = 'cw'): RedisKeys {
  const roomChannelPrefix = `${prefix}:room:`;
  return {
    prefix,
    roomMeta: (room) => `${prefix}:{${room}}:meta`,
    roomMetaPattern: () => `${prefix}:{*}:meta`,
    roomStream: (room) => `${prefix}:{${room}}:log`,
    roomDedup: (room, dedupKey) => `${prefix}:{${room}}:d:${dedupKey}`,
    roomState: (room, collection) => `${prefix}:{${room}}:s:${collection}`,
    presence: (room) => `${prefix}:{${room}}:presence`,
    presenceConnections: (room, userId) => `${prefix}:{${room}}:pc:${userId}`,
    connection: (connectionId) => `${prefix}:conn:${connectionId}`,
    connectionRooms: (connectionId) => `${prefix}:conn:${connectionId}:rooms`,
    userConnections: (userId) => `${prefix}:user:${userId}`,
    userSlots: (userId) => `${prefix}:slots:${userId}`,
    roomMembers: (room) => `${prefix}:members:{${room}}`,
    nodeConnections: (node) => `${prefix}:node:${node}:conns`,
    nodeAlive: (node) => `${prefix}:alive:${node}`,
    nodes: () => `${prefix}:nodes`,
    nodeReaping: (node) => `${prefix}:reaping:${node}`,
    recordingLease: (room) => `${prefix}:{${room}}:recorder`,
    generation: () => `${prefix}:generation`,
    failoverLock: (replicationId) => `${prefix}:failover:${replicationId}`,
    replicationId: () => `${prefix}:replid`,
    apigwConnections: () => `${prefix}:apigw:connections`,
    roomsToRecord: () => `${prefix}:records:pending`,
    recordsRetentionMark: () => `${prefix}:records:retention-at`,
    roomChannel: (room) => `${roomChannelPrefix}${room}`,
    nodeChannel: (node) => `${prefix}:nodech:${node}`,
  };
}
