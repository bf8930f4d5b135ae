import { checkConnect, parseEnv, StoreUnavailableError, type Logger } from '@classwire/core';
import { ERROR_CODES, ProtocolError, type ErrorCode } from '@classwire/protocol';
import type { Redis } from 'ioredis';
import { pino, type DestinationStream } from 'pino';
import { RequestAuthorizer, claimsFromContext } from './authorizer.js';
import { callbackUrlFor, LambdaConfigError, loadLambdaConfig, type LambdaConfig } from './config.js';
import { createLambdaEngine, type LambdaEngine } from './engine.js';
import type { AuthorizerResult, RequestAuthorizerEvent, WebSocketEvent, WebSocketResult } from './events.js';
import type { FanOutStats } from './fanout.js';
import { DATABASE_ENV, databaseSource, lambdaArchive, lazyRecordsDb, secretReader } from './records-database.js';
import { z } from 'zod';

/** The Lambda entry points. Each function of the deployment uses one of them. */
export interface ClasswireHandlers {
  /** REQUEST authorizer of `$connect`. */
  authorizer(event: RequestAuthorizerEvent): Promise<AuthorizerResult>;
  /** `$connect`: registers the connection (and its `?room=`) with the authorizer's claims. */
  connect(event: WebSocketEvent): Promise<WebSocketResult>;
  /** `$disconnect` (best effort on API Gateway: the sweeper and 410s catch what it misses). */
  disconnect(event: WebSocketEvent): Promise<WebSocketResult>;
  /** `$default`: every protocol frame. */
  message(event: WebSocketEvent): Promise<WebSocketResult>;
  /** Scheduled: disconnects connections older than API Gateway's 2-hour maximum. */
  sweep(): Promise<{ disconnected: number }>;
  /** Releases Redis and HTTP clients (tests and the emulator; Lambda just freezes). */
  close(): Promise<void>;
}

export interface HandlerOptions {
  logger?: Logger;
  /** Use this Redis client instead of connecting (tests). */
  redis?: Redis;
  now?: () => number;
  /** Reads a Secrets Manager secret's string: the records database's (tests replace it). */
  readSecret?: (arn: string) => Promise<string>;
}

const databaseEnv = z.object(DATABASE_ENV);

/** Connections the sweeper handles per run; the rest wait for the next run. */
const SWEEP_BATCH = 1000;

/**
 * Builds the handlers from a function environment (`process.env` on Lambda; the emulator passes one
 * per function). Nothing connects until a handler that needs it runs: the authorizer never opens Redis.
 */
