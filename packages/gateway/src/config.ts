import { ConfigError, DEFAULTS, SHARED_ENV, classroomBudgets, envFlag, envInt, envList, parseEnv } from '@classwire/core';
import type { ClassroomBudgets } from '@classwire/core';
import { RECORDS_ENV, recordsSettings, type RecordsSettings } from '@classwire/records';
import { z } from 'zod';
import { TrustedProxies } from './trusted-proxies.js';

export { ConfigError };

/**
 * The gateway's settings: core's shared variables (`SHARED_ENV`, defaults in core's `DEFAULTS`) and the
 * gateway's own. README.md's configuration table mirrors both; `loadConfig` is the only place the
 * gateway fills in defaults.
 */
const env = z.object({
  ...SHARED_ENV,
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  ...RECORDS_ENV,
  PORT: envInt(0).max(65535).default(8080),
  HOST: z.string().min(1).optional(),
  CLASSWIRE_NODE_ID: z.string().min(1).optional(),
  CLASSWIRE_DEV_TOKENS: envFlag.default(false),
  CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: envFlag.default(false),
  CLASSWIRE_API_KEY: z.string().min(16, 'CLASSWIRE_API_KEY must be at least 16 characters').optional(),
  CLASSWIRE_ADMIN_KEY: z.string().min(16, 'CLASSWIRE_ADMIN_KEY must be at least 16 characters').optional(),
  CLASSWIRE_AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  CLASSWIRE_AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  CLASSWIRE_RATE_PER_SECOND: envInt(1).default(DEFAULTS.ratePerSecond),
  CLASSWIRE_RATE_BURST: envInt(1).default(DEFAULTS.rateBurst),
  CLASSWIRE_RATE_BYTES_PER_SECOND: envInt(1024).default(DEFAULTS.rateBytesPerSecond),
  CLASSWIRE_RATE_BYTES_BURST: envInt(1024).default(DEFAULTS.rateBytesBurst),
  CLASSWIRE_MAX_BUFFERED_BYTES: envInt(1024).default(1024 * 1024),
  CLASSWIRE_PING_INTERVAL_MS: envInt(100).default(25_000),
  CLASSWIRE_DRAIN_TIMEOUT_MS: envInt(0).default(5_000),
  CLASSWIRE_DRAIN_SPREAD_MS: envInt(0).max(600_000).default(DEFAULTS.drainSpreadMs),
  CLASSWIRE_STATIC_DIR: z.string().min(1).optional(),
  CLASSWIRE_REDIS_SENTINELS: envList.optional(),
  CLASSWIRE_REDIS_MASTER_NAME: z.string().min(1).default('mymaster'),
  CLASSWIRE_NODE_TTL_MS: envInt(300).default(15_000),
  CLASSWIRE_REDIS_APPEND_BATCH: envInt(1).max(1000).default(DEFAULTS.redisAppendBatch),
  CLASSWIRE_TRUSTED_PROXIES: envList.default([]),
  CLASSWIRE_OTEL_ENABLED: envFlag.default(false),
});

