import { ConfigError, DEFAULTS, SHARED_ENV, envFlag, envInt, envList, parseEnv } from '@classwire/core';
import { RECORDS_ENV, recordsSettings, type RecordsSettings } from '@classwire/records';
import { z } from 'zod';

export { ConfigError };

/**
 * The gateway's settings: core's shared variables (`SHARED_ENV`, defaults in core's `DEFAULTS`) and the
 * gateway's own. README.md's configuration table mirrors both; `loadConfig` is the only place the
 * gateway fills in defaults.
 */
const env = z.object({
  ...SHARED_ENV,
  ...RECORDS_ENV,
  PORT: envInt(0).max(65535).default(8080),
  HOST: z.string().min(1).optional(),
  CLASSWIRE_NODE_ID: z.string().min(1).optional(),
  CLASSWIRE_DEV_TOKENS: envFlag.default(false),
  CLASSWIRE_API_KEY: z.string().min(16, 'CLASSWIRE_API_KEY must be at least 16 characters').optional(),
  CLASSWIRE_AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  CLASSWIRE_AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  CLASSWIRE_RATE_PER_SECOND: envInt(1).default(DEFAULTS.ratePerSecond),
  CLASSWIRE_RATE_BURST: envInt(1).default(DEFAULTS.rateBurst),
  CLASSWIRE_MAX_BUFFERED_BYTES: envInt(1024).default(1024 * 1024),
  CLASSWIRE_PING_INTERVAL_MS: envInt(100).default(25_000),
  CLASSWIRE_DRAIN_TIMEOUT_MS: envInt(0).default(5_000),
  CLASSWIRE_STATIC_DIR: z.string().min(1).optional(),
  CLASSWIRE_REDIS_SENTINELS: envList.optional(),
  CLASSWIRE_REDIS_MASTER_NAME: z.string().min(1).default('mymaster'),
  CLASSWIRE_NODE_TTL_MS: envInt(300).default(15_000),
});

export interface GatewayConfig {
  port: number;
  host: string;
  logLevel: string;
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
  allowedOrigins: string[];
  /** Rooms are classrooms (docs/classroom.md); off: generic rooms only. */
  classroom: boolean;
  api: {
    key: string | undefined;
    awsCredentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  };
  limits: {
    maxFrameBytes: number;
    ratePerSecond: number;
    rateBurst: number;
    maxConnectionsPerUser: number;
    maxRoomsPerConnection: number;
    maxBufferedBytes: number;
    historySize: number;
    historyTtlMs: number;
  };
  pingIntervalMs: number;
  drainTimeoutMs: number;
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
      }
    | undefined;
}

export function loadConfig(source: Record<string, string | undefined> = process.env, overrides: { dev?: boolean } = {}): GatewayConfig {
  const e = parseEnv(env, source);
  const dev = overrides.dev === true;
  const devTokens = e.CLASSWIRE_DEV_TOKENS || dev;
  if (e.CLASSWIRE_JWT_SECRET !== undefined && e.CLASSWIRE_JWKS_URL !== undefined) {
    throw new ConfigError('set CLASSWIRE_JWT_SECRET or CLASSWIRE_JWKS_URL, not both');
  }
  if (devTokens && e.CLASSWIRE_JWKS_URL !== undefined) {
    throw new ConfigError('development tokens are signed with a secret; they cannot be used with CLASSWIRE_JWKS_URL');
  }
  if (!devTokens && e.CLASSWIRE_JWT_SECRET === undefined && e.CLASSWIRE_JWKS_URL === undefined) {
    throw new ConfigError('set CLASSWIRE_JWT_SECRET or CLASSWIRE_JWKS_URL (or run with --dev for development tokens)');
  }
  const awsId = e.CLASSWIRE_AWS_ACCESS_KEY_ID;
  const awsSecret = e.CLASSWIRE_AWS_SECRET_ACCESS_KEY;
  if ((awsId === undefined) !== (awsSecret === undefined)) {
    throw new ConfigError('set both CLASSWIRE_AWS_ACCESS_KEY_ID and CLASSWIRE_AWS_SECRET_ACCESS_KEY');
  }
  if (e.CLASSWIRE_REDIS_URL !== undefined && e.CLASSWIRE_REDIS_SENTINELS !== undefined) {
    throw new ConfigError('set CLASSWIRE_REDIS_URL or CLASSWIRE_REDIS_SENTINELS, not both');
  }
  const sentinels = e.CLASSWIRE_REDIS_SENTINELS?.map((entry) => {
    const match = /^(.+):(\d+)$/.exec(entry);
    if (match === null) throw new ConfigError(`CLASSWIRE_REDIS_SENTINELS: "${entry}" is not host:port`);
    return { host: match[1]!, port: Number(match[2]) };
  });
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
        };
  return {
    redis,
    records: recordsSettings(e),
    port: e.PORT,
    // Development mode answers token requests from anyone who can reach it, so it stays on loopback by default.
    host: e.HOST ?? (dev ? '127.0.0.1' : '0.0.0.0'),
    logLevel: e.LOG_LEVEL,
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
    allowedOrigins: e.CLASSWIRE_ALLOWED_ORIGINS,
    classroom: e.CLASSWIRE_CLASSROOM,
    api: {
      key: e.CLASSWIRE_API_KEY,
      awsCredentials: awsId !== undefined && awsSecret !== undefined ? { accessKeyId: awsId, secretAccessKey: awsSecret } : undefined,
    },
    limits: {
      maxFrameBytes: e.CLASSWIRE_MAX_FRAME_BYTES,
      ratePerSecond: e.CLASSWIRE_RATE_PER_SECOND,
      rateBurst: e.CLASSWIRE_RATE_BURST,
      maxConnectionsPerUser: e.CLASSWIRE_MAX_CONNECTIONS_PER_USER,
      maxRoomsPerConnection: e.CLASSWIRE_MAX_ROOMS_PER_CONNECTION,
      maxBufferedBytes: e.CLASSWIRE_MAX_BUFFERED_BYTES,
      historySize: e.CLASSWIRE_HISTORY_SIZE,
      historyTtlMs: e.CLASSWIRE_HISTORY_TTL_SECONDS * 1000,
    },
    pingIntervalMs: e.CLASSWIRE_PING_INTERVAL_MS,
    drainTimeoutMs: e.CLASSWIRE_DRAIN_TIMEOUT_MS,
    staticDir: e.CLASSWIRE_STATIC_DIR,
  };
}
