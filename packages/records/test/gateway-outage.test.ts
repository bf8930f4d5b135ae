import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { API_KEY, startTestGateway } from '../../../test-support/harness.js';
import type { Gateway } from '../../gateway/src/gateway.js';
import { BACKENDS, type TestDatabase } from './databases.js';
import { expectDocumented } from './openapi.js';

interface LogLine {
  level: number;
  msg: string;
  err?: { message?: string };
}

/**
 * The gateway's records API when Postgres cannot be reached. The gateway reaches the suite's real
 * database through a TCP proxy this test controls, so the outage is the proxy's (the machine's Postgres
 * keeps running): refused connections, then a connection attempt that never gets an answer.
 */
describe('gateway records API with the database unreachable', () => {
  let database: TestDatabase;
  let proxy: FaultProxy;
  let gateway: Gateway;
  const logs: LogLine[] = [];
  const headers = { authorization: `Bearer ${API_KEY}` };

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    proxy = new FaultProxy(5432, { raw: true });
    const port = await proxy.start();
    const url = new URL(await database.url());
    url.port = String(port);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    gateway = await startTestGateway({ CLASSWIRE_DATABASE_URL: url.toString() }, { logger: pino({ level: 'info' }, sink) });
    // The records open in the background: answered 503 until then.
    await vi.waitFor(async () => expect((await fetch(`${gateway.url}/classes`, { headers })).status).toBe(200), { timeout: 10_000, interval: 50 });
  });
  afterAll(async () => {
    await gateway.drain();
    await proxy.stop();
    await database.drop();
  });

  async function get(path: string): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
    const response = await fetch(`${gateway.url}${path}`, { headers });
    const body: unknown = await response.json();
    expectDocumented('GET', path.split('?')[0]!, response.status, body);
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
  }

  it('answers 503 unavailable with Retry-After (a warning, not an error) while connections are refused, and 200 once they are not', async () => {
    const before = logs.length;
    proxy.refuse(true);
    // The pool's open connections go too: the next query must open one.
    proxy.cutAll();
    const refused = await get('/classes');
    expect(refused).toEqual({ status: 503, retryAfter: '5', body: { code: 'unavailable', message: 'class records are unavailable; retry later' } });
    const during = logs.slice(before);
    expect(during.filter((line) => line.level >= 50)).toEqual([]);
    expect(during.filter((line) => line.level === 40).map((line) => line.msg)).toContain('records API request refused: a store is unreachable');

    proxy.refuse(false);
    expect((await get('/classes')).status).toBe(200);
  });

  it('does not wait forever on a connection that never answers: the connect times out into a 503', async () => {
    const before = logs.length;
    // Connections are accepted but nothing the client sends reaches Postgres: the startup gets no answer.
    proxy.holdUpstream(() => true);
    proxy.cutAll();
    // A request may still find an idle connection the pool has not yet seen closed (503 at once); the
    // pool holds at most 4, so within 5 requests one must open a new connection and hit the timeout.
    let timedOut = false;
    for (let attempt = 0; attempt < 5 && !timedOut; attempt++) {
      const mark = logs.length;
      expect(await get('/classes/1')).toMatchObject({ status: 503, retryAfter: '5', body: { code: 'unavailable' } });
      timedOut = logs.slice(mark).some((line) => /connection timeout|timeout exceeded when trying to connect/.test(line.err?.message ?? ''));
    }
    expect(timedOut).toBe(true);
    expect(logs.slice(before).filter((line) => line.level >= 50)).toEqual([]);

    proxy.releaseUpstream();
    proxy.cutAll();
    await vi.waitFor(async () => expect((await get('/classes/1')).status).toBe(404), { timeout: 10_000, interval: 50 });
  }, 40_000);
});
