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
  const { db, description } = 'url' in target ? openPostgres(target.url) : await openPGlite(target.dataDir);
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    await db.destroy();
    throw new Error(`records migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
  return { db, description, close: () => db.destroy() };
}

function openPostgres(url: string): { db: Kysely<RecordsDatabase>; description: string } {
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    types: { getTypeParser: (oid, format) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) },
  });
  // An idle connection that the server closes (restart, failover) must not crash the process: the pool
  // drops it, and the next query opens a new one or fails into the recorder's retry.
  pool.on('error', () => undefined);
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
