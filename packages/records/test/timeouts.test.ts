import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { POSTGRES, postgresAdmin } from '../../../test-support/postgres.js';
import { openPostgres, RECORDS_TIMEOUTS, type StatementTimeouts } from '../src/database.js';
import type { RecordsDatabase } from '../src/schema.js';
import { isStoreUnreachable } from '../src/index.js';
import { failure } from '../../../test-support/failure.js';

/** The records' pool bounds, made small enough for a test, on a real Postgres server. */
describe('records pool timeouts (Postgres)', () => {
  const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
  const url = `${POSTGRES}/${name}`;
  /** Another client of the same database: it watches the pool's backends and takes its locks. */
  const observer = new pg.Client({ connectionString: url });
  const pools: Kysely<RecordsDatabase>[] = [];
  const open = (timeouts: StatementTimeouts): Kysely<RecordsDatabase> => {
    const { db } = openPostgres(url, timeouts);
    pools.push(db);
    return db;
  };

  beforeAll(async () => {
    // The name is generated here (hex only): no input reaches this statement.
    await postgresAdmin(`CREATE DATABASE ${name}`);
    await observer.connect();
  });
  afterAll(async () => {
    for (const db of pools) await db.destroy();
    await observer.end();
    await postgresAdmin(`DROP DATABASE ${name} WITH (FORCE)`);
  });

  it('the server bound sits below the client bound, and a pool refuses bounds the other way round', () => {
    expect(RECORDS_TIMEOUTS.statementMs).toBeGreaterThan(0);
    expect(RECORDS_TIMEOUTS.statementMs).toBeLessThan(RECORDS_TIMEOUTS.queryMs);
    expect(() => openPostgres(url, { statementMs: 1_000, queryMs: 1_000, idleInTransactionMs: 1_000 })).toThrow(RangeError);
  });

  it('a statement past the server bound is cancelled by the server (57014), leaves no backend running it, and is not an outage', async () => {
    // The client would give up at 1 s; the server is to cancel at 200 ms, well before.
    const db = open({ statementMs: 200, queryMs: 1_000, idleInTransactionMs: 60_000 });
    const error = (await failure(() => sql`select pg_sleep(5) as slept`.execute(db))) as { code?: string };
    const running = async (): Promise<number> => {
      const { rows } = await observer.query<{ count: number }>(
        `select count(*)::int as count from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%pg_sleep(5) as slept%'`,
      );
      return rows[0]!.count;
    };
    await vi.waitFor(async () => expect(await running()).toBe(0), { timeout: 2_000, interval: 50 });
    // Only now the error: with the client's bound alone it is its "Query read timeout" and the backend
    // keeps sleeping, which is what the wait above catches.
    expect(error.code).toBe('57014');
    expect(isStoreUnreachable(error)).toBe(false);
    // The connection that ran it is still good.
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
  });

  it('a session left idle inside a transaction is ended by the server, its locks released, and the pool goes on', async () => {
    const db = open({ statementMs: 1_000, queryMs: 2_000, idleInTransactionMs: 200 });
    let resume!: () => void;
    const held = new Promise<void>((resolve) => (resume = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    // A code path that takes a room's lock and then waits on something that does not come back.
    const abandoned = db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(4242)`.execute(trx);
      locked();
      await held;
      await sql`select 1`.execute(trx);
    });
    const outcome = abandoned.then(
      () => 'committed',
      () => 'failed',
    );
    await lockTaken;
    const lockFree = async (): Promise<boolean> => {
      // Transaction-scoped, in its own statement: taken and let go at once when free.
      const { rows } = await observer.query<{ free: boolean }>('select pg_try_advisory_xact_lock(4242) as free');
      return rows[0]!.free;
    };
    await vi.waitFor(async () => expect(await lockFree()).toBe(true), { timeout: 5_000, interval: 50 });
    resume();
    expect(await outcome).toBe('failed');
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
  });
});
