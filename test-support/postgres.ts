import pg from 'pg';

/** The machine's Postgres (trust auth); each suite creates and drops its own database. */
export const POSTGRES = 'postgres://postgres@127.0.0.1:5432';

/** One statement on the `postgres` database (CREATE/DROP DATABASE): callers pass names they generated, never input. */
export async function postgresAdmin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