export function createHandlers(environment: Record<string, string | undefined>, options: HandlerOptions = {}): ClasswireHandlers {
  const config = loadLambdaConfig(environment);
  const logger = options.logger ?? createLambdaLogger(config, environment.AWS_LAMBDA_FUNCTION_NAME);
  const now = options.now ?? Date.now;
  // With the records database (the records functions' variables), history reaches past the live log:
  // read only, since this function parses every client's frames; the records functions migrate and write.
  const source = databaseSource(parseEnv(databaseEnv, environment, (problems) => new LambdaConfigError(problems)));
  const database = source === undefined ? undefined : lazyRecordsDb(source, options.readSecret ?? secretReader(config), 'read-only');
  let runtime: LambdaEngine | undefined;
  let authorizer: RequestAuthorizer | undefined;
  const verifier = (): RequestAuthorizer => (authorizer ??= new RequestAuthorizer(config, logger));
  // `$default` verifies in-band refresh tokens as the authorizer verifies `$connect`'s.
  const tokens = { authorize: (token: string) => verifier().verify(token) };
  const engine = async (event?: WebSocketEvent): Promise<LambdaEngine> => {
    runtime ??= createLambdaEngine(config, { logger, tokens, archive: database && lambdaArchive(database), ...(options.redis === undefined ? {} : { redis: options.redis }), ...(options.now === undefined ? {} : { now: options.now }) });
    if (event !== undefined) runtime.useEndpoint(callbackUrlFor(config, event.requestContext));
    await runtime.failover.check();
    return runtime;
  };
  /** Removes stale connections found while handling, then reports this invocation's posts. */
  const finish = async (lambda: LambdaEngine, route: string) => {
    // Posts that left after the ack (a leader's coalesced ones, a message without echo) first: they may
    // find stale connections too.
    await lambda.coalescer?.settle();
    await lambda.posting.settle();
    await lambda.fanout.removeStale();
    reportMetrics(logger, config, route, lambda.fanout.takeStats());
  };

  return {
    async authorizer(event) {
      return verifier().authorize(event);
    },

    async connect(event) {
      const context = event.requestContext;
      const claims = claimsFromContext(context.authorizer);
      if (claims === undefined) {
        logger.error({ connectionId: context.connectionId }, '$connect without the authorizer context: is the authorizer attached to $connect?');
        return refuse('internal', 'internal error');
      }
      const lambda = await engine(event);
      let reserved = false;
      try {
        // The same checks as the gateway's upgrade (core's checkConnect), the token having been verified by the authorizer.
        const decision = await checkConnect(
          { connectionId: context.connectionId, identity: { claims }, origin: headerValue(event.headers, 'origin'), room: event.queryStringParameters?.room },
          { allowedOrigins: config.allowedOrigins, maxConnectionsPerUser: config.limits.maxConnectionsPerUser, registry: lambda.registry, classroom: lambda.classroom },
        );
        if (!decision.allowed) return refuse(decision.code, decision.message);
        reserved = true;
        const { room } = decision;
        const connectedAt = context.connectedAt;
        // Nothing may be posted to this connection before this handler returns (API Gateway answers 410).
        await lambda.engine.connect(
          {
            connectionId: context.connectionId,
            userId: claims.userId,
            name: claims.name,
            role: claims.role,
            rooms: claims.rooms,
            expiresAt: claims.expiresAt,
            connectedAt,
            node: config.nodeId,
          },
          room,
        );
        await lambda.connections.add(context.connectionId, connectedAt);
        return { statusCode: 200 };
      } catch (error) {
        // Refused after its slot was reserved: the connection will not exist, so the slot is freed.
        if (reserved) {
          // Unfreed, the reservation lapses by itself (SLOT_RESERVATION_MS).
          await lambda.registry.releaseSlot(claims.userId, context.connectionId).catch((releaseError: unknown) => logger.warn({ err: releaseError }, 'slot release failed'));
        }
        // The classroom's join rule, when the class changed since checkConnect read it.
        if (error instanceof ProtocolError) return refuse('forbidden', error.message);
        // Redis unreachable: the client should retry later (503), as the gateway's upgrade answers.
        if (error instanceof StoreUnavailableError) {
          logger.warn({ err: error, connectionId: context.connectionId }, '$connect refused: store unavailable');
          return refuse('unavailable', 'the store is unavailable; retry later');
        }
        logger.error({ err: error, connectionId: context.connectionId }, '$connect failed');
        return refuse('internal', 'could not register the connection');
      } finally {
        await finish(lambda, '$connect');
      }
    },

    async disconnect(event) {
      const lambda = await engine(event);
      const { connectionId } = event.requestContext;
      try {
        await lambda.engine.disconnect(connectionId);
        await lambda.connections.remove(connectionId);
      } finally {
        await finish(lambda, '$disconnect');
      }
      return { statusCode: 200 };
    },

    async message(event) {
      const lambda = await engine(event);
      try {
        // handleFrame never throws: refusals and store failures become error frames to the sender.
        await lambda.engine.handleFrame(event.requestContext.connectionId, event.body ?? '');
      } finally {
        await finish(lambda, '$default');
      }
      return { statusCode: 200 };
    },

    async sweep() {
      const lambda = await engine();
      const expired = await lambda.connections.connectedBefore(now() - config.maxConnectionAgeMs, SWEEP_BATCH);
      try {
        for (const connectionId of expired) {
          await lambda.engine.disconnect(connectionId);
          await lambda.connections.remove(connectionId);
        }
      } finally {
        await finish(lambda, 'sweep');
      }
      if (expired.length > 0) logger.info({ disconnected: expired.length }, 'swept connections older than the 2-hour maximum');
      return { disconnected: expired.length };
    },

    async close() {
      await runtime?.close();
      await database?.close();
    },
  };
}

/** `destination`: where the JSON lines go instead of stdout (tests read the lines CloudWatch would get). */
export function createLambdaLogger(config: Pick<LambdaConfig, 'logLevel'>, functionName: string | undefined, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'classwire', ...(functionName === undefined ? {} : { function: functionName }) },
    redact: { paths: ['token', '*.token', 'headers.Authorization', 'headers.authorization'], censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * One CloudWatch Embedded Metric Format line per invocation that posted: CloudWatch turns it into
 * metrics (namespace `Classwire`) with no API call. The dashboard graphs them.
 */
function reportMetrics(logger: Logger, config: LambdaConfig, route: string, stats: FanOutStats): void {
  if (stats.posts + stats.gone + stats.failed === 0) return;
  logger.info(
    {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: 'Classwire',
            Dimensions: [['Node']],
            Metrics: [
              { Name: 'Posts', Unit: 'Count' },
              { Name: 'BilledMessageUnits', Unit: 'Count' },
              { Name: 'GonePosts', Unit: 'Count' },
              { Name: 'FailedPosts', Unit: 'Count' },
              { Name: 'StaleRemoved', Unit: 'Count' },
            ],
          },
        ],
      },
      Node: config.nodeId,
      route,
      Posts: stats.posts,
      BilledMessageUnits: stats.billedUnits,
      GonePosts: stats.gone,
      FailedPosts: stats.failed,
      StaleRemoved: stats.staleRemoved,
    },
    'fan-out',
  );
}

function refuse(code: ErrorCode, message: string): WebSocketResult {
  return { statusCode: ERROR_CODES[code].httpStatus, body: JSON.stringify({ code, message }), headers: { 'content-type': 'application/json' } };
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}
