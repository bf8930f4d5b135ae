import { RedisPresence, RedisRoomLog, parseEnv, redisKeys, type Logger } from '@classwire/core';
import {
  DEFAULT_IDLE_MS,
  RECORDS_ENV,
  RETENTION_ENV,
  RETENTION_INTERVAL_MS,
  Recorder,
  RecordsStore,
  WEBHOOK_ENV,
  WebhookDeadLetters,
  WebhookDispatcher,
  WebhookOutbox,
  createRecordsHandler,
  recordedAttendance,
  retentionCutoff,
  webhookSettings,
  type RecordsDb,
} from '@classwire/records';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { RequestAuthorizer } from './authorizer.js';
import { LambdaConfigError, loadLambdaConfig, type LambdaConfig } from './config.js';
import { DATABASE_ENV, databaseSource, lazyRecordsDb, secretReader } from './records-database.js';
import type { HttpApiEvent, HttpApiResult } from './events.js';
import { createLambdaLogger } from './handlers.js';
import { answerRecordsEvent, lambdaRecordsPrincipal, type NeutralRecordsHandler } from './records-api.js';

/**
 * The functions of records on AWS (docs/aws.md): `record` drains the Redis set of rooms
 * the publish handler marked (records-marker.ts) into the records database through the same Recorder
 * the gateway runs (then, with `CLASSWIRE_RECORDS_RETENTION_DAYS`, deletes old records at most once an
 * hour), and `dispatch` delivers the webhook outbox until nothing is due. Both are plain
 * functions of an EventBridge scheduled event; they stop before the invocation's time runs out.
 * `api` answers the records HTTP API (docs/records.md) behind an API Gateway HTTP API.
 */
export interface RecordsHandlers {
  record(event?: unknown, context?: LambdaContext): Promise<RecordRun>;
  dispatch(event?: unknown, context?: LambdaContext): Promise<DispatchRun>;
  /** One request of the records HTTP API (payload format 2.0; records-api.ts). */
  api(event: HttpApiEvent): Promise<HttpApiResult>;
  /** Releases Redis and the database pool (tests; Lambda just freezes). */
  close(): Promise<void>;
}

/** The part of the Lambda context these handlers read. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

export interface RecordRun {
  /** Rooms read and written (or found up to date). */
  recorded: number;
  /** Rooms whose recording failed: marked again for the next run. */
  failed: number;
  /** Rooms left marked because the time budget ended. */
  deferred: number;
  /**
   * Set when this run applied retention (`CLASSWIRE_RECORDS_RETENTION_DAYS`): `deleted`; `partial` (the
   * time budget ended first: the next run goes on); or `failed` (the next run tries again). Absent when
   * retention is off, another run applied it within the hour, or the time budget was spent.
   */
  retention?: 'deleted' | 'partial' | 'failed';
}

export interface DispatchRun {
  /** True when the run ended with nothing due; false when the time budget ended it. */
  idle: boolean;
}

export interface RecordsHandlerOptions {
  logger?: Logger;
  /** A Redis client to use instead of connecting (tests). */
  redis?: Redis;
  /** Reads a Secrets Manager secret's string: the database's and the JWT's (tests replace it). */
  readSecret?: (arn: string) => Promise<string>;
}

const env = z.object({
  ...DATABASE_ENV,
  ...RETENTION_ENV,
  ...WEBHOOK_ENV,
  // The records API's settings, as the gateway reads them.
  CLASSWIRE_RECORDS_KEEP_ERASED_MESSAGES: RECORDS_ENV.CLASSWIRE_RECORDS_KEEP_ERASED_MESSAGES,
  CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS: RECORDS_ENV.CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS,
});

/** Rooms taken from the set per `SPOP`. */
const RECORD_BATCH = 100;
/** Kept free at the end of an invocation: the run stops taking work this long before the timeout. */
const SAFETY_MS = 5_000;
/** Rooms recorded in one transaction: bounds a transaction's size and what one failure retries. */
const ROOMS_PER_TRANSACTION = 50;

