/**
 * `history` beyond the live log on the Lambda runtime: the engine functions (behind the API Gateway
 * emulator, on a real Redis) page a room's older messages from the class records (a real Postgres) that
 * the scheduled recorder handler wrote, and answer `unavailable` while the database cannot be reached.
 * Postgres is reached through a TCP fault proxy, so the test can take it away and give it back.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { StoreUnavailableError } from '@classwire/core';
import { RecordsStore } from '@classwire/records';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { BACKENDS, type TestDatabase } from '../../records/test/databases.js';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { POSTGRES, postgresAdmin } from '../../../test-support/postgres.js';
import { TestClient, makeToken, startTestGateway, type Frame } from '../../../test-support/harness.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { createLambdaLogger, createRecordsHandlers, type RecordsHandlers } from '../src/index.js';
import { databaseSource, lambdaArchive, lazyRecordsDb, sessionSettingsFor } from '../src/records-database.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
const ROOM = 'h-aws';
/** The live log keeps this many messages per room here. */
const LIVE = 10;
/** With records on, ada's first join is in the log (`presence.join`, seq 1): the 25 notes are seqs 2-26. */
const NOTES = 25;
const LAST = NOTES + 1;

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('history beyond the live log on the Lambda runtime, from the class records (Redis + Postgres)', () => {
  let redis: RedisProcess;
  let database: TestDatabase;
  let proxy: FaultProxy;
  let gateway: Gateway;
  let recorder: RecordsHandlers;
  let client: TestClient;
  /**
   * The message frames the room delivered, by seq, without the publish `id` they carry: the records keep
   * no publish ids, so a page from them has none (the live log's frames do; the same on the gateway).
   */
  const delivered = new Map<number, Frame>();

  beforeAll(async () => {
    redis = await RedisProcess.start();
    database = await BACKENDS[0].open();
    const url = new URL(await database.url());
    proxy = new FaultProxy(Number(url.port), { raw: true });
    await proxy.start();
    const throughProxy = new URL(url);
    throughProxy.port = String(proxy.port);
    const shared = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_REDIS_PREFIX: 'awshist' };
    gateway = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      ...shared,
      CLASSWIRE_RECORD_ROOMS: 'true',
      CLASSWIRE_HISTORY_SIZE: String(LIVE),
      CLASSWIRE_RATE_PER_SECOND: '1000',
      CLASSWIRE_RATE_BURST: '1000',
      // The engine functions reach the database through the proxy; the recorder directly.
      CLASSWIRE_DATABASE_URL: throughProxy.href,
    });
    recorder = createRecordsHandlers({ ...shared, CLASSWIRE_HISTORY_SIZE: String(LIVE), CLASSWIRE_DATABASE_URL: url.href }, { logger: silent });
    const store = new RecordsStore(database.records.db);
    client = await TestClient.connect(gateway, await makeToken({ sub: 'ada', name: 'ADA', rooms: [ROOM] }));
    await client.join(ROOM);
    // In fives, each recorded before the next: the live log (10) never drops what the recorder has not read.
    for (const batch of range(0, 4)) {
      for (const i of range(batch * 5 + 1, batch * 5 + 5)) {
        expect(await client.request({ action: 'publish', room: ROOM, event: 'note.add', data: { i } })).toMatchObject({ type: 'ack', seq: i + 1 });
      }
      expect(await recorder.record()).toMatchObject({ recorded: 1, failed: 0, deferred: 0 });
      expect(await store.cursor(ROOM)).toMatchObject({ seq: batch * 5 + 6 });
    }
    for (const seq of range(2, LAST)) {
      const frame = { ...(await client.next((f) => f.type === 'message' && f.room === ROOM && f.seq === seq)) };
      delete frame.id;
      delivered.set(seq, frame);
    }
  });
  afterAll(async () => {
    await client.close();
    await gateway.drain();
    await recorder.close();
    await proxy.stop();
    await database.drop();
    await redis.stop();
  });

  const history = (frame: { before?: number; limit: number }): Promise<Frame> => client.request({ action: 'history', room: ROOM, ...frame });
  const seqs = (page: Frame): number[] => (page.messages as Frame[]).map((m) => m.seq as number);

  it('answers unavailable while the database cannot be reached, and from the records once it can (a failed open is not kept)', async () => {
    proxy.refuse(true);
    // A page the live log holds whole needs no database.
    const live = await history({ limit: 5 });
    expect(live).toMatchObject({ type: 'history', archive: true, next: LAST - 4 });
    expect(seqs(live)).toEqual(range(LAST - 4, LAST));
    // Older than the live log: the records are needed, and cannot be opened.
    expect(await history({ before: 10, limit: 5 })).toMatchObject({ type: 'error', code: 'unavailable' });
    proxy.refuse(false);
    const page = await history({ before: 10, limit: 5 });
    expect(page).toMatchObject({ type: 'history', room: ROOM, archive: true, next: 5 });
    expect(seqs(page)).toEqual(range(5, 9));
  });

  it('pages every message once, in order, back to the first: the live log, then the records', async () => {
    const pages: number[][] = [];
    let before: number | undefined;
    for (;;) {
      const page = await history(before === undefined ? { limit: 7 } : { before, limit: 7 });
      expect(page).toMatchObject({ type: 'history', archive: true });
      pages.push(seqs(page));
      if (page.next === null) break;
      before = page.next as number;
    }
    expect(pages).toEqual([range(20, 26), range(13, 19), range(6, 12), range(1, 5)]);
    // From the records, a message is the frame the room delivered.
    const old = await history({ before: 12, limit: 10 });
    expect(seqs(old)).toEqual(range(2, 11));
    expect(old.messages).toEqual(range(2, 11).map((seq) => delivered.get(seq)));
    expect((await history({ before: 2, limit: 1 })).messages).toEqual([expect.objectContaining({ seq: 1, event: 'presence.join', data: { userId: 'ada', name: 'ADA', role: 'student' } })]);
  });

  it('mixes the live log and the records in one page when it spans both', async () => {
    // The live log (10) holds seqs 17-26: this page takes 13-16 from the records and 17-20 from the log.
    const page = await history({ before: 21, limit: 8 });
    expect(seqs(page)).toEqual(range(13, 20));
    expect(page.messages).toMatchObject(range(13, 20).map((seq) => delivered.get(seq)));
  });

  it('answers unavailable when the opened database goes away, and recovers with it', async () => {
    proxy.refuse(true);
    proxy.cutAll();
    expect(await history({ before: 10, limit: 5 })).toMatchObject({ type: 'error', code: 'unavailable' });
    proxy.refuse(false);
    expect(seqs(await history({ before: 10, limit: 5 }))).toEqual(range(5, 9));
  });
});

