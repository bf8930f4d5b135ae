import { z } from 'zod';
import { DEFAULTS } from './defaults.js';

/**
 * The environment variables every runtime reads with the same meaning, as one zod schema fragment. Each
 * runtime extends it with its own variables (`z.object({ ...SHARED_ENV, ... })`); README.md's
 * configuration table documents them.
 */

/** `1`, `true`, `yes` (on) or `0`, `false`, `no` (off). */
export const envFlag = z.enum(['0', '1', 'true', 'false', 'yes', 'no']).transform((v) => v === '1' || v === 'true' || v === 'yes');
export const envInt = (min: number) => z.coerce.number().int().min(min);
/** A comma-separated list; blanks are dropped. */
export const envList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

export const SHARED_ENV = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.logLevel),
  CLASSWIRE_JWT_SECRET: z.string().min(32, 'CLASSWIRE_JWT_SECRET must be at least 32 characters').optional(),
  CLASSWIRE_JWKS_URL: z.url().optional(),
  CLASSWIRE_JWT_ALGORITHMS: envList.optional(),
  CLASSWIRE_JWT_ISSUER: z.string().min(1).optional(),
  CLASSWIRE_JWT_AUDIENCE: z.string().min(1).optional(),
  CLASSWIRE_ALLOWED_ORIGINS: envList.default([]),
  CLASSWIRE_CLASSROOM: envFlag.default(DEFAULTS.classroom),
  CLASSWIRE_WS_PATH: z.string().startsWith('/').default(DEFAULTS.wsPath),
  CLASSWIRE_MAX_FRAME_BYTES: envInt(1024).default(DEFAULTS.maxFrameBytes),
  CLASSWIRE_MAX_CONNECTIONS_PER_USER: envInt(1).default(DEFAULTS.maxConnectionsPerUser),
  CLASSWIRE_MAX_ROOMS_PER_CONNECTION: envInt(1).default(DEFAULTS.maxRoomsPerConnection),
  CLASSWIRE_MAX_BOARD_BYTES: envInt(1024).default(DEFAULTS.maxBoardBytes),
  CLASSWIRE_HISTORY_SIZE: envInt(1).default(DEFAULTS.historySize),
  CLASSWIRE_HISTORY_TTL_SECONDS: envInt(1).default(DEFAULTS.historyTtlMs / 1000),
  CLASSWIRE_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'CLASSWIRE_REDIS_URL must start with redis:// or rediss://').optional(),
  CLASSWIRE_REDIS_PREFIX: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/).default(DEFAULTS.redisPrefix),
  CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: envInt(10).default(DEFAULTS.redisCommandTimeoutMs),
  CLASSWIRE_REDIS_WAIT_REPLICAS: envInt(0).default(DEFAULTS.redisWaitReplicas),
  CLASSWIRE_REDIS_WAIT_TIMEOUT_MS: envInt(1).default(DEFAULTS.redisWaitTimeoutMs),
};

/** A setting that is missing, malformed or contradicts another; the message names the variable. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

/**
 * Parses an environment with `schema`, unset and empty variables counting as absent. Throws the error
 * `fail` builds (a ConfigError unless given) from one message that names every bad variable.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined>,
  fail: (message: string) => Error = (message) => new ConfigError(message),
): z.output<S> {
  const defined = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(defined);
  if (!parsed.success) throw fail(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}