/** The budget when no Lambda context is given (tests, a direct call). */
const DEFAULT_BUDGET_MS = 60_000;

export function createRecordsHandlers(environment: Record<string, string | undefined>, options: RecordsHandlerOptions = {}): RecordsHandlers {
  const config = loadLambdaConfig(environment);
  const e = parseEnv(env, environment, (problems) => new LambdaConfigError(problems));
  const problems: string[] = [];
  const hooks = webhookSettings(e, problems);
  if (problems.length > 0) throw new LambdaConfigError(problems);
  const source = databaseSource(e);
  if (source === undefined) throw new LambdaConfigError('the records functions need CLASSWIRE_DATABASE_URL or CLASSWIRE_DATABASE_SECRET_ARN');
  const logger = options.logger ?? createLambdaLogger(config, environment.AWS_LAMBDA_FUNCTION_NAME);
  const readSecret = options.readSecret ?? secretReader(config);
  const keys = redisKeys(config.redis.prefix);
  const retentionDays = e.CLASSWIRE_RECORDS_RETENTION_DAYS;
  // The metrics' one dimension: the function's name as Lambda sets it (one value per deployed function,
  // so two stacks in an account never mix), or the handler's name off Lambda.
  const recorderName = metricFunctionName(environment.AWS_LAMBDA_FUNCTION_NAME, 'records.record');
  const dispatcherName = metricFunctionName(environment.AWS_LAMBDA_FUNCTION_NAME, 'records.dispatch');

  const database = lazyRecordsDb(source, readSecret, 'migrate-and-write');
  const records = (): Promise<RecordsDb> => database.get();
  let redisClient: Redis | undefined;
  const redis = (): Redis => (redisClient ??= options.redis ?? connectRedis(config, logger));
  // The WebSocket authorizer's JWT checks and secret source (CLASSWIRE_JWT_SECRET / _SECRET_ARN / JWKS).
  const tokens = new RequestAuthorizer(config, logger, readSecret);
  const principal = lambdaRecordsPrincipal({ authorize: (token) => tokens.verify(token) }, logger);
  let recordsApi: NeutralRecordsHandler | undefined;
  const api = async (): Promise<NeutralRecordsHandler> => {
    if (recordsApi !== undefined) return recordsApi;
    const { db } = await records();
    const client = redis();
    const prefix = keys.prefix;
    const handler = createRecordsHandler({
      store: new RecordsStore(db),
      // Presence and the live log as the engine functions keep them in Redis.
      presence: new RedisPresence(client, { prefix, ttlMs: config.recordTtlMs }),
      broker: new RedisRoomLog(client, { prefix, pubsub: false, maxMessages: config.limits.historySize, maxAgeMs: config.limits.historyTtlMs }),
      keepErasedMessages: e.CLASSWIRE_RECORDS_KEEP_ERASED_MESSAGES,
      resumeGraceMs: e.CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS * 1000,
      // A redelivered letter is due at once; the dispatcher function's next run (within a minute) sends it.
      deadLetters: new WebhookDeadLetters(db),
      principal,
      logger,
    });
    recordsApi = handler;
    return handler;
  };

  return {
    async record(_event, context) {
      const deadline = Date.now() + budgetMs(context);
      const { db } = await records();
      const client = redis();
      const key = keys.roomsToRecord();
      const outbox = hooks && new WebhookOutbox(hooks.endpoints, recordedAttendance(), () => undefined);
      const store = new RecordsStore(db, { hook: outbox });
      const log = new RedisRoomLog(client, { prefix: keys.prefix, pubsub: false, maxMessages: config.limits.historySize, maxAgeMs: config.limits.historyTtlMs });
      // This run retries its failed rooms by marking them again: no timer of the recorder's may outlive it.
      const recorder = new Recorder({ store, broker: log, logger, retryFailures: false });
      const run: RecordRun = { recorded: 0, failed: 0, deferred: 0 };
      const failed: string[] = [];
      // Rooms with an open class are looked at on every run: a run that died after taking its rooms
      // from the set (before recording them) must not leave a class unrecorded until its next publish.
      let batch = [...new Set(await store.roomsWithOpenClasses())];
      for (;;) {
        // A room is taken out of the set before its log is read: a publish after that marks it again.
        const popped = await client.spop(key, RECORD_BATCH);
        batch = [...new Set([...batch, ...popped])];
        if (batch.length === 0) break;
        for (let index = 0; index < batch.length; index += ROOMS_PER_TRANSACTION) {
          if (Date.now() >= deadline) {
            const left = batch.slice(index);
            await client.sadd(key, ...left);
            run.deferred = left.length;
            break;
          }
          const rooms = batch.slice(index, index + ROOMS_PER_TRANSACTION);
          try {
            // One transaction for the lot (a fixed cost per transaction, not per room) ...
            await recorder.recordRooms(rooms);
            // Private messages are in each room's state (a marked room may have stored one); by id, so
            // reading a tail twice records nothing twice.
            for (const room of rooms) await recorder.recordPrivate(room);
            run.recorded += rooms.length;
          } catch {
            // ... and room by room when it fails, so one room the database refuses holds back only itself.
            for (const room of rooms) {
              try {
                await recorder.recordRoom(room);
                await recorder.recordPrivate(room);
                run.recorded += 1;
              } catch (error) {
                logger.warn({ err: error, room }, 'recording failed; the room stays marked for the next run');
                failed.push(room);
              }
            }
          }
        }
        if (run.deferred > 0) break;
        batch = [];
      }
      // Classes a first join started end once their room has stayed empty, as the gateway's idle sweep does.
      // A room that fails there is a failed room of this run (marked again; the next run's sweep ends its
      // class), and the sweep goes on with the others.
      if (Date.now() < deadline) {
        try {
          const sweep = await recorder.endIdleClasses(DEFAULT_IDLE_MS);
          // Each was logged by the recorder.
          failed.push(...sweep.failed);
        } catch (error) {
          logger.warn({ err: error }, 'ending idle classes failed; the next run retries');
        }
      }
      // A room that failed in its drain and again in the sweep is one failed room.
      const failedRooms = [...new Set(failed)];
      run.failed = failedRooms.length;
      if (failedRooms.length > 0) await client.sadd(key, ...failedRooms);
      // Retention after recording, and only with time left: it never costs a room its recording.
      if (retentionDays !== undefined && Date.now() < deadline) {
        const retention = await applyRetention(client, keys.recordsRetentionMark(), store, retentionDays, deadline, logger);
        if (retention !== undefined) run.retention = retention;
      }
      if (run.recorded + run.failed + run.deferred > 0 || run.retention !== undefined) logger.info({ ...run }, 'records run');
      reportRunMetrics(logger, recorderName, {
        RoomsRecorded: run.recorded,
        RoomsFailed: run.failed,
        RoomsDeferred: run.deferred,
        ...(run.retention === undefined ? {} : { RetentionFailed: run.retention === 'failed' ? 1 : 0 }),
      });
      return run;
    },

    async dispatch(_event, context) {
      if (hooks === undefined) return { idle: true };
      const { db } = await records();
      // Attempts still running at the deadline are aborted (their rows come due again after their
      // claim), so the budget leaves one attempt's timeout free.
      const budget = Math.max(0, budgetMs(context) - hooks.timeoutMs);
      const dispatcher = new WebhookDispatcher({ db, logger, ...hooks });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), budget);
      });
      try {
        const idle = await Promise.race([dispatcher.runUntilIdle().then(() => true), timedOut]);
        if (!idle) logger.info({ budgetMs: budget }, 'webhook dispatch stopped at its time budget; the next run continues');
        return { idle };
      } finally {
        clearTimeout(timer);
        await dispatcher.close();
        // After close: every attempt has settled, and those it aborted count nowhere (they come due again).
        const counts = dispatcher.counts();
        reportRunMetrics(logger, dispatcherName, { WebhooksDelivered: counts.delivered, WebhookAttemptsFailed: counts.failedAttempts, WebhooksDeadLettered: counts.deadLettered });
      }
    },

    api(event) {
      return answerRecordsEvent(event, api, logger);
    },

    async close() {
      recordsApi = undefined;
      await database.close();
      if (options.redis === undefined) redisClient?.disconnect();
      redisClient = undefined;
    },
  };
}

