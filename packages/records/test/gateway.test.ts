import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_KEY, startTestGateway } from '../../../test-support/harness.js';
import type { Gateway } from '../../gateway/src/gateway.js';
import { RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

/** The seam: a gateway configured with a database records its rooms and serves the records API. */
describe('gateway with records (Postgres)', () => {
  let database: TestDatabase;
  let gateway: Gateway;

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    // The gateway opens its own connection to the suite's database, named by URL.
    const url = await database.url();
    gateway = await startTestGateway({ CLASSWIRE_DATABASE_URL: url });
  });
  afterAll(async () => {
    await gateway.drain();
    await database.drop();
  });

  async function serverPublish(room: string, event: string, data: unknown): Promise<void> {
    const response = await fetch(`${gateway.url}/rooms/${room}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event, data }),
    });
    expect(response.status).toBe(201);
  }

  it('records what is published and serves it through the records API', async () => {
    await serverPublish('physics', 'class.start', {});
    for (let i = 0; i < 10; i++) await serverPublish('physics', 'note.add', { n: i });
    await serverPublish('physics', 'class.end', {});

    const store = new RecordsStore(database.records.db);
    await vi.waitFor(async () => expect(await store.cursor('physics')).toMatchObject({ seq: 12 }), { timeout: 10_000, interval: 50 });
    const headers = { authorization: `Bearer ${API_KEY}` };
    const list = (await (await fetch(`${gateway.url}/classes?room=physics`, { headers })).json()) as { classes: { id: string; endedAt: number | null }[] };
    expect(list.classes).toHaveLength(1);
    const transcript = (await (await fetch(`${gateway.url}/classes/${list.classes[0]!.id}/transcript`, { headers })).json()) as { events: { seq: number }[] };
    expect(transcript.events.map((event) => event.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect((await fetch(`${gateway.url}/classes`)).status).toBe(401);
  });
});
