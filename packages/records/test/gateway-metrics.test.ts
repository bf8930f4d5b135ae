import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_KEY, startTestGateway } from '../../../test-support/harness.js';
import type { Gateway } from '../../gateway/src/gateway.js';
import { BACKENDS, type TestDatabase } from './databases.js';
import { Receiver } from './receiver.js';

/** Every sample of a /metrics scrape, by its full series text (`name{labels}`). */
async function scrape(gateway: Gateway): Promise<Map<string, number>> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Waits until the scrape's series satisfies `check` (it is read again until then). */
async function metricReaches(gateway: Gateway, series: string, check: (value: number | undefined) => boolean, timeout = 15_000): Promise<number> {
  let last: number | undefined;
  await vi.waitFor(
    async () => {
      last = (await scrape(gateway)).get(series);
      if (!check(last)) throw new Error(`${series} is ${last}`);
    },
    { timeout, interval: 100 },
  );
  return last!;
}

async function serverPublish(gateway: Gateway, room: string, event: string, data: unknown): Promise<void> {
  const response = await fetch(`${gateway.url}/rooms/${room}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event, data }),
  });
  expect(response.status).toBe(201);
}

/** Runs statements on the suite's database as another client would (an operator, or a failing disk). */
async function onDatabase(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

const recorded = 'classwire_records_rooms_total{outcome="recorded"}';
const failed = 'classwire_records_rooms_total{outcome="failed"}';
const delivered = (endpoint: number) => `classwire_webhook_deliveries_total{endpoint="${endpoint}",outcome="delivered"}`;
const failedAttempts = (endpoint: number) => `classwire_webhook_deliveries_total{endpoint="${endpoint}",outcome="failed"}`;
const deadLettered = (endpoint: number) => `classwire_webhook_deliveries_total{endpoint="${endpoint}",outcome="dead_lettered"}`;
const due = (endpoint: number) => `classwire_webhook_outbox_due{endpoint="${endpoint}"}`;

describe('records and webhook metrics of a gateway (Postgres, recording thread)', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  const accepting = new Receiver();
  const failing = new Receiver();
  const hanging = new Receiver();

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    failing.behaviour = 'fail';
    hanging.behaviour = 'hang';
    await Promise.all([accepting.start(), failing.start(), hanging.start()]);
    gateway = await startTestGateway({
      CLASSWIRE_DATABASE_URL: await database.url(),
      CLASSWIRE_WEBHOOK_URL: accepting.url,
      CLASSWIRE_WEBHOOK_SECRET: accepting.secret,
      CLASSWIRE_WEBHOOK_2_URL: failing.url,
      CLASSWIRE_WEBHOOK_2_SECRET: failing.secret,
      CLASSWIRE_WEBHOOK_3_URL: hanging.url,
      CLASSWIRE_WEBHOOK_3_SECRET: hanging.secret,
      CLASSWIRE_WEBHOOK_3_MESSAGES: 'bulk.*',
      // One attempt at a time per endpoint: the hanging receiver holds its one slot, the rest stays due.
      CLASSWIRE_WEBHOOK_CONCURRENCY: '1',
    });
  });
  afterAll(async () => {
    await gateway.drain();
    await Promise.all([accepting.stop(), failing.stop(), hanging.stop()]);
    await database.drop();
  });

  it('has every series from the start, zero, with the endpoint numbers as the only endpoint label', async () => {
    const samples = await scrape(gateway);
    for (const series of [recorded, failed, 'classwire_records_events_written_total', 'classwire_records_gaps_total', deadLettered(1), failedAttempts(2), due(3)]) {
      expect(samples.get(series), series).toBe(0);
    }
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(text).not.toContain('127.0.0.1');
    expect(text).toContain('# HELP classwire_records_backlog_age_seconds');
  });

  it('counts a recorded room and its events, and the backlog returns to zero', async () => {
    await serverPublish(gateway, 'metrics-lab', 'class.start', {});
    await serverPublish(gateway, 'metrics-lab', 'note.add', { n: 1 });
    await serverPublish(gateway, 'metrics-lab', 'class.end', {});

    await metricReaches(gateway, 'classwire_records_events_written_total', (value) => value === 3);
    expect(await metricReaches(gateway, recorded, (value) => value !== undefined && value >= 1)).toBeGreaterThanOrEqual(1);
    await metricReaches(gateway, 'classwire_records_backlog_rooms', (value) => value === 0);
    const samples = await scrape(gateway);
    expect(samples.get('classwire_records_backlog_age_seconds')).toBe(0);
    expect(samples.get(failed)).toBe(0);
  });

  it('counts deliveries to a receiver that answers 2xx and failed attempts to one that answers 500', async () => {
    // class.started and class.ended of the test above, to every endpoint.
    await metricReaches(gateway, delivered(1), (value) => value === 2);
    await metricReaches(gateway, failedAttempts(2), (value) => value !== undefined && value >= 2);
    const samples = await scrape(gateway);
    expect(samples.get(delivered(2))).toBe(0);
    expect(samples.get(failedAttempts(1))).toBe(0);
    expect(accepting.received.map((delivery) => delivery.type).sort()).toEqual(['class.ended', 'class.started']);
  });

  it('counts a webhook dead-lettered once its retry window has passed', async () => {
    // The window is an hour at least: age the failing endpoint's rows instead of waiting for it.
    await onDatabase(await database.url(), "update webhook_outbox set retry_from = 0, next_attempt_at = 0 where endpoint = '2' and dead_at is null");
    await metricReaches(gateway, deadLettered(2), (value) => value === 2);
    const response = await fetch(`${gateway.url}/webhooks/dead-letters?endpoint=2`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(((await response.json()) as { deadLetters: unknown[] }).deadLetters).toHaveLength(2);
    expect((await scrape(gateway)).get(deadLettered(1))).toBe(0);
  });

  it('shows the rows due behind a receiver that does not answer', async () => {
    for (let i = 0; i < 10; i++) await serverPublish(gateway, 'metrics-bulk', 'bulk.item', { i });
    await metricReaches(gateway, 'classwire_records_events_written_total', (value) => value === 13);
    // One in its slot, at most four claimed: the rest waits, due now.
    expect(await metricReaches(gateway, due(3), (value) => value !== undefined && value >= 6)).toBeLessThanOrEqual(10);
    expect((await scrape(gateway)).get(due(1))).toBe(0);
  });
});

describe('recording failure metrics of a gateway (Postgres, recording on the event loop)', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    url = await database.url();
    // A live log of 5 messages per room: what waits longer than that for a refusing database is lost, as a gap.
    gateway = await startTestGateway({ CLASSWIRE_DATABASE_URL: url, CLASSWIRE_RECORDS_WORKER: '0', CLASSWIRE_HISTORY_SIZE: '5' });
  });
  afterAll(async () => {
    await gateway.drain();
    await database.drop();
  });

  it('counts failures while the database refuses, shows the backlog ageing, and recovers with the lost part as a gap', async () => {
    await serverPublish(gateway, 'metrics-ok', 'note.add', { n: 0 });
    await metricReaches(gateway, recorded, (value) => value === 1);

    // The events table disappears (as a mistaken migration or restore would make it): every write fails.
    await onDatabase(url, 'alter table record_events rename to record_events_away');
    for (let n = 1; n <= 8; n++) await serverPublish(gateway, 'metrics-refused', 'note.add', { n });
    await metricReaches(gateway, failed, (value) => value !== undefined && value >= 2);
    const behind = await scrape(gateway);
    expect(behind.get('classwire_records_backlog_rooms')).toBeGreaterThanOrEqual(1);
    expect(behind.get('classwire_records_backlog_age_seconds')).toBeGreaterThan(0.5);
    expect(behind.get('classwire_records_events_written_total')).toBe(1);

    await onDatabase(url, 'alter table record_events_away rename to record_events');
    // The room's first 3 messages left its 5-message log while they waited: one gap, and the 5 held recorded.
    await metricReaches(gateway, 'classwire_records_events_written_total', (value) => value === 6);
    await metricReaches(gateway, 'classwire_records_backlog_rooms', (value) => value === 0);
    const caughtUp = await scrape(gateway);
    expect(caughtUp.get('classwire_records_backlog_age_seconds')).toBe(0);
    expect(caughtUp.get('classwire_records_gaps_total')).toBe(1);
  });
});