/**
 * Deletes the records older than `days` days at most once an hour across every concurrent run: the run
 * that sets the mark (`SET NX PX` one hour) deletes; the others find it set and skip. A delete that fails,
 * or that the run's deadline cuts short (a large backlog, in batches), removes the mark, so the next run
 * (a minute later) goes on rather than an hour later. Never throws.
 */
async function applyRetention(client: Redis, mark: string, store: RecordsStore, days: number, deadline: number, logger: Logger): Promise<'deleted' | 'partial' | 'failed' | undefined> {
  let marked: boolean;
  try {
    marked = (await client.set(mark, '1', 'PX', RETENTION_INTERVAL_MS, 'NX')) === 'OK';
  } catch (error) {
    logger.warn({ err: error }, 'records retention skipped: its Redis mark could not be set');
    return undefined;
  }
  if (!marked) return undefined;
  const before = retentionCutoff(days);
  let outcome: 'deleted' | 'partial' | 'failed';
  try {
    outcome = (await store.deleteOlderThan(before, { until: deadline })) ? 'deleted' : 'partial';
    logger.info({ retentionDays: days, before, outcome }, outcome === 'deleted' ? 'records retention ran' : 'records retention ran out of time; the next run goes on');
  } catch (error) {
    logger.warn({ err: error }, 'records retention failed; the next run tries again');
    outcome = 'failed';
  }
  if (outcome !== 'deleted') {
    await client.del(mark).catch((cause: unknown) => logger.warn({ err: cause }, 'the records retention mark could not be removed: retention waits for it to expire'));
  }
  return outcome;
}