describe("`$default` against a records database the records functions have not migrated yet", () => {
  let redis: RedisProcess;
  let gateway: Gateway;
  let client: TestClient;
  const name = `classwire_records_${randomUUID().replaceAll('-', '')}`;
  const url = `${POSTGRES}/${name}`;
  const shared = { CLASSWIRE_REDIS_PREFIX: 'awsunmigrated', CLASSWIRE_HISTORY_SIZE: String(LIVE) };

  /** The tables of the database's `public` schema, as the server lists them. */
  const tables = async (): Promise<string[]> => {
    const observer = new pg.Client({ connectionString: url });
    await observer.connect();
    try {
      const { rows } = await observer.query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`);
      return rows.map((row) => row.name);
    } finally {
      await observer.end();
    }
  };

  beforeAll(async () => {
    redis = await RedisProcess.start();
    // The name is generated here (hex only): no input reaches this statement.
    await postgresAdmin(`CREATE DATABASE ${name}`);
    gateway = await startTestGateway({
      CLASSWIRE_MODE: 'apigw-emulator',
      ...shared,
      CLASSWIRE_REDIS_URL: redis.url,
      CLASSWIRE_RATE_PER_SECOND: '1000',
      CLASSWIRE_RATE_BURST: '1000',
      CLASSWIRE_DATABASE_URL: url,
    });
    client = await TestClient.connect(gateway, await makeToken({ sub: 'ada', name: 'ADA', rooms: [ROOM] }));
    await client.join(ROOM);
    // Three more than the live log keeps: seqs 1-3 are only in the records (where nothing recorded them).
    for (const i of range(1, LIVE + 3)) {
      expect(await client.request({ action: 'publish', room: ROOM, event: 'note.add', data: { i } })).toMatchObject({ type: 'ack', seq: i });
    }
  });
  afterAll(async () => {
    await client.close();
    await gateway.drain();
    await postgresAdmin(`DROP DATABASE ${name} WITH (FORCE)`);
    await redis.stop();
  });

  it('answers unavailable for a page beyond the live log, and neither migrates nor writes the database', async () => {
    // The live log alone still serves what it holds.
    expect(await client.request({ action: 'history', room: ROOM, limit: 5 })).toMatchObject({ type: 'history', archive: true, next: LIVE - 1 });
    expect(await client.request({ action: 'history', room: ROOM, before: 4, limit: 3 })).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(await tables()).toEqual([]);
  });

  it('pages from the records once the records functions have migrated them (the failed open is not kept)', async () => {
    const recorder = createRecordsHandlers({ ...shared, CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_URL: url }, { logger: silent });
    try {
      // The recorder's first run opens the database the migrating way.
      expect(await recorder.record()).toMatchObject({ failed: 0 });
    } finally {
      await recorder.close();
    }
    expect(await tables()).toContain('record_events');
    // Nothing recorded seqs 1-3 before they left the live log: the records answer, with an empty page.
    expect(await client.request({ action: 'history', room: ROOM, before: 4, limit: 3 })).toMatchObject({ type: 'history', archive: true, messages: [] });
  });
});

describe('the Lambda history archive against a database that accepts connections and never answers', () => {
  it('answers unavailable at its time limit rather than holding the request until the integration times out', async () => {
    const sockets = new Set<Socket>();
    // A real TCP listener that takes the connection and says nothing (a proxy dropping packets).
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const connected = new Promise((resolve) => silent.once('connection', resolve));
    const database = lazyRecordsDb({ url: `postgres://postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/classwire` }, () => Promise.reject(new Error('no secret here')), 'read-only');
    try {
      const outcome = lambdaArchive(database, 100).before(ROOM, 'epoch', 10, 5).then(
        () => 'answered',
        (error: unknown) => error,
      );
      await connected;
      expect(await outcome).toBeInstanceOf(StoreUnavailableError);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await database.close();
    }
  });
});

describe('where a function takes the records\' session settings from', () => {
  it("behind the stack's RDS Proxy (its host given) from the proxy's InitQuery; otherwise at connection start", () => {
    const proxied = databaseSource({ CLASSWIRE_DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db', CLASSWIRE_DATABASE_HOST: 'proxy.example' })!;
    const direct = databaseSource({ CLASSWIRE_DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db' })!;
    const url = databaseSource({ CLASSWIRE_DATABASE_URL: 'postgres://db.example/classwire' })!;
    expect(sessionSettingsFor(proxied)).toBe('proxy');
    expect(sessionSettingsFor(direct)).toBe('connection-start');
    expect(sessionSettingsFor(url)).toBe('connection-start');
  });
});