export interface GatewayConfig {
  port: number;
  host: string;
  logLevel: string;
  /** JSON lines for collectors, or human-readable lines (the default with `--dev`). */
  logFormat: 'json' | 'pretty';
  nodeId: string | undefined;
  wsPath: string;
  auth: {
    secret: string | undefined;
    jwksUrl: string | undefined;
    algorithms: string[] | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
  devTokens: boolean;
  /** The proxies whose X-Forwarded-For names the client (none by default). */
  trustedProxies: TrustedProxies;
  allowedOrigins: string[];
  /** Rooms are classrooms (docs/classroom.md); off: generic rooms only. */
  classroom: boolean;
  api: {
    key: string | undefined;
    awsCredentials: { accessKeyId: string; secretAccessKey: string } | undefined;
    /** Bearer key of the ops console (`/admin`); undefined turns the console off. */
    adminKey: string | undefined;
  };
  limits: ClassroomBudgets & {
    maxFrameBytes: number;
    ratePerSecond: number;
    rateBurst: number;
    rateBytesPerSecond: number;
    rateBytesBurst: number;
    maxConnectionsPerUser: number;
    maxRoomsPerConnection: number;
    maxBufferedBytes: number;
    historySize: number;
    historyTtlMs: number;
  };
  pingIntervalMs: number;
  drainTimeoutMs: number;
  /** The window a drain spreads its closes over (each client is told to wait its offset before reconnecting). */
  drainSpreadMs: number;
  /** OpenTelemetry spans for connect, join and publish (the SDK is loaded only then). */
  otelEnabled: boolean;
  /**
   * Directory of the web app served at `/`; undefined serves the gateway's bundled development console.
   * The `classwire` CLI defaults it to the classroom app's build.
   */
  staticDir: string | undefined;
  /** Class records (docs/records.md); undefined: nothing is recorded. */
  records: RecordsSettings | undefined;
  /** The Redis engine; undefined runs the in-memory engine (one node). */
  redis:
    | {
        url: string | undefined;
        sentinels: { host: string; port: number }[] | undefined;
        masterName: string;
        prefix: string;
        waitReplicas: number;
        waitTimeoutMs: number;
        commandTimeoutMs: number;
        nodeTtlMs: number;
        /** Most appends per Redis script call (`RedisRoomLog` `maxBatch`). */
        appendBatch: number;
      }
    | undefined;
}

/** Every variable the gateway reads, for the CLI's unknown-variable check. */
export const GATEWAY_ENV_NAMES: readonly string[] = Object.keys(env.shape);

export function loadConfig(source: Record<string, string | undefined> = process.env, overrides: { dev?: boolean } = {}): GatewayConfig {
  const e = parseEnv(env, source);
  const dev = overrides.dev === true;
  const devTokens = e.CLASSWIRE_DEV_TOKENS || dev;
  // Every contradiction is reported, so one run shows an operator all of them.
  const problems: string[] = [];
  if (e.CLASSWIRE_JWT_SECRET !== undefined && e.CLASSWIRE_JWKS_URL !== undefined) {
    problems.push('CLASSWIRE_JWT_SECRET, CLASSWIRE_JWKS_URL: set one, not both');
  }
  if (devTokens && e.CLASSWIRE_JWKS_URL !== undefined) {
    problems.push('CLASSWIRE_JWKS_URL: development tokens are signed with a secret; they cannot be used with a JWKS URL');
  }
  if (devTokens && e.CLASSWIRE_JWT_SECRET !== undefined && !e.CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET) {
    throw new ConfigError(
      'development tokens would be signed with CLASSWIRE_JWT_SECRET, so anyone reaching /dev/token could mint tokens your ' +
        'production verifies: unset CLASSWIRE_JWT_SECRET (a random secret is used) or set CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET=1',
    );
  }
  if (!devTokens && e.CLASSWIRE_JWT_SECRET === undefined && e.CLASSWIRE_JWKS_URL === undefined) {
    problems.push('CLASSWIRE_JWT_SECRET: set it or CLASSWIRE_JWKS_URL (or run with --dev for development tokens)');
  }
  const algorithms = e.CLASSWIRE_JWT_ALGORITHMS;
  if (algorithms !== undefined) {
    const symmetric = algorithms.filter((a) => a.startsWith('HS'));
    if (e.CLASSWIRE_JWKS_URL !== undefined && symmetric.length > 0) {
      problems.push(`CLASSWIRE_JWT_ALGORITHMS: a JWKS URL only verifies asymmetric algorithms, not ${symmetric.join(', ')}`);
    } else if (e.CLASSWIRE_JWKS_URL === undefined && symmetric.length < algorithms.length) {
      problems.push(`CLASSWIRE_JWT_ALGORITHMS: a secret only verifies HS256, HS384 or HS512, not ${algorithms.filter((a) => !a.startsWith('HS')).join(', ')}`);
    }
  }
  const awsId = e.CLASSWIRE_AWS_ACCESS_KEY_ID;
  const awsSecret = e.CLASSWIRE_AWS_SECRET_ACCESS_KEY;
  if ((awsId === undefined) !== (awsSecret === undefined)) {
    problems.push(`${awsId === undefined ? 'CLASSWIRE_AWS_ACCESS_KEY_ID' : 'CLASSWIRE_AWS_SECRET_ACCESS_KEY'}: set both CLASSWIRE_AWS_ACCESS_KEY_ID and CLASSWIRE_AWS_SECRET_ACCESS_KEY`);
  }
  if (e.CLASSWIRE_ADMIN_KEY !== undefined && e.CLASSWIRE_ADMIN_KEY === e.CLASSWIRE_API_KEY) {
    problems.push('CLASSWIRE_ADMIN_KEY: use a key of its own, not CLASSWIRE_API_KEY (backends hold that one)');
  }
  if (e.CLASSWIRE_REDIS_URL !== undefined && e.CLASSWIRE_REDIS_SENTINELS !== undefined) {
    problems.push('CLASSWIRE_REDIS_URL, CLASSWIRE_REDIS_SENTINELS: set one, not both');
  }
  const sentinels = e.CLASSWIRE_REDIS_SENTINELS?.flatMap((entry) => {
    const match = /^(.+):(\d+)$/.exec(entry);
    if (match === null || Number(match[2]) > 65535) {
      problems.push(`CLASSWIRE_REDIS_SENTINELS: "${entry}" is not host:port`);
      return [];
    }
    return [{ host: match[1]!, port: Number(match[2]) }];
  });
  if (problems.length > 0) throw new ConfigError(problems);
  const redis =
    e.CLASSWIRE_REDIS_URL === undefined && sentinels === undefined
      ? undefined
      : {
          url: e.CLASSWIRE_REDIS_URL,
          sentinels,
          masterName: e.CLASSWIRE_REDIS_MASTER_NAME,
          prefix: e.CLASSWIRE_REDIS_PREFIX,
          waitReplicas: e.CLASSWIRE_REDIS_WAIT_REPLICAS,
          waitTimeoutMs: e.CLASSWIRE_REDIS_WAIT_TIMEOUT_MS,
          commandTimeoutMs: e.CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS,
          nodeTtlMs: e.CLASSWIRE_NODE_TTL_MS,
          appendBatch: e.CLASSWIRE_REDIS_APPEND_BATCH,
        };
  return {
    redis,
    records: recordsSettings(e),
    port: e.PORT,
    // The token endpoint answers anyone who can reach it, so with it on the node stays on loopback unless HOST says otherwise.
    host: e.HOST ?? (devTokens ? '127.0.0.1' : '0.0.0.0'),
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (dev ? 'pretty' : 'json'),
    nodeId: e.CLASSWIRE_NODE_ID,
    wsPath: e.CLASSWIRE_WS_PATH,
    auth: {
      secret: e.CLASSWIRE_JWT_SECRET,
      jwksUrl: e.CLASSWIRE_JWKS_URL,
      algorithms: e.CLASSWIRE_JWT_ALGORITHMS,
      issuer: e.CLASSWIRE_JWT_ISSUER,
      audience: e.CLASSWIRE_JWT_AUDIENCE,
    },
    devTokens,
    trustedProxies: new TrustedProxies(e.CLASSWIRE_TRUSTED_PROXIES),
    allowedOrigins: e.CLASSWIRE_ALLOWED_ORIGINS,
    classroom: e.CLASSWIRE_CLASSROOM,
    api: {
      key: e.CLASSWIRE_API_KEY,
      awsCredentials: awsId !== undefined && awsSecret !== undefined ? { accessKeyId: awsId, secretAccessKey: awsSecret } : undefined,
      adminKey: e.CLASSWIRE_ADMIN_KEY,
    },
    limits: {
      maxFrameBytes: e.CLASSWIRE_MAX_FRAME_BYTES,
      ratePerSecond: e.CLASSWIRE_RATE_PER_SECOND,
      rateBurst: e.CLASSWIRE_RATE_BURST,
      rateBytesPerSecond: e.CLASSWIRE_RATE_BYTES_PER_SECOND,
      rateBytesBurst: e.CLASSWIRE_RATE_BYTES_BURST,
      maxConnectionsPerUser: e.CLASSWIRE_MAX_CONNECTIONS_PER_USER,
      maxRoomsPerConnection: e.CLASSWIRE_MAX_ROOMS_PER_CONNECTION,
      ...classroomBudgets(e),
      maxBufferedBytes: e.CLASSWIRE_MAX_BUFFERED_BYTES,
      historySize: e.CLASSWIRE_HISTORY_SIZE,
      historyTtlMs: e.CLASSWIRE_HISTORY_TTL_SECONDS * 1000,
    },
    pingIntervalMs: e.CLASSWIRE_PING_INTERVAL_MS,
    drainTimeoutMs: e.CLASSWIRE_DRAIN_TIMEOUT_MS,
    drainSpreadMs: e.CLASSWIRE_DRAIN_SPREAD_MS,
    otelEnabled: e.CLASSWIRE_OTEL_ENABLED,
    staticDir: e.CLASSWIRE_STATIC_DIR,
  };
}
