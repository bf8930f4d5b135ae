import { z } from 'zod';
import type { BoardRate } from '../classroom/board-budget.js';
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

/** The algorithms jose verifies; `none` is never accepted. */
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const jwtAlgorithmList = envList.pipe(
  z.array(z.enum(JWT_ALGORITHMS, { error: (issue) => `"${String(issue.input)}" is not one of ${JWT_ALGORITHMS.join(', ')}` })).min(1, 'name at least one algorithm'),
);

export const SHARED_ENV = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.logLevel),
  CLASSWIRE_JWT_SECRET: z.string().min(32, 'CLASSWIRE_JWT_SECRET must be at least 32 characters').optional(),
  CLASSWIRE_JWKS_URL: z.url().optional(),
  CLASSWIRE_JWT_ALGORITHMS: jwtAlgorithmList.optional(),
  CLASSWIRE_JWT_ISSUER: z.string().min(1).optional(),
  CLASSWIRE_JWT_AUDIENCE: z.string().min(1).optional(),
  CLASSWIRE_ALLOWED_ORIGINS: envList.default([]),
  CLASSWIRE_CLASSROOM: envFlag.default(DEFAULTS.classroom),
  CLASSWIRE_WS_PATH: z.string().startsWith('/').default(DEFAULTS.wsPath),
  CLASSWIRE_MAX_FRAME_BYTES: envInt(1024).default(DEFAULTS.maxFrameBytes),
  CLASSWIRE_MAX_CONNECTIONS_PER_USER: envInt(1).default(DEFAULTS.maxConnectionsPerUser),
  CLASSWIRE_MAX_ROOMS_PER_CONNECTION: envInt(1).default(DEFAULTS.maxRoomsPerConnection),
  CLASSWIRE_MAX_BOARD_BYTES: envInt(1024).default(DEFAULTS.maxBoardBytes),
  CLASSWIRE_BOARD_BYTES_PER_SECOND: envInt(1).default(DEFAULTS.boardBytesPerSecond),
  // At least the largest frame's worth, so that any single item fits the burst.
  CLASSWIRE_BOARD_BYTES_BURST: envInt(32 * 1024).default(DEFAULTS.boardBytesBurst),
  CLASSWIRE_BOARD_ITEMS_PER_SECOND: envInt(1).default(DEFAULTS.boardItemsPerSecond),
  CLASSWIRE_BOARD_ITEMS_BURST: envInt(1).default(DEFAULTS.boardItemsBurst),
  CLASSWIRE_ROOM_JOINS_PER_SECOND: envInt(1).default(DEFAULTS.roomJoinsPerSecond),
  CLASSWIRE_ROOM_JOIN_BURST: envInt(1).default(DEFAULTS.roomJoinBurst),
  CLASSWIRE_CLASS_EVENTS_PER_SECOND: envInt(1).default(DEFAULTS.classEventsPerSecond),
  CLASSWIRE_CLASS_EVENT_BURST: envInt(1).default(DEFAULTS.classEventBurst),
  CLASSWIRE_HISTORY_SIZE: envInt(1).default(DEFAULTS.historySize),
  CLASSWIRE_HISTORY_TTL_SECONDS: envInt(1).default(DEFAULTS.historyTtlMs / 1000),
  CLASSWIRE_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'CLASSWIRE_REDIS_URL must start with redis:// or rediss://').optional(),
  CLASSWIRE_REDIS_PREFIX: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/).default(DEFAULTS.redisPrefix),
  CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: envInt(10).default(DEFAULTS.redisCommandTimeoutMs),
  CLASSWIRE_REDIS_WAIT_REPLICAS: envInt(0).default(DEFAULTS.redisWaitReplicas),
  CLASSWIRE_REDIS_WAIT_TIMEOUT_MS: envInt(1).default(DEFAULTS.redisWaitTimeoutMs),
};

/** The shared variables once parsed (a runtime's parsed settings include them). */
export type SharedSettings = z.output<z.ZodObject<typeof SHARED_ENV>>;

