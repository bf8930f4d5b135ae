import { Classroom, Engine, type Authorizer, type HistoryArchive, RedisPresence, RedisRegistry, RedisRoomLog, redisKeys, type Logger, type RedisKeys } from '@classwire/core';
import { Redis, type RedisOptions } from 'ioredis';
import { ManagementApiBroker } from './broker.js';
import { RoomCoalescer } from './coalescer.js';
import { LambdaConfigError, type LambdaConfig } from './config.js';
import { FailoverGuard } from './failover.js';
import { ManagementApiFanOut } from './fanout.js';
import { RecordMarkingBroker } from './records-marker.js';

/** Everything one execution environment builds once and reuses while it is warm. */
export interface LambdaEngine {
  engine: Engine;
  registry: RedisRegistry;
  classroom: Classroom | undefined;
  fanout: ManagementApiFanOut;
  /** Undefined when coalescing is off (`CLASSWIRE_COALESCE_MS=0`). */
  coalescer: RoomCoalescer | undefined;
  /** The broker that posts messages to members (its `settle` awaits posts started before an ack). */
  posting: ManagementApiBroker;
  connections: ConnectionIndex;
  failover: FailoverGuard;
  redis: Redis;
  /** Sets the @connections endpoint for the event being handled (when none is configured). */
  useEndpoint(endpoint: string): void;
  close(): Promise<void>;
}

export interface LambdaEngineOptions {
  logger: Logger;
  /** A Redis client to use instead of connecting to `config.redis.url` (tests). */
  redis?: Redis;
  now?: () => number;
  /** Verifies in-band refresh tokens; without it refreshes are refused. */
  tokens?: Authorizer;
  /** History older than the live log (the class records, when the function has the database); none without. */
  archive?: HistoryArchive | undefined;
}

/**
 * Builds the engine for the Lambda runtime: core's Engine on the Redis stores (the same as the
 * self-hosted Redis engine), with PostToConnection as the fan-out and a broker that posts each message
 * to the room's members instead of publishing it. The only place the AWS runtime constructs an Engine.
 */
export function createLambdaEngine(config: LambdaConfig, options: LambdaEngineOptions): LambdaEngine {
  const { logger } = options;
  const redis = options.redis ?? connectRedis(config, logger);
  const keys = redisKeys(config.redis.prefix);
  const registry = new RedisRegistry(redis, { prefix: keys.prefix, recordTtlMs: config.recordTtlMs });
  const presence = new RedisPresence(redis, { prefix: keys.prefix, ttlMs: config.recordTtlMs });
  const roomLog = new RedisRoomLog(redis, {
    prefix: keys.prefix,
    // No node subscribes here: the broker posts to the members itself.
    pubsub: false,
    maxMessages: config.limits.historySize,
    maxAgeMs: config.limits.historyTtlMs,
    waitReplicas: config.redis.waitReplicas,
    waitTimeoutMs: config.redis.waitTimeoutMs,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  let endpoint = config.callbackUrl;
  const fanout = new ManagementApiFanOut({
    registry,
    endpoint: () => {
      if (endpoint === undefined) throw new LambdaConfigError('no @connections endpoint: set WS_CALLBACK_URL');
      return endpoint;
    },
    region: config.region,
    credentials: config.credentials,
    concurrency: config.fanoutConcurrency,
    goneGraceMs: config.goneGraceMs,
    logger,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  // No rate limiter: the port is per process and synchronous, and consecutive frames of one connection
  // land in different execution environments. API Gateway's stage throttling limits the API instead.
  const coalescer = config.coalesceMs > 0 ? new RoomCoalescer(redis, keys.prefix, fanout, config.coalesceMs, logger) : undefined;
  fanout.coalescer = coalescer;
  const posting = new ManagementApiBroker(roomLog, fanout, coalescer, logger);
  // With records on, each sequenced publish also marks its room for the scheduled recorder (records-lambda.ts).
  const broker = config.recordRooms ? new RecordMarkingBroker(posting, redis, keys.roomsToRecord()) : posting;
  // Cursor throttling in the classroom is per execution environment here: best effort, as cursors are.
  const classroom = config.classroom
    ? new Classroom({
        registry,
        broker,
        presence,
        fanout,
        maxFrameBytes: config.limits.maxFrameBytes,
        maxBoardBytes: config.limits.maxBoardBytes,
        boardRate: config.limits.boardRate,
        eventRate: config.limits.classEventRate,
        ...(options.now === undefined ? {} : { now: options.now }),
      })
    : undefined;
  const engine = new Engine({
    registry,
    broker,
    presence,
    fanout,
    classroom,
    maxFrameBytes: config.limits.maxFrameBytes,
    maxRoomsPerConnection: config.limits.maxRoomsPerConnection,
    roomJoinRate: config.limits.roomJoinRate,
    // With records on, first joins and last leaves go into the room log for attendance (docs/records.md).
    presenceInLog: config.recordRooms,
    // API Gateway bills every ping and pong: clients ping just often enough to stay inside its idle timeout.
    keepAliveMs: config.keepAliveMs,
    logger,
    tokens: options.tokens,
    archive: options.archive,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const connections = new ConnectionIndex(redis, keys);
  const failover = new FailoverGuard(redis, keys, logger, config.failoverCheckMs, options.now);
  fanout.onGone = async (connectionId) => {
    logger.info({ connectionId }, 'removing a connection that vanished without $disconnect');
    await engine.disconnect(connectionId);
    await connections.remove(connectionId);
  };
  return {
    engine,
    registry,
    classroom,
    fanout,
    coalescer,
    posting,
    connections,
    failover,
    redis,
    useEndpoint(value) {
      if (config.callbackUrl === undefined) endpoint = value;
    },
    async close() {
      fanout.destroy();
      if (options.redis === undefined) redis.disconnect();
    },
  };
}

/**
 * Connection ids by connect time (a sorted set), so the sweeper finds connections that outlived API
 * Gateway's 2-hour maximum without reading every record.
 */
export class ConnectionIndex {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    keys: RedisKeys,
  ) {
    this.key = keys.apigwConnections();
  }

  async add(connectionId: string, connectedAt: number): Promise<void> {
    await this.redis.zadd(this.key, connectedAt, connectionId);
  }

  async remove(connectionId: string): Promise<void> {
    await this.redis.zrem(this.key, connectionId);
  }

  /** Ids of connections that connected at or before `time`, oldest first, at most `limit`. */
  connectedBefore(time: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key, '-inf', time, 'LIMIT', 0, limit);
  }
}

function connectRedis(config: LambdaConfig, logger: Logger): Redis {
  const url = config.redis.url;
  if (url === undefined) throw new LambdaConfigError('CLASSWIRE_REDIS_URL is required by the connect, default, disconnect and sweep handlers');
  const options: RedisOptions = {
    commandTimeout: config.redis.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    // A thawed execution environment may hold a dead socket: commands wait (within the command timeout)
    // for the reconnect instead of failing at once.
    enableOfflineQueue: true,
    // After an ElastiCache failover the old primary's address may answer as a read-only replica until
    // DNS moves: reconnect and resend instead of failing writes.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
  };
  // rediss:// turns on TLS (ElastiCache in-transit encryption); the certificate is checked against the host.
  const redis = new Redis(url, options);
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis error'));
  return redis;
}
