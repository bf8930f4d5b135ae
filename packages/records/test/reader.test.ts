import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '@classwire/core';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES, postgresAdmin } from '../../../test-support/postgres.js';
import { isStoreUnreachable, openRecordsDb, openRecordsReader, RecordsSchemaNotMigratedError, RecordsStore, type RecordsDb } from '../src/index.js';
import { failure } from '../../../test-support/failure.js';

/** The tables of a database's `public` schema, as the server lists them. */
async function tablesOf(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`);
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

/** The read-only way into the records (the AWS `$default`'s history), on a real Postgres server. */
describe('openRecordsReader (Postgres)', () => {
  const opened: RecordsDb[] = [];
  const created: string[] = [];

  /** A fresh, empty database of this test's own. */
  const emptyDatabase = async (): Promise<string> => {
    const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
    // The name is generated here (hex only): no input reaches this statement.
    await postgresAdmin(`CREATE DATABASE ${name}`);
    created.push(name);
    return `${POSTGRES}/${name}`;
  };
  const track = (records: RecordsDb): RecordsDb => {
    opened.push(records);
    return records;
  };

  afterEach(async () => {
    for (const records of opened.splice(0)) await records.close();
    for (const name of created.splice(0)) await postgresAdmin(`DROP DATABASE ${name} WITH (FORCE)`);
  });

  it('reads a database the records side migrated and wrote', async () => {
    const url = await emptyDatabase();
    const writer = track(await openRecordsDb({ url }));
    await new RecordsStore(writer.db).record('r', 'e1', [], [{ seq: 1, ts: 1_000, event: 'note.add', data: { i: 1 }, from: { userId: 'ada', name: 'ADA', role: 'student' } }], 1_000);
    const reader = track(await openRecordsReader({ url }));
    expect(await new RecordsStore(reader.db).eventsBefore('r', 'e1', 2, 10)).toMatchObject([{ seq: 1, event: 'note.add', data: { i: 1 }, author_id: 'ada' }]);
  });

  it('every session of its pool is read-only on the server: a write fails with 25006, which is a bug, not an outage', async () => {
    const url = await emptyDatabase();
    track(await openRecordsDb({ url }));
    const reader = track(await openRecordsReader({ url }));
    const insert = () => reader.db.insertInto('record_cursors').values({ room: 'r', epoch: 'e1', seq: 1 }).execute();
    // Several at once: each on its own connection of the pool, all of them read-only.
    const errors = (await Promise.all([insert, insert, insert].map((run) => failure(run)))) as { code?: string }[];
    expect(errors.map((error) => error.code)).toEqual(['25006', '25006', '25006']);
    expect(isStoreUnreachable(errors[0])).toBe(false);
    // DDL too.
    expect(((await failure(() => sql`create table intruder (id int)`.execute(reader.db))) as { code?: string }).code).toBe('25006');
  });

  it('on a database nothing has migrated: fails as unavailable and creates nothing', async () => {
    const url = await emptyDatabase();
    const error = await failure(() => openRecordsReader({ url }));
    expect(error).toBeInstanceOf(RecordsSchemaNotMigratedError);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/records schema is not migrated yet/);
    expect(isStoreUnreachable(error)).toBe(true);
    expect(await tablesOf(url)).toEqual([]);
  });

  it('on a schema behind this code (its last migration not applied): fails as unavailable and migrates nothing', async () => {
    const url = await emptyDatabase();
    track(await openRecordsDb({ url }));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const last = await admin.query<{ name: string }>('select name from kysely_migration order by name desc limit 1');
    await admin.query('delete from kysely_migration where name = $1', [last.rows[0]!.name]);
    await admin.end();
    const error = await failure(() => openRecordsReader({ url }));
    expect(error).toBeInstanceOf(RecordsSchemaNotMigratedError);
    expect((error as Error).message).toContain(last.rows[0]!.name);
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    expect((await check.query('select 1 from kysely_migration where name = $1', [last.rows[0]!.name])).rowCount).toBe(0);
    await check.end();
  });

  it('refuses to go on when the URL replaces the read-only setting (pg lets the URL win)', async () => {
    const url = await emptyDatabase();
    track(await openRecordsDb({ url }));
    const error = await failure(() => openRecordsReader({ url: `${url}?options=${encodeURIComponent('-c search_path=public')}` }));
    expect((error as Error).message).toMatch(/not read-only/);
    expect(isStoreUnreachable(error)).toBe(false);
  });
});
