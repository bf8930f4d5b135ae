/**
 * Measures the webhook outbox's cost (docs/records.md, "Webhooks"): the recorder's CPU per recorded
 * event with and without the outbox, and the dispatcher's delivery rate to a local receiver.
 * Run: npx tsx packages/records/test/measure-webhooks.ts (not a test: numbers, no assertions).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryBroker } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { recordedAttendance, Recorder, RecordsStore, WebhookDispatcher, WebhookOutbox, type WebhookEndpoint } from '../src/index.js';
import { BACKENDS } from './databases.js';

const EVENTS = 4000;
const BATCH = 100;
const silent = { warn: () => undefined };

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

async function main(): Promise<void> {
  let delivered = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      delivered += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
  const endpoints: WebhookEndpoint[] = ['1', '2'].map((name) => ({ name, url, secret: `whsec_${randomBytes(32).toString('base64')}`, events: ['class.*', 'member.*', 'moderation.*'], messages: [] }));

  for (const backend of BACKENDS) {
    const database = await backend.open();
    const db = database.records.db;
    for (const withOutbox of [false, true, false, true]) {
      const broker = new MemoryBroker({ maxMessages: EVENTS + 10, delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
      const room = `measure-${withOutbox ? 'on' : 'off'}-${randomBytes(4).toString('hex')}`;
      const store = new RecordsStore(db, { hook: withOutbox ? new WebhookOutbox(endpoints, recordedAttendance(), () => undefined) : undefined });
      const recorder = new Recorder({ store, broker, logger: silent });
      let cpu = 0;
      let wall = 0;
      for (let i = 0; i < EVENTS; i += BATCH) {
        for (let j = i; j < i + BATCH; j++) {
          const user: Sender = { userId: `u-${j % 200}`, name: `User ${j % 200}`, role: 'student' };
          // Half presence (two webhooks each: one per endpoint), half chat (none).
          const body = j % 2 === 0 ? encodeMessageBody(j % 4 === 0 ? 'presence.join' : 'presence.leave', user, user) : encodeMessageBody('chat.message', { text: `message ${j}` }, user);
          await broker.publish(room, body);
        }
        const startCpu = cpuMicros();
        const startWall = performance.now();
        await recorder.recordRoom(room);
        cpu += cpuMicros() - startCpu;
        wall += performance.now() - startWall;
      }
      console.log(`${backend.name} recorder, outbox ${withOutbox ? 'on ' : 'off'}: ${(cpu / EVENTS).toFixed(1)} µs CPU/event (this process), ${((wall * 1000) / EVENTS).toFixed(1)} µs wall/event`);
    }
    const rows = Number((await db.selectFrom('webhook_outbox').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    delivered = 0;
    const dispatcher = new WebhookDispatcher({ db, endpoints, logger: silent, timeoutMs: 10_000, retryForMs: 86_400_000, concurrency: 4, pollMs: 50 });
    const startCpu = cpuMicros();
    const startWall = performance.now();
    dispatcher.start();
    while (delivered < rows) await new Promise((resolve) => setTimeout(resolve, 20));
    const wallMs = performance.now() - startWall;
    const cpu = cpuMicros() - startCpu;
    await dispatcher.close();
    console.log(`${backend.name} dispatcher: ${rows} webhooks to 2 endpoints in ${wallMs.toFixed(0)} ms = ${((rows * 1000) / wallMs).toFixed(0)}/s, ${(cpu / rows).toFixed(0)} µs CPU/webhook (dispatcher and receiver, one process)`);
    await database.drop();
  }
  receiver.close();
}

await main();
