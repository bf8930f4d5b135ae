import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis } from 'ioredis';
import { StoreUnavailableError } from '../ports.js';

/**
 * The Lua scripts, kept as .lua files next to this module (`src/redis/lua/` when run from source,
 * `dist/redis/lua/` once built: `scripts/copy-lua.mjs` copies them, as tsc does not).
 */
function lua(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

const roomCommon = lua('room-common');
const stateCommon = lua('state-common');
const appendCommon = lua('append-common');

/** Script sources by ioredis command name. Names are namespaced: the client may be shared. */
const SCRIPTS = {
  classwireRoomAppend: `${roomCommon}\n${stateCommon}\n${appendCommon}\n${lua('append')}`,
  classwireRoomAppendBatch: `${roomCommon}\n${stateCommon}\n${appendCommon}\n${lua('append-batch')}`,
  classwireRoomRead: `${roomCommon}\n${lua('read')}`,
  classwireStateUpdate: `${roomCommon}\n${stateCommon}\n${lua('state-update')}`,
  classwireStateRead: `${roomCommon}\n${lua('state-read')}`,
  classwirePresenceAdd: lua('presence-add'),
  classwirePresenceRemove: lua('presence-remove'),
  classwireRegistryAdd: lua('registry-add'),
  classwireRegistryReserve: lua('registry-reserve'),
  classwireRegistryJoin: lua('registry-join'),
  classwireRegistryExpiry: lua('registry-expiry'),
  classwireRegistryRemove: lua('registry-remove'),
  classwireRegistryAlive: lua('registry-alive'),
} as const;

export type ScriptName = keyof typeof SCRIPTS;
type ScriptArg = string | number;

/** A script command as ioredis defines it: `numkeys, ...keys, ...args` (numkeys passed per call). */
export type ScriptCommands = { [K in ScriptName]: (...args: ScriptArg[]) => Promise<unknown> };

const defined = new WeakSet<Redis>();

/**
 * Registers every script on the client with `defineCommand` (EVALSHA, falling back to EVAL on NOSCRIPT)
 * and returns the client typed with them.
 */
export function withScripts(redis: Redis): Redis & ScriptCommands {
  if (!defined.has(redis)) {
    for (const [name, source] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua: source });
    defined.add(redis);
  }
  return redis as Redis & ScriptCommands;
}

/**
 * Redis replies that mean "not now" rather than "wrong": loading, failover, a busy script, cluster
 * trouble, no memory. Any other reply error (a script bug, WRONGTYPE) is a bug and propagates as is.
 */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|BUSY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM|MISCONF|NOAUTH|WRONGPASS)\b/;

/**
 * Whether an error from ioredis means the store cannot be reached: everything except a reply error
 * (which is the server answering) outside the list above, and except a programming error in this process.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLY.test(error.message);
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return false;
  if (error instanceof ReferenceError) return false;
  // Connection closed, command timed out, stream not writeable (offline queue disabled), max retries
  // per request, ECONNREFUSED/ECONNRESET/ETIMEDOUT, cluster failures.
  return true;
}

/** Rethrows a connection or timeout error as StoreUnavailableError (cause attached); others unchanged. */
export function storeError(error: unknown, what: string): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`redis ${what} failed: ${detail}`, { cause: error });
}

/** Runs one store operation, mapping connection and timeout errors to StoreUnavailableError. */
export async function guarded<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw storeError(error, what);
  }
}

/** Executes a pipeline or MULTI; throws the first command error (mapped like `guarded`). */
export async function execAll(pipeline: ChainableCommander, what: string): Promise<unknown[]> {
  let results: [Error | null, unknown][] | null;
  try {
    results = await pipeline.exec();
  } catch (error) {
    throw storeError(error, what);
  }
  if (results === null) throw new StoreUnavailableError(`redis ${what} failed: transaction aborted`);
  const out: unknown[] = [];
  for (const [error, value] of results) {
    if (error !== null) throw storeError(error, what);
    out.push(value);
  }
  return out;
}

export function asString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  throw new TypeError(`unexpected redis reply: ${typeof value}`);
}

export function asStrings(value: unknown): string[] {
  if (!Array.isArray(value)) throw new TypeError(`unexpected redis reply: ${typeof value}`);
  return value.map(asString);
}
