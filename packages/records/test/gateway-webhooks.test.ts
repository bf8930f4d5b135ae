import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, eventually, startTestGateway } from '../../../test-support/harness.js';
import type { Gateway } from '../../gateway/src/gateway.js';
import { BACKENDS, type TestDatabase } from './databases.js';
import { Receiver } from './receiver.js';

/** The whole path: a gateway configured by environment records a class and its webhooks reach a receiver. */
describe('gateway with webhooks (Postgres)', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  const receiver = new Receiver();

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    await receiver.start();
    gateway = await startTestGateway({
      CLASSWIRE_DATABASE_URL: await database.url(),
      CLASSWIRE_WEBHOOK_URL: receiver.url,
      CLASSWIRE_WEBHOOK_SECRET: receiver.secret,
      CLASSWIRE_WEBHOOK_MESSAGES: 'note.*',
    });
  });
  afterAll(async () => {
    await gateway.drain();
    await receiver.stop();
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

  it('sends the class and the opted-in messages, signed, and lists no dead letters', async () => {
    await serverPublish('chemistry', 'class.start', {});
    await serverPublish('chemistry', 'note.add', { n: 1 });
    await serverPublish('chemistry', 'other.thing', { n: 2 });
    await serverPublish('chemistry', 'class.end', {});

    await eventually(() => receiver.received.length >= 3, 15_000);
    expect(receiver.rejected).toEqual([]);
    expect(receiver.received.map((delivery) => delivery.type).sort()).toEqual(['class.ended', 'class.started', 'message.published']);
    expect(receiver.received.find((delivery) => delivery.type === 'message.published')!.payload.data).toMatchObject({ room: 'chemistry', event: 'note.add', data: { n: 1 } });
    const response = await fetch(`${gateway.url}/webhooks/dead-letters`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deadLetters: [], next: null });
  });
});
