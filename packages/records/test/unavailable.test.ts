import { createServer, type AddressInfo } from 'node:net';
import { StoreUnavailableError } from '@classwire/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { POSTGRES } from '../../../test-support/postgres.js';
import { isStoreUnreachable, openRecordsDb } from '../src/index.js';
import { failure } from '../../../test-support/failure.js';

/** A loopback port nothing listens on any more: a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The errors the real drivers throw, classified: an outage (503) or not (a bug, 500). */
describe('isStoreUnreachable', () => {
  it('an outage: a refused connection, found also as the cause of a failed migration; Redis unreachable', async () => {
    const port = await closedPort();
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/none` });
    expect(isStoreUnreachable(await failure(() => client.connect()))).toBe(true);
    const opening = await failure(() => openRecordsDb({ url: `postgres://postgres@127.0.0.1:${port}/none` }));
    expect((opening as Error).message).toMatch(/migration/);
    expect(isStoreUnreachable(opening)).toBe(true);
    expect(isStoreUnreachable(new StoreUnavailableError('redis read failed'))).toBe(true);
  });

  it('an outage: the server ending the connection (57P01, admin shutdown)', async () => {
    const client = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
    // The server's error also arrives as the client's 'error' event; the query's rejection is what we classify.
    client.on('error', () => undefined);
    await client.connect();
    const admin = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
    await admin.connect();
    try {
      const running = failure(() => client.query('select pg_sleep(30)'));
      await admin.query('select pg_terminate_backend($1)', [(client as unknown as { processID: number }).processID]);
      const error = (await running) as { code?: string };
      expect(isStoreUnreachable(error)).toBe(true);
    } finally {
      await admin.end();
      await client.end().catch(() => undefined);
    }
  });

  it('not an outage: an error the server answered, and programming errors', async () => {
    const client = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
    await client.connect();
    try {
      const syntax = (await failure(() => client.query('selec 1'))) as { code?: string };
      expect(syntax.code).toBe('42601');
      expect(isStoreUnreachable(syntax)).toBe(false);
      const missing = (await failure(() => client.query('select * from no_such_table'))) as { code?: string };
      expect(isStoreUnreachable(missing)).toBe(false);
    } finally {
      await client.end();
    }
    const bug = await failure(() => Promise.resolve().then(() => (undefined as unknown as { id: number }).id));
    expect(bug).toBeInstanceOf(TypeError);
    expect(isStoreUnreachable(bug)).toBe(false);
    expect(isStoreUnreachable(new Error('records migration 0005 failed', { cause: bug }))).toBe(false);
    expect(isStoreUnreachable('ECONNREFUSED')).toBe(false);
  });
});
