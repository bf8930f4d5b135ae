import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openRecordsDb, type RecordsDb } from '../src/index.js';

/** The machine's Postgres (trust auth); each suite creates and drops its own database. */
const POSTGRES = 'postgres://postgres@127.0.0.1:5432';

export interface TestDatabase {
  records: RecordsDb;
  /** A connection URL for another client of the same database (Postgres only). */
  url(): Promise<string>;
  drop(): Promise<void>;
}

/** The two back ends every records suite runs against: the same schema, migrations and queries. */
export const BACKENDS = [
  { name: 'postgres', open: openPostgres },
  { name: 'pglite', open: openPGlite },
] as const;

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function openPostgres(): Promise<TestDatabase> {
  const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
  // The name is generated here (hex only): no input reaches this statement.
  await adminQuery(`CREATE DATABASE ${name}`);
  const records = await openRecordsDb({ url: `${POSTGRES}/${name}` });
  return {
    records,
    url: () => Promise.resolve(`${POSTGRES}/${name}`),
    drop: async () => {
      await records.close();
      await adminQuery(`DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

async function openPGlite(): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'classwire-records-'));
  const records = await openRecordsDb({ dataDir: dir });
  return {
    records,
    url: () => Promise.reject(new Error('an embedded PGlite database has no URL: it has a single connection')),
    drop: async () => {
      await records.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