/** The per-user classroom budgets (docs/security.md "Limits"), the same on every runtime. */
export interface ClassroomBudgets {
  maxBoardBytes: number;
  /** Per user on one node: strokes and shapes added per second (items and bytes), with bursts. */
  boardRate: BoardRate;
  /** Per user on one node: stored classroom events other than drawings, per second, and burst. */
  classEventRate: { perSecond: number; burst: number };
  /** Joins of one room per user on one node, per second, and burst. */
  roomJoinRate: { perSecond: number; burst: number };
}

export function classroomBudgets(e: SharedSettings): ClassroomBudgets {
  return {
    maxBoardBytes: e.CLASSWIRE_MAX_BOARD_BYTES,
    boardRate: {
      bytesPerSecond: e.CLASSWIRE_BOARD_BYTES_PER_SECOND,
      bytesBurst: e.CLASSWIRE_BOARD_BYTES_BURST,
      itemsPerSecond: e.CLASSWIRE_BOARD_ITEMS_PER_SECOND,
      itemsBurst: e.CLASSWIRE_BOARD_ITEMS_BURST,
    },
    classEventRate: { perSecond: e.CLASSWIRE_CLASS_EVENTS_PER_SECOND, burst: e.CLASSWIRE_CLASS_EVENT_BURST },
    roomJoinRate: { perSecond: e.CLASSWIRE_ROOM_JOINS_PER_SECOND, burst: e.CLASSWIRE_ROOM_JOIN_BURST },
  };
}

/**
 * Settings that are missing, malformed or contradict each other: one problem per bad variable, each
 * naming it, so an operator sees every mistake in one run.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('; '));
    this.problems = list;
  }
}

/**
 * Collects the problems of several loaders (each may throw a ConfigError) and throws them together;
 * returns the loaders' results when none failed.
 */
export function collectConfigProblems<T extends unknown[]>(...loaders: { [K in keyof T]: () => T[K] }): T {
  const problems: string[] = [];
  const results = loaders.map((load) => {
    try {
      return load();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.filter((problem) => !problems.includes(problem)));
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return results as T;
}

/** A `CLASSWIRE_*` variable no loader reads, and the known name closest to it when one is near. */
export interface UnknownVariable {
  name: string;
  closest: string | undefined;
}

/**
 * The `CLASSWIRE_*` variables of `source` that are not in `known`. A misspelt name would otherwise be
 * ignored silently (a node meant for Redis would run on memory).
 */
export function findUnknownVariables(source: Record<string, string | undefined>, known: Iterable<string>): UnknownVariable[] {
  const knownNames = [...new Set(known)];
  return Object.keys(source)
    .filter((name) => name.startsWith('CLASSWIRE_') && source[name] !== undefined && !knownNames.includes(name))
    .sort()
    .map((name) => ({ name, closest: closestName(name, knownNames) }));
}

/** The describing line of an unknown variable. */
export function describeUnknownVariable({ name, closest }: UnknownVariable): string {
  return `${name}: unknown variable${closest === undefined ? '' : ` (did you mean ${closest}?)`}`;
}

/** The candidate nearest to `name` by edit distance, if it is within a third of the name's length. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance with adjacent transpositions counted as one edit (REDSI → REDIS). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = distance;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * Parses an environment with `schema`, unset and empty variables counting as absent. Throws the error
 * `fail` builds (a ConfigError unless given) from one problem per bad variable, each naming it.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined>,
  fail: (problems: string[]) => Error = (problems) => new ConfigError(problems),
): z.output<S> {
  const defined = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(defined);
  if (!parsed.success) throw fail(parsed.error.issues.map(describeIssue));
  return parsed.data;
}

/** `VARIABLE: what is wrong`, naming the variable once even when the schema's message names it too. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const variable = String(issue.path[0] ?? '');
  const message = issue.message.startsWith(`${variable} `) ? issue.message.slice(variable.length + 1) : issue.message;
  return `${variable}: ${message}`;
}
