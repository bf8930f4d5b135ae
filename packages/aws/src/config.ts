import { ConfigError, DEFAULTS, SHARED_ENV, classroomBudgets, envFlag, envInt as int, parseEnv } from '@classwire/core';
import type { ClassroomBudgets } from '@classwire/core';
import { DEFAULT_LIMITS } from '@classwire/protocol';
import { z } from 'zod';

/**
 * Settings of the Lambda handlers, read from the function's environment: core's shared variables
 * (README.md) and the AWS-only ones (docs/aws.md).
 */

/** API Gateway closes a WebSocket after 10 minutes without a frame either way. */
export const API_GATEWAY_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
/** The keep-alive the AWS runtime advertises by default: 9 minutes, a minute inside the idle timeout. */
export const DEFAULT_KEEPALIVE_MS = 540_000;
/** The longest advertised keep-alive: a ping, its 10 s answer timeout and a late timer still fit in the idle timeout. */
export const MAX_KEEPALIVE_MS = API_GATEWAY_IDLE_TIMEOUT_MS - 30_000;
/** The shortest (the SDK ignores anything below 5 s). */
export const MIN_KEEPALIVE_MS = 5_000;

/** API Gateway closes every WebSocket after 2 hours. */
export const API_GATEWAY_MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

const env = z.object({
  ...SHARED_ENV,
  CLASSWIRE_JWT_SECRET_ARN: z.string().startsWith('arn:').optional(),
  WS_CALLBACK_URL: z.url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  // The stack sets its own name (CloudFormation allows up to 128 characters).
  CLASSWIRE_NODE_ID: z.string().min(1).max(128).default('apigw'),
  // API Gateway's frame limit: a larger setting could not be sent.
  CLASSWIRE_MAX_FRAME_BYTES: int(1024).max(DEFAULT_LIMITS.maxFrameBytes).default(DEFAULTS.maxFrameBytes),
  CLASSWIRE_FANOUT_CONCURRENCY: int(1).max(1000).default(50),
  CLASSWIRE_GONE_GRACE_MS: int(0).default(30_000),
  CLASSWIRE_MAX_CONNECTION_AGE_MS: int(1000).default(API_GATEWAY_MAX_CONNECTION_MS),
  CLASSWIRE_FAILOVER_CHECK_MS: int(0).default(5000),
  // Room messages published within this window leave as one batch post per member (0: one post per message).
  CLASSWIRE_COALESCE_MS: int(0).max(1000).default(50),
  CLASSWIRE_RECORD_ROOMS: envFlag.default(false),
  // The ping interval advertised to clients (joined, pong): inside API Gateway's 10-minute idle timeout,
  // with room for the SDK's 10 s answer timeout and a late timer.
  CLASSWIRE_KEEPALIVE_MS: int(MIN_KEEPALIVE_MS).max(MAX_KEEPALIVE_MS).default(DEFAULT_KEEPALIVE_MS),
});

/** Every variable the Lambda handlers read (the emulator passes `CLASSWIRE_*` on to them). */
export const LAMBDA_ENV_NAMES: readonly string[] = Object.keys(env.shape);

