import { DEFAULT_LIMITS } from '@classwire/protocol';
import { z } from 'zod';
import { loadApiGatewayEmulatorConfig, type ApiGatewayEmulatorConfig } from './apigw-config.js';

/**
 * Every setting, its environment variable and its default. README.md's configuration table mirrors this
 * file; `loadConfig` is the only place defaults are filled in.
 */
const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const int = (min: number) => z.coerce.number().int().min(min);
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

const env = z.object({
  PORT: int(0).max(65535).default(8080),
  HOST: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CLASSWIRE_NODE_ID: z.string().min(1).optional(),
  CLASSWIRE_WS_PATH: z.string().startsWith('/').default('/ws'),
  CLASSWIRE_JWT_SECRET: z.string().min(32, 'CLASSWIRE_JWT_SECRET must be at least 32 characters').optional(),
  CLASSWIRE_JWKS_URL: z.url().optional(),
  CLASSWIRE_JWT_ALGORITHMS: list.optional(),
  CLASSWIRE_JWT_ISSUER: z.string().min(1).optional(),
  CLASSWIRE_JWT_AUDIENCE: z.string().min(1).optional(),
  CLASSWIRE_DEV_TOKENS: flag.default(false),
  CLASSWIRE_ALLOWED_ORIGINS: list.default([]),
  CLASSWIRE_CLASSROOM: flag.default(true),
  CLASSWIRE_API_KEY: z.string().min(16, 'CLASSWIRE_API_KEY must be at least 16 characters').optional(),
  CLASSWIRE_AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  CLASSWIRE_AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  CLASSWIRE_MAX_FRAME_BYTES: int(1024).default(DEFAULT_LIMITS.maxFrameBytes),
  CLASSWIRE_RATE_PER_SECOND: int(1).default(50),
  CLASSWIRE_RATE_BURST: int(1).default(100),
  CLASSWIRE_MAX_CONNECTIONS_PER_USER: int(1).default(10),
  CLASSWIRE_MAX_ROOMS_PER_CONNECTION: int(1).default(50),
  CLASSWIRE_MAX_BUFFERED_BYTES: int(1024).default(1024 * 1024),
  CLASSWIRE_HISTORY_SIZE: int(1).default(500),
  CLASSWIRE_HISTORY_TTL_SECONDS: int(1).default(600),
  CLASSWIRE_PING_INTERVAL_MS: int(100).default(25_000),
  CLASSWIRE_DRAIN_TIMEOUT_MS: int(0).default(5_000),
  CLASSWIRE_STATIC_DIR: z.string().min(1).optional(),
  CLASSWIRE_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'CLASSWIRE_REDIS_URL must start with redis:// or rediss://').optional(),
  CLASSWIRE_REDIS_SENTINELS: list.optional(),
  CLASSWIRE_REDIS_MASTER_NAME: z.string().min(1).default('mymaster'),
  CLASSWIRE_REDIS_PREFIX: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/).default('cw'),
  CLASSWIRE_REDIS_WAIT_REPLICAS: int(0).default(0),
  CLASSWIRE_REDIS_WAIT_TIMEOUT_MS: int(1).default(1000),
  CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: int(10).default(2000),
  CLASSWIRE_NODE_TTL_MS: int(300).default(15_000),
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
  /** Directory of the web app served at `/`; undefined serves the bundled page. */
  staticDir: string | undefined;
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
  /** API Gateway emulation mode (the Lambda handlers behind an emulated API); undefined runs the gateway. */
  apigw: ApiGatewayEmulatorConfig | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(source: Record<string, string | undefined> = process.env, overrides: { dev?: boolean } = {}): GatewayConfig {
  const parsed = env.safeParse(
    Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== '' )),
  );
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  }
  const e = parsed.data;
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
  let apigw: ApiGatewayEmulatorConfig | undefined;
  try {
    apigw = loadApiGatewayEmulatorConfig(source);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return {
    redis,
    apigw,
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