/** The metrics of one scheduled run, by their CloudWatch names: counts, never a room or a user. */
type RunMetrics = Record<string, number>;

/** Lambda function names are at most 64 of these characters; anything else falls back to the handler's name. */
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function metricFunctionName(lambdaName: string | undefined, fallback: string): string {
  return lambdaName !== undefined && FUNCTION_NAME.test(lambdaName) ? lambdaName : fallback;
}

/**
 * One CloudWatch Embedded Metric Format line per scheduled run, the format `reportMetrics` in handlers.ts
 * uses for posts: CloudWatch makes the metrics (namespace `Classwire`, dimension `Function`) from the log
 * line with no API call, and the stack's alarms and dashboard read them. A quiet run logs its zeros too
 * (one line a minute): the graphs stay continuous, and a run that logged nothing is one that threw.
 */
function reportRunMetrics(logger: Logger, functionName: string, metrics: RunMetrics): void {
  logger.info(
    {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [{ Namespace: 'Classwire', Dimensions: [['Function']], Metrics: Object.keys(metrics).map((name) => ({ Name: name, Unit: 'Count' })) }],
      },
      Function: functionName,
      ...metrics,
    },
    'records metrics',
  );
}

function budgetMs(context: LambdaContext | undefined): number {
  return Math.max(0, (context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS) - SAFETY_MS);
}

function connectRedis(config: LambdaConfig, logger: Logger): Redis {
  if (config.redis.url === undefined) throw new LambdaConfigError('CLASSWIRE_REDIS_URL is required by the records functions');
  const redis = new Redis(config.redis.url, { commandTimeout: config.redis.commandTimeoutMs, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis error'));
  return redis;
}
