import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES, postgresAdmin } from '../../../test-support/postgres.js';
import { openPostgres, openRecordsDb, openRecordsReader, RECORDS_PROXY_INIT_QUERY, RECORDS_TIMEOUTS, type RecordsDb } from '../src/database.js';

/** The session settings RDS Proxy refuses in a connection's startup message ("Feature not supported", 0A000). */
const REFUSED_AT_STARTUP = ['options', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'default_transaction_read_only'];
const SSL_REQUEST_CODE = 80_877_103;

/**
 * A stand-in for RDS Proxy's check of the startup message (AWS itself cannot run here): a TCP relay to the
 * real Postgres that answers SSLRequest with "no" and refuses a startup message carrying a session setting,
 * as RDS Proxy does, with a FATAL 0A000 ErrorResponse. Everything else passes through unchanged.
 */
function startupCheckingRelay(target: { host: string; port: number }): Promise<{ server: Server; port: number; refused: string[] }> {
  const refused: string[] = [];
  const server = createServer((client: Socket) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 8) return;
      const length = buffered.readInt32BE(0);
      if (buffered.length < length) return;
      if (length === 8 && buffered.readInt32BE(4) === SSL_REQUEST_CODE) {
        buffered = buffered.subarray(8);
        client.write('N');
        if (buffered.length > 0) onData(Buffer.alloc(0));
        return;
      }
      client.off('data', onData);
      const fields = buffered.subarray(8, length).toString('utf8').split('\0');
      const names = fields.filter((_, index) => index % 2 === 0 && fields[index] !== '');
      const setting = names.find((name) => REFUSED_AT_STARTUP.includes(name));
      if (setting !== undefined) {
        refused.push(setting);
        const body = Buffer.from(`SFATAL\0VFATAL\0C0A000\0MFeature not supported: RDS Proxy currently doesn't support the option ${setting}.\0\0`, 'utf8');
        const header = Buffer.alloc(5);
        header.write('E', 0);
        header.writeInt32BE(body.length + 4, 1);
        client.end(Buffer.concat([header, body]));
        return;
      }
      const upstream = connect(target.port, target.host, () => {
        upstream.write(buffered);
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, refused })));
}

describe('the records behind a proxy that refuses startup settings (a stand-in for RDS Proxy)', () => {
  const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
  const postgres = new URL(POSTGRES);
  let relay: { server: Server; port: number; refused: string[] };
  let viaRelay: string;
  const opened: RecordsDb[] = [];

  beforeAll(async () => {
    // The name is generated here (hex only): no input reaches this statement.
    await postgresAdmin(`CREATE DATABASE ${name}`);
    relay = await startupCheckingRelay({ host: postgres.hostname, port: Number(postgres.port) });
    viaRelay = `postgres://${postgres.username}@127.0.0.1:${relay.port}/${name}`;
  });
  afterAll(async () => {
    for (const db of opened) await db.close();
    await new Promise((resolve) => relay.server.close(resolve));
    await postgresAdmin(`DROP DATABASE ${name} WITH (FORCE)`);
  });

  it('settings sent at connection start are refused there (what the stack must not do)', async () => {
    const error = await openRecordsDb({ url: viaRelay }).then(
      () => undefined,
      (failure: unknown) => failure as { cause?: { code?: string } },
    );
    // The migrations' pool is the first to connect; its failure carries the server's answer as the cause.
    expect(error?.cause?.code).toBe('0A000');
    expect(relay.refused).toContain('statement_timeout');
  });

  it('in proxy mode the records open, migrate and write, and the migrations set their own longer bound with a statement', async () => {
    const refusedBefore = relay.refused.length;
    const records = await openRecordsDb({ url: viaRelay }, { settings: 'proxy' });
    opened.push(records);
    const { rows } = await sql<{ tables: number }>`select count(*)::int as tables from information_schema.tables where table_schema = 'public'`.execute(records.db);
    expect(rows[0]!.tables).toBeGreaterThan(0);
    // Nothing was sent at connection start: the proxy's InitQuery is what bounds these sessions on AWS.
    const setting = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(records.db);
    expect(setting.rows[0]!.statement_timeout).toBe('0');
    // A pool with other bounds than the records' (the migrations') sets them on each new connection.
    const own = openPostgres(viaRelay, { statementMs: 300, queryMs: 2_000, idleInTransactionMs: 60_000 }, { settings: 'proxy' }).db;
    try {
      const bound = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(own);
      expect(bound.rows[0]!.statement_timeout).toBe('300ms');
    } finally {
      await own.destroy();
    }
    expect(relay.refused.length).toBe(refusedBefore);
  });

  it('in proxy mode the reader opens on the migrated schema and reads', async () => {
    const refusedBefore = relay.refused.length;
    const reader = await openRecordsReader({ url: viaRelay }, { settings: 'proxy' });
    opened.push(reader);
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(reader.db);
    expect(rows[0]!.one).toBe(1);
    expect(relay.refused.length).toBe(refusedBefore);
  });

  it("the proxy's InitQuery is valid Postgres and sets the records' bounds", async () => {
    const client = new pg.Client({ connectionString: `${POSTGRES}/${name}` });
    await client.connect();
    try {
      await client.query(RECORDS_PROXY_INIT_QUERY);
      const statement = await client.query<{ statement_timeout: string }>('show statement_timeout');
      const idle = await client.query<{ idle_in_transaction_session_timeout: string }>('show idle_in_transaction_session_timeout');
      expect(statement.rows[0]!.statement_timeout).toBe(`${RECORDS_TIMEOUTS.statementMs / 1000}s`);
      expect(idle.rows[0]!.idle_in_transaction_session_timeout).toBe(`${RECORDS_TIMEOUTS.idleInTransactionMs / 60_000}min`);
    } finally {
      await client.end();
    }
  });
});
