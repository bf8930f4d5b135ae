import { RedisBroker, RedisPresence, RedisRecordingLease, RedisRegistry, RedisRoomLog, redisKeys, renewEpochs, type Logger } from '@classwire/core';
import { randomUUID } from 'node:crypto';
import { CLOSE_CODES } from '@classwire/protocol';
import { Redis, type RedisOptions } from 'ioredis';
import type { GatewayConfig } from './config.js';
import { ClusterFanOut } from './cluster-fanout.js';
import type { ConnectionInfo } from './connection.js';
import type { LocalFanOut } from './local-fanout.js';
import type { GatewayMetrics } from './metrics.js';

export interface Cluster {
  registry: RedisRegistry;
  broker: RedisBroker;
  presence: RedisPresence;
  fanout: ClusterFanOut;
  /** Which node records a room's class records (docs/records.md). */
  recordingLease: RedisRecordingLease;
  /** Each node's ops console report, stored with a TTL so a dead node's disappears. */
  statusRecords: {
    write(record: string, ttlMs: number): Promise<void>;
    readAll(): Promise<string[]>;
  };
  /** True while the command connection to Redis is ready. */
  isReady(): boolean;
  /** Starts heartbeats and the dead-node reaper; `disconnect` removes one connection through the engine. */
  start(disconnect: (connectionId: string) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A recording lease outlives its holder's last recording by at most this: after a node dies, another
 * records its rooms within about this long (renewals are cheap: one per recording batch).
 */
const RECORDING_LEASE_MAX_MS = 3_000;

/** Options shared by every Redis connection: fail fast instead of queueing, so nothing is falsely acked. */
function redisOptions(config: NonNullable<GatewayConfig['redis']>, subscriber: boolean): RedisOptions {
  const common: RedisOptions = {
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: subscriber ? null : 1,
    // Commands fail at once while disconnected; the subscriber queues its SUBSCRIBEs for the reconnect.
    enableOfflineQueue: subscriber,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000) + Math.floor(Math.random() * 100),
    lazyConnect: true,
  };
  if (config.sentinels !== undefined) {
    return {
      ...common,
      sentinels: config.sentinels,
      name: config.masterName,
      failoverDetector: true,
      sentinelRetryStrategy: (times) => Math.min(100 * times, 2000),
    };
  }
  return common;
}

function connectRedis(config: NonNullable<GatewayConfig['redis']>, subscriber: boolean): Redis {
  const options = redisOptions(config, subscriber);
  return config.url !== undefined ? new Redis(config.url, options) : new Redis(options);
}

/** The Redis engine for one gateway node: ports, broker, cross-node fan-out, node liveness and clean-up. */
export async function createCluster(
  config: GatewayConfig,
  nodeId: string,
  local: LocalFanOut,
  logger: Logger,
  metrics: GatewayMetrics,
  describeLocal: (connectionId: string) => ConnectionInfo | undefined,
): Promise<Cluster> {
  const settings = config.redis!;
  const keys = redisKeys(settings.prefix);
  const redis = connectRedis(settings, false);
  const subscriber = connectRedis(settings, true);
  for (const [name, client] of [
    ['commands', redis],
    ['subscriber', subscriber],
  ] as const) {
    client.on('error', (error: Error) => logger.warn({ err: error, connection: name }, 'redis error'));
    client.on('reconnecting', () => metrics.redisReconnects.inc({ connection: name }));
  }
  await Promise.all([redis.connect(), subscriber.connect()]);

  // WAIT blocks the connection it runs on: the log gets its own, so registry and presence never queue behind it.
  const logConnection = settings.waitReplicas > 0 ? connectRedis(settings, false) : redis;
  if (logConnection !== redis) {
    logConnection.on('error', (error: Error) => logger.warn({ err: error, connection: 'log' }, 'redis error'));
    await logConnection.connect();
  }
  const roomLog = new RedisRoomLog(logConnection, {
    maxMessages: config.limits.historySize,
    maxAgeMs: config.limits.historyTtlMs,
    prefix: keys.prefix,
    waitReplicas: settings.waitReplicas,
    waitTimeoutMs: settings.waitTimeoutMs,
    maxBatch: settings.appendBatch,
  });
  // Caches this node's own connection records: the per-frame lookup then costs no round trip.
  const registry = new RedisRegistry(redis, { prefix: keys.prefix, localNode: nodeId });
  const presence = new RedisPresence(redis, { prefix: keys.prefix });
  const broker = new RedisBroker({
    log: roomLog,
    redis,
    subscriber,
    delivery: local,
    logger,
    events: {
      backfilled: (count) => metrics.backfilled.inc(count),
      historyLost: () => metrics.historyLost.inc(),
      // Clocks of two nodes may disagree by a little; a negative lag is skew, not news.
      received: (lagMs) => metrics.pubsubLag.observe(Math.max(0, lagMs) / 1000),
    },
  });
  const fanout = new ClusterFanOut({ local, redis, subscriber, registry, keys, nodeId, logger, describeLocal });

  const aliveKey = keys.nodeAlive(nodeId);
  const nodesKey = keys.nodes();
  let timers: NodeJS.Timeout[] = [];
  let disconnect: (connectionId: string) => Promise<void> = () => Promise.resolve();

  let beaten = false;
  // Connection records outlive their last touch by the registry's record TTL (about two hours): touching
  // every connection on every heartbeat would cost Redis a script per connection every few seconds.
  const touchEveryMs = registry.recordTtlMs / 8;
  let touchedAt = Date.now();
  const heartbeat = async () => {
    await checkGeneration();
    const sentAt = Date.now();
    const previous = await redis.set(aliveKey, '1', 'PX', settings.nodeTtlMs, 'GET');
    // No peer can reap this node before the key just set expires: until then its cached records hold.
    registry.trustLocalUntil(sentAt + settings.nodeTtlMs);
    await redis.sadd(nodesKey, nodeId);
    if (beaten && previous === null) {
      // This node was cut off from Redis longer than its TTL, so a peer may have reaped its connections
      // (records, memberships, presence). They reconnect and register again.
      logger.warn({ node: nodeId, connections: local.connections.size }, 'this node was presumed dead; closing local connections so they resume');
      registry.forgetLocal();
      broker.forgetRooms();
      for (const connection of local.connections.values()) connection.close(CLOSE_CODES.serverError, 'node was presumed dead; resume');
    }
    beaten = true;
    if (Date.now() - touchedAt >= touchEveryMs) {
      touchedAt = Date.now();
      await registry.touch([...local.connections.keys()]);
    }
  };

  const reap = async () => {
    const nodes = await redis.smembers(nodesKey);
    let alive = 0;
    for (const node of nodes) {
      if (node === nodeId || (await redis.exists(keys.nodeAlive(node))) === 1) {
        alive += 1;
        continue;
      }
      // One live node cleans up each dead one.
      if ((await redis.set(keys.nodeReaping(node), nodeId, 'PX', settings.nodeTtlMs, 'NX')) !== 'OK') continue;
      const connections = await registry.connectionsOfNode(node);
      logger.warn({ node, connections: connections.length }, 'reaping the connections of a dead node');
      for (const connectionId of connections) await disconnect(connectionId);
      await redis.srem(nodesKey, node);
      metrics.nodesReaped.inc();
    }
    metrics.nodesSeen.set(alive);
  };

  // Redis may come back from a restart without its data. A generation id stored in Redis tells: when it
  // changed, every registration and subscription of this node's connections is gone, so they are closed
  // with a "reconnect" code; their resume then reports `recovered: false` (the history is gone too).
  const generationKey = keys.generation();
  let generation: string | undefined;
  let replicationId: string | undefined;
  const checkGeneration = async () => {
    // A new replication id means this is another server now (a failover) or a restarted one. Replication
    // is asynchronous, so the new primary may lack writes that were delivered (or even acknowledged):
    // one node gives every room a new epoch and a new generation, and every client resumes with
    // `recovered: false` instead of trusting seq numbers the new primary may hand out again.
    const currentReplicationId = /master_replid:(\w+)/.exec(await redis.info('replication'))?.[1];
    if (replicationId !== undefined && currentReplicationId !== replicationId) {
      const lock = keys.failoverLock(currentReplicationId ?? '');
      if ((await redis.set(lock, nodeId, 'PX', 600_000, 'NX')) === 'OK') {
        try {
          const rooms = await renewEpochs(redis, keys);
          await redis.set(generationKey, randomUUID());
          logger.warn({ node: nodeId, rooms }, 'Redis primary changed; every room starts a new epoch');
        } catch (error) {
          // Let the next check (on this node or another) do it.
          await redis.del(lock).catch(() => undefined);
          throw error;
        }
      }
    }
    replicationId = currentReplicationId;
    await redis.set(generationKey, randomUUID(), 'NX');
    const current = await redis.get(generationKey);
    if (current === null) return;
    if (generation !== undefined && current !== generation) {
      logger.warn({ node: nodeId, connections: local.connections.size }, 'Redis lost its data; closing local connections so they resume');
      metrics.historyLost.inc();
      registry.forgetLocal();
      broker.forgetRooms();
      for (const connection of local.connections.values()) connection.close(CLOSE_CODES.serverError, 'state lost; resume');
    }
    generation = current;
  };
  // Checks in progress after a reconnect: until they end the node is not ready, so neither a load balancer
  // (readyz) nor a client is sent here only to be closed by the check a moment later.
  let generationChecks = 0;
  redis.on('ready', () => {
    // Reconnected: Redis may be another server now, or have lost its data.
    registry.forgetLocal();
    generationChecks += 1;
    checkGeneration()
      .catch((error: unknown) => logger.warn({ err: error }, 'generation check failed'))
      .finally(() => {
        generationChecks -= 1;
      });
  });
  // The subscriber missed whatever was published while it was away.
  subscriber.on('ready', () => broker.resync());

  return {
    registry,
    broker,
    presence,
    fanout,
    recordingLease: new RedisRecordingLease(redis, { prefix: keys.prefix, node: nodeId, ttlMs: Math.min(settings.nodeTtlMs, RECORDING_LEASE_MAX_MS) }),
    statusRecords: {
      async write(record, ttlMs) {
        await redis.set(`${keys.prefix}:admin:node:${nodeId}`, record, 'PX', ttlMs);
      },
      async readAll() {
        const nodes = await redis.smembers(nodesKey);
        if (nodes.length === 0) return [];
        const records = await redis.mget(nodes.map((node) => `${keys.prefix}:admin:node:${node}`));
        return records.filter((record): record is string => record !== null);
      },
    },
    isReady: () => redis.status === 'ready' && subscriber.status === 'ready' && generationChecks === 0,
    async start(disconnectConnection) {
      disconnect = disconnectConnection;
      await checkGeneration();
      await fanout.start();
      await heartbeat();
      const every = Math.max(100, Math.floor(settings.nodeTtlMs / 3));
      const guard = (task: () => Promise<void>, what: string) => () => {
        task().catch((error: unknown) => logger.warn({ err: error }, `${what} failed`));
      };
      timers = [setInterval(guard(heartbeat, 'heartbeat'), every), setInterval(guard(reap, 'reaper'), every)];
      for (const timer of timers) timer.unref();
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      // A node that stops cleanly leaves at once; its connections were closed by the drain.
      await redis.multi().del(aliveKey).srem(nodesKey, nodeId).exec().catch(() => undefined);
      redis.disconnect();
      subscriber.disconnect();
      if (logConnection !== redis) logConnection.disconnect();
    },
  };
}