export interface LambdaConfig {
  logLevel: string;
  auth: {
    /** HS256 secret given directly (development and the emulator). */
    secret: string | undefined;
    /** Secrets Manager secret holding the HS256 secret (production): read once per execution environment. */
    secretArn: string | undefined;
    jwksUrl: string | undefined;
    algorithms: string[] | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
  redis: {
    url: string | undefined;
    prefix: string;
    commandTimeoutMs: number;
    waitReplicas: number;
    waitTimeoutMs: number;
  };
  /** The @connections endpoint; undefined derives `https://{domainName}/{stage}` from each event. */
  callbackUrl: string | undefined;
  region: string | undefined;
  /** Explicit credentials for the management API client; undefined uses the SDK's default chain. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** The registry's `node` of every connection (one name for the whole API). */
  nodeId: string;
  limits: ClassroomBudgets & {
    maxFrameBytes: number;
    maxConnectionsPerUser: number;
    maxRoomsPerConnection: number;
    historySize: number;
    historyTtlMs: number;
  };
  allowedOrigins: string[];
  /** Rooms are classrooms (docs/classroom.md), as on the self-hosted gateway; false: generic rooms. */
  classroom: boolean;
  /** PostToConnection calls in flight at once per broadcast. */
  fanoutConcurrency: number;
  /**
   * A 410 for a connection registered less than this long ago is not treated as stale: API Gateway
   * answers 410 until `$connect` has returned, and a broadcast may reach a connection still connecting.
   */
  goneGraceMs: number;
  /** Connections older than this are dead on API Gateway; the sweeper disconnects what `$disconnect` missed. */
  maxConnectionAgeMs: number;
  /** TTL of registry and presence entries: the 2-hour maximum plus time for the sweeper to run. */
  recordTtlMs: number;
  /** How often an execution environment checks whether the Redis primary changed. */
  failoverCheckMs: number;
  /** Room messages published within this many ms go to each member as one batch post; 0 posts each at once. */
  coalesceMs: number;
  /** Publishes mark their rooms for the scheduled recorder (the stack sets it when it has a database). */
  recordRooms: boolean;
  /** The ping interval clients are told to use (in `joined` and `pong`), ms. */
  keepAliveMs: number;
}

export class LambdaConfigError extends ConfigError {
  override readonly name = 'LambdaConfigError';
}

/** Margin over the maximum connection age before registry and presence keys expire on their own. */
const RECORD_TTL_MARGIN_MS = 15 * 60 * 1000;

export function loadLambdaConfig(source: Record<string, string | undefined>): LambdaConfig {
  const e = parseEnv(env, source, (message) => new LambdaConfigError(message));
  const jwtSources = [e.CLASSWIRE_JWT_SECRET, e.CLASSWIRE_JWT_SECRET_ARN, e.CLASSWIRE_JWKS_URL].filter((v) => v !== undefined);
  if (jwtSources.length > 1) {
    throw new LambdaConfigError('set one of CLASSWIRE_JWT_SECRET, CLASSWIRE_JWT_SECRET_ARN or CLASSWIRE_JWKS_URL');
  }
  if ((e.AWS_ACCESS_KEY_ID === undefined) !== (e.AWS_SECRET_ACCESS_KEY === undefined)) {
    throw new LambdaConfigError('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  return {
    logLevel: e.LOG_LEVEL,
    auth: {
      secret: e.CLASSWIRE_JWT_SECRET,
      secretArn: e.CLASSWIRE_JWT_SECRET_ARN,
      jwksUrl: e.CLASSWIRE_JWKS_URL,
      algorithms: e.CLASSWIRE_JWT_ALGORITHMS,
      issuer: e.CLASSWIRE_JWT_ISSUER,
      audience: e.CLASSWIRE_JWT_AUDIENCE,
    },
    redis: {
      url: e.CLASSWIRE_REDIS_URL,
      prefix: e.CLASSWIRE_REDIS_PREFIX,
      commandTimeoutMs: e.CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS,
      waitReplicas: e.CLASSWIRE_REDIS_WAIT_REPLICAS,
      waitTimeoutMs: e.CLASSWIRE_REDIS_WAIT_TIMEOUT_MS,
    },
    callbackUrl: e.WS_CALLBACK_URL?.replace(/\/+$/, ''),
    region: e.AWS_REGION,
    credentials:
      e.AWS_ACCESS_KEY_ID !== undefined && e.AWS_SECRET_ACCESS_KEY !== undefined
        ? {
            accessKeyId: e.AWS_ACCESS_KEY_ID,
            secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
            ...(e.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: e.AWS_SESSION_TOKEN }),
          }
        : undefined,
    nodeId: e.CLASSWIRE_NODE_ID,
    limits: {
      maxFrameBytes: e.CLASSWIRE_MAX_FRAME_BYTES,
      ...classroomBudgets(e),
      maxConnectionsPerUser: e.CLASSWIRE_MAX_CONNECTIONS_PER_USER,
      maxRoomsPerConnection: e.CLASSWIRE_MAX_ROOMS_PER_CONNECTION,
      historySize: e.CLASSWIRE_HISTORY_SIZE,
      historyTtlMs: e.CLASSWIRE_HISTORY_TTL_SECONDS * 1000,
    },
    allowedOrigins: e.CLASSWIRE_ALLOWED_ORIGINS,
    classroom: e.CLASSWIRE_CLASSROOM,
    fanoutConcurrency: e.CLASSWIRE_FANOUT_CONCURRENCY,
    goneGraceMs: e.CLASSWIRE_GONE_GRACE_MS,
    maxConnectionAgeMs: e.CLASSWIRE_MAX_CONNECTION_AGE_MS,
    recordTtlMs: e.CLASSWIRE_MAX_CONNECTION_AGE_MS + RECORD_TTL_MARGIN_MS,
    failoverCheckMs: e.CLASSWIRE_FAILOVER_CHECK_MS,
    coalesceMs: e.CLASSWIRE_COALESCE_MS,
    recordRooms: e.CLASSWIRE_RECORD_ROOMS,
    keepAliveMs: e.CLASSWIRE_KEEPALIVE_MS,
  };
}

/** The @connections endpoint for an event: the configured one, else `https://{domainName}/{stage}`. */
export function callbackUrlFor(config: Pick<LambdaConfig, 'callbackUrl'>, requestContext: { domainName: string; stage: string }): string {
  return config.callbackUrl ?? `https://${requestContext.domainName}/${requestContext.stage}`;
}
