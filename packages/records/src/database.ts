import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
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

/** The migrations' own bound: a migration may rebuild a large table, so it gets longer than a query. */
const MIGRATION_QUERY_TIMEOUT_MS = 15 * 60_000;

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

/** Opens the database and brings its schema up to date (the same migrations on Postgres and PGlite). */
export async function openRecordsDb(target: DatabaseTarget): Promise<RecordsDb> {
  if ('dataDir' in target) {
    const { db, description } = await openPGlite(target.dataDir);
    await migrate(db);
    return { db, description, close: () => db.destroy() };
  }
  // On Postgres the migrations run on a pool of their own, with their longer query timeout.
  await migrate(openPostgres(target.url, MIGRATION_QUERY_TIMEOUT_MS).db, true);
  const { db, description } = openPostgres(target.url, QUERY_TIMEOUT_MS);
  return { db, description, close: () => db.destroy() };
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

function openPostgres(url: string, queryTimeoutMs: number): { db: Kysely<RecordsDatabase>; description: string } {
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeoutMs,
    types: { getTypeParser: (oid, format) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) },
  });
  // An idle connection that the server closes (restart, failover) must not crash the process: the pool
  // drops it, and the next query opens a new one or fails into the recorder's retry.
  pool.on('error', () => undefined);
  // The pool listens only while a connection is idle: one lost while checked out (mid-query) would
  // emit an unheard 'error' and end the process. Its query fails all the same and reaches the caller.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const parsed = new URL(url);
  return { db: new Kysely({ dialect: new PostgresDialect({ pool }) }), description: `postgres ${parsed.host}${parsed.pathname}` };
}

async function openPGlite(dataDir: string): Promise<{ db: Kysely<RecordsDatabase>; description: string }> {
  await mkdir(dataDir, { recursive: true });
  // Imported here, not at the top: a deployment on Postgres only (the AWS records functions) neither
  // loads nor bundles the embedded database.
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create(dataDir, { parsers: { [INT8_OID]: Number } });
  return { db: new Kysely({ dialect: new PGliteDialect({ pglite }) }), description: `pglite ${resolve(dataDir)}` };
}
