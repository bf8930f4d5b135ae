import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTGRES, postgresAdmin } from '../../../test-support/postgres.js';
import { openRecordsDb, type RecordsDb } from '../src/index.js';

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

async function openPostgres(): Promise<TestDatabase> {
  const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
  // The name is generated here (hex only): no input reaches this statement.
  await postgresAdmin(`CREATE DATABASE ${name}`);
  const records = await openRecordsDb({ url: `${POSTGRES}/${name}` });
  return {
    records,
    url: () => Promise.resolve(`${POSTGRES}/${name}`),
    drop: async () => {
      await records.close();
      await postgresAdmin(`DROP DATABASE ${name} WITH (FORCE)`);
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
