import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CompiledQuery, Kysely, PGliteDialect, PostgresDialect, sql, type DatabaseConnection } from 'kysely';
import { DEFAULT_MIGRATION_TABLE, Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { StoreUnavailableError } from '@classwire/core';
import * as records0001 from './migrations/0001-records.js';
import * as attendance0002 from './migrations/0002-attendance.js';
import * as webhooks0003 from './migrations/0003-webhooks.js';
import * as privateCounts0004 from './migrations/0004-private-counts.js';
import type { RecordsDatabase } from './schema.js';

/** Postgres type oid of int8 (bigint): seqs and ms timestamps fit a JS number exactly (< 2^53). */
const INT8_OID = 20;

/**
 * How long a Postgres connection may take to open (TCP, TLS, authentication): past it the query that
 * wanted it fails as unreachable (a records API request answers 503) instead of waiting on a host that
 * drops packets. pg's own default is to wait forever.
 */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * How long one statement may wait for its answer before the client gives up on it (pg's
 * `query_timeout`; it has none by default): a connection that went silent mid-query (a dead host or
 * network) fails the request instead of holding it. Far above any statement the records run (a batch
 * of rooms, a retention batch of 5,000 rows).
 */
export const QUERY_TIMEOUT_MS = 60_000;

/**
 * How much sooner than the client the server gives up on a statement: the client's timeout only stops
 * waiting, the statement would go on running on the server (holding its backend, its locks, CPU). So the
 * server cancels it first (`statement_timeout`, SQLSTATE 57014), early enough for the cancellation to
 * reach the client before the client's own timeout fires; the client's then only catches a server or
 * network that went silent.
 */
const SERVER_CANCEL_MARGIN_MS = 5_000;

/** The server-side bound of one statement: always below the client's (see `SERVER_CANCEL_MARGIN_MS`). */
export const STATEMENT_TIMEOUT_MS = QUERY_TIMEOUT_MS - SERVER_CANCEL_MARGIN_MS;

/** The migrations' own bound: a migration may rebuild a large table, so it gets longer than a query. */
const MIGRATION_QUERY_TIMEOUT_MS = 15 * 60_000;

/**
 * The time a session may sit inside a transaction between two statements before the server ends it
 * (`idle_in_transaction_session_timeout`, which closes the connection). The recorder reads the live log
 * (Redis, or the main thread) while its transaction holds the rooms' advisory locks: a read that never
 * returns, or a code path that leaves a transaction open, would otherwise hold those locks, and stop
 * every other writer of those rooms, for as long as the process lives. No legitimate pause between two
 * statements comes near a statement's own bound.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = QUERY_TIMEOUT_MS;

/** The bounds a pool applies to every statement and transaction of its connections. */
export interface StatementTimeouts {
  /** Server-side (`statement_timeout`); must be below `queryMs`. */
  statementMs: number;
  /** Client-side (pg's `query_timeout`). */
  queryMs: number;
  /** Server-side (`idle_in_transaction_session_timeout`). */
  idleInTransactionMs: number;
}

/** The records' pool. */
export const RECORDS_TIMEOUTS: StatementTimeouts = { statementMs: STATEMENT_TIMEOUT_MS, queryMs: QUERY_TIMEOUT_MS, idleInTransactionMs: IDLE_IN_TRANSACTION_TIMEOUT_MS };

/** The migrations' pool: their longer bound on both sides, kept in the same order. */
const MIGRATION_TIMEOUTS: StatementTimeouts = {
  statementMs: MIGRATION_QUERY_TIMEOUT_MS - SERVER_CANCEL_MARGIN_MS,
  queryMs: MIGRATION_QUERY_TIMEOUT_MS,
  idleInTransactionMs: IDLE_IN_TRANSACTION_TIMEOUT_MS,
};

/** Where the records live: a Postgres server, or an embedded PGlite persisted in a directory. */
export type DatabaseTarget = { url: string } | { dataDir: string };

export interface RecordsDb {
  db: Kysely<RecordsDatabase>;
  /** What the startup log names: the Postgres host/database, or the PGlite directory. */
  description: string;
  close(): Promise<void>;
}

/** The migrations in order; static imports so the bundle and the sources run the same list. */
const MIGRATIONS: Record<string, Migration> = { '0001-records': records0001, '0002-attendance': attendance0002, '0003-webhooks': webhooks0003, '0004-private-counts': privateCounts0004 };

const migrationProvider: MigrationProvider = { getMigrations: () => Promise.resolve(MIGRATIONS) };

/** The migration a schema must have applied for this code to read it: the last one it knows. */
const EXPECTED_MIGRATION = Object.keys(MIGRATIONS).at(-1)!;

/** Postgres's SQLSTATE for a relation that does not exist: here, a database nothing has migrated yet. */
const UNDEFINED_TABLE = '42P01';

/**
 * The records' schema is older than this code (or absent): a reader does not migrate, the records
 * functions do, so this is an outage of the records (`unavailable`, retry later), not a bug.
 */
export class RecordsSchemaNotMigratedError extends StoreUnavailableError {
  constructor(detail: string, options?: ErrorOptions) {
    super(`records schema is not migrated yet (${detail}); the records functions migrate it`, options);
  }
}

/**
 * Where a Postgres pool's server-side settings (the statement and idle-transaction bounds, read-only
 * sessions) come from.
 * - `connection-start` (a Postgres server reached directly): sent in each connection's startup message,
 *   so they cost no statement.
 * - `proxy` (behind AWS RDS Proxy, as the CDK stack deploys the records): RDS Proxy refuses a startup
 *   message that carries settings or `options` ("Feature not supported", SQLSTATE 0A000), and a `SET`
 *   pins the client's session to one database connection, which would undo the proxy's sharing. So the
 *   pool sends none, and the proxy's own `InitQuery` (`RECORDS_PROXY_INIT_QUERY`, set by the stack) gives
 *   every database connection the records' bounds. The migrations' pool alone sets its longer bound with a
 *   `SET` (its short-lived sessions may pin), and a reader's sessions are not read-only on the server.
 */
export type SessionSettings = 'connection-start' | 'proxy';

export interface OpenOptions {
  /** Default `connection-start`. */
  settings?: SessionSettings;
}

/** The statements that give a session `timeouts`' server-side bounds (whole milliseconds, checked by `openPostgres`). */
function serverBoundsSql(timeouts: StatementTimeouts): string {
  return `SET statement_timeout = ${timeouts.statementMs}; SET idle_in_transaction_session_timeout = ${timeouts.idleInTransactionMs}`;
}

/** What RDS Proxy runs on each database connection it opens: the records' bounds (`RECORDS_TIMEOUTS`). */
export const RECORDS_PROXY_INIT_QUERY = serverBoundsSql(RECORDS_TIMEOUTS);

/** Opens the database and brings its schema up to date (the same migrations on Postgres and PGlite). */
export async function openRecordsDb(target: DatabaseTarget, options: OpenOptions = {}): Promise<RecordsDb> {
  if ('dataDir' in target) {
    const { db, description } = await openPGlite(target.dataDir);
    await migrate(db);
    return { db, description, close: () => db.destroy() };
  }
  const settings = options.settings ?? 'connection-start';
  // On Postgres the migrations run on a pool of their own, with their longer query timeout.
  await migrate(openPostgres(target.url, MIGRATION_TIMEOUTS, { settings }).db, true);
  const { db, description } = openPostgres(target.url, RECORDS_TIMEOUTS, { settings });
  return { db, description, close: () => db.destroy() };
}

/**
 * Opens the records on a Postgres server to read them only (the engine's `$default` on AWS, which pages
 * `history` for every client): no migrations (the records functions run them), and every session
 * read-only on the server, so a write through this pool fails (SQLSTATE 25006). Fails with
 * `RecordsSchemaNotMigratedError` when the schema is behind this code. PGlite has no reader: it is the
 * gateway's embedded database, opened by the one process that also writes it.
 */
export async function openRecordsReader(target: { url: string }, options: OpenOptions = {}): Promise<RecordsDb> {
  const settings = options.settings ?? 'connection-start';
  const { db, description } = openPostgres(target.url, RECORDS_TIMEOUTS, { readOnly: true, settings });
  try {
    await verifyReadableSchema(db, settings === 'connection-start');
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { db, description, close: () => db.destroy() };
}

/** One round trip: the schema has this code's last migration, and (when asked) the session really is read-only. */
async function verifyReadableSchema(db: Kysely<RecordsDatabase>, readOnlySession: boolean): Promise<void> {
  let state: { migrated: boolean; readOnly: string } | undefined;
  try {
    const { rows } = await sql<{ migrated: boolean; readOnly: string }>`
      select exists (select 1 from ${sql.table(DEFAULT_MIGRATION_TABLE)} where name = ${EXPECTED_MIGRATION}) as migrated,
             current_setting('transaction_read_only') as "readOnly"`.execute(db);
    state = rows[0];
  } catch (error) {
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE) throw new RecordsSchemaNotMigratedError('no migration table', { cause: error });
    throw error;
  }
  if (state?.migrated !== true) throw new RecordsSchemaNotMigratedError(`${EXPECTED_MIGRATION} not applied`);
  // A connection URL with its own `options` parameter replaces the pool's (pg lets the URL win): refuse
  // to go on with sessions that can write rather than silently lose the guarantee. A configuration bug.
  if (readOnlySession && state.readOnly !== 'on') throw new Error('the records reader session is not read-only: does the database URL set its own `options`?');
}

/** Brings the schema up to date; destroys `db` on failure (thrown, the driver's error as the cause) and, when asked, after success. */
async function migrate(db: Kysely<RecordsDatabase>, destroyAfter = false): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    await db.destroy();
    throw new Error(`records migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
  if (destroyAfter) await db.destroy();
}

/** What a pool's sessions may do beyond its bounds, and where their settings come from. */
export interface SessionMode {
  /** Every transaction read-only on the server (`default_transaction_read_only`); `connection-start` only. */
  readOnly?: boolean;
  /** Default `connection-start`. */
  settings?: SessionSettings;
}

/** A pool on a Postgres server with the given bounds (exported for the tests, which pass small ones). */
export function openPostgres(url: string, timeouts: StatementTimeouts, mode: SessionMode = {}): { db: Kysely<RecordsDatabase>; description: string } {
  if (!(timeouts.statementMs > 0 && timeouts.statementMs < timeouts.queryMs)) {
    throw new RangeError(`the server's statement timeout (${timeouts.statementMs} ms) must be positive and below the client's (${timeouts.queryMs} ms)`);
  }
  // Whole milliseconds: behind a proxy they are written into a SET statement.
  if (!Number.isSafeInteger(timeouts.statementMs) || !Number.isSafeInteger(timeouts.idleInTransactionMs) || timeouts.idleInTransactionMs <= 0) {
    throw new RangeError('the server-side bounds must be positive whole milliseconds');
  }
  const behindProxy = mode.settings === 'proxy';
  // Behind the proxy its InitQuery sets the records' bounds; a pool with other bounds (the migrations')
  // sets its own on each new connection, before any query of the pool's.
  const ownBounds = behindProxy && (timeouts.statementMs !== RECORDS_TIMEOUTS.statementMs || timeouts.idleInTransactionMs !== RECORDS_TIMEOUTS.idleInTransactionMs);
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: timeouts.queryMs,
    ...(behindProxy
      ? {}
      : {
          // Sent with the connection's startup: they apply to every statement, with no extra round trip.
          statement_timeout: timeouts.statementMs,
          idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
          // pg has no field of its own for this one: it goes in the startup's `options`, as libpq's `-c`.
          ...(mode.readOnly === true ? { options: '-c default_transaction_read_only=on' } : {}),
        }),
    types: { getTypeParser: (oid, format) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) },
  });
  // An idle connection that the server closes (restart, failover) must not crash the process: the pool
  // drops it, and the next query opens a new one or fails into the recorder's retry.
  pool.on('error', () => undefined);
  // The pool listens only while a connection is idle: one lost while checked out (mid-query) would
  // emit an unheard 'error' and end the process. Its query fails all the same and reaches the caller.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const parsed = new URL(url);
  const onCreateConnection = ownBounds
    ? async (connection: DatabaseConnection): Promise<void> => {
        await connection.executeQuery(CompiledQuery.raw(serverBoundsSql(timeouts)));
      }
    : undefined;
  return { db: new Kysely({ dialect: new PostgresDialect({ pool, ...(onCreateConnection === undefined ? {} : { onCreateConnection }) }) }), description: `postgres ${parsed.host}${parsed.pathname}` };
}

async function openPGlite(dataDir: string): Promise<{ db: Kysely<RecordsDatabase>; description: string }> {
  await mkdir(dataDir, { recursive: true });
  // Imported here, not at the top: a deployment on Postgres only (the AWS records functions) neither
  // loads nor bundles the embedded database.
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create(dataDir, { parsers: { [INT8_OID]: Number } });
  return { db: new Kysely({ dialect: new PGliteDialect({ pglite }) }), description: `pglite ${resolve(dataDir)}` };
}
