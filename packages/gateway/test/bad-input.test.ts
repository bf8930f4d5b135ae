import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { RUNTIMES, TestClient, makeToken, startRuntime } from '../../../test-support/harness.js';

describe.each(RUNTIMES)('on %s', (runtime) => {
  let gateway: Gateway;
  let bystander: TestClient;
  let publisher: TestClient;

  beforeAll(async () => {
    gateway = await startRuntime(runtime, { CLASSWIRE_RATE_PER_SECOND: '100000', CLASSWIRE_RATE_BURST: '100000' });
    bystander = await TestClient.connect(gateway, await makeToken({ rooms: ['steady'] }));
    publisher = await TestClient.connect(gateway, await makeToken({ rooms: ['steady'] }));
    await bystander.join('steady');
    await publisher.join('steady');
  });
  afterAll(async () => {
    await Promise.all([bystander.close(), publisher.close()]);
    await gateway.drain();
  });

  let published = 0;
  /** Proves the server still serves everyone else: a publish reaches the bystander. */
  async function othersStillServed(): Promise<void> {
    published += 1;
    await publisher.request({ action: 'publish', room: 'steady', event: 'chat.message', data: published });
    const received = await bystander.waitForMessages('steady', published);
    expect(received.at(-1)!.data).toBe(published);
  }

  describe('bad input', () => {
    const cases: [string, string, string][] = [
      ['invalid JSON', '{"action":', 'frame is not valid JSON'],
      ['a JSON array', '[1,2]', 'frame must be a JSON object'],
      ['a JSON string', '"join"', 'frame must be a JSON object'],
      ['an unknown action', '{"action":"explode","id":"x1"}', 'unknown action "explode"'],
      ['no action', '{"room":"steady"}', 'frame needs a string "action"'],
      ['a wrong field type', '{"action":"join","room":42,"id":"x2"}', 'room:'],
      ['a negative since', '{"action":"join","room":"steady","since":-1}', 'since:'],
      ['an invalid event name', '{"action":"publish","room":"steady","event":"Not Valid","id":"x3"}', 'event:'],
      ['a durable publish without id', '{"action":"publish","room":"steady","event":"chat.message"}', 'id:'],
    ];

    for (const [name, raw, message] of cases) {
      it(`answers ${name} with bad_request and keeps the connection`, async () => {
        const client = await TestClient.connect(gateway, await makeToken());
        const error = client.next((f) => f.type === 'error');
        client.send(raw);
        const frame = await error;
        expect(frame.code).toBe('bad_request');
        expect(frame.message).toContain(message);
        const id = /"id":"([^"]+)"/.exec(raw)?.[1];
        expect(frame.id).toBe(id);
        expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
        await othersStillServed();
        await client.close();
      });
    }

    it('answers a 16,000-deep publish with bad_request (not internal) and keeps the connection', async () => {
      const client = await TestClient.connect(gateway, await makeToken({ rooms: ['steady'] }));
      await client.join('steady');
      const deep = '['.repeat(16_000) + ']'.repeat(16_000);
      const error = client.next((f) => f.type === 'error');
      client.send(`{"action":"publish","room":"steady","event":"chat.message","id":"deep","data":${deep}}`);
      expect(await error).toMatchObject({ code: 'bad_request', id: 'deep' });
      expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
      await othersStillServed();
      await client.close();
    });

    it('closes an oversized frame with 1009 and nobody else is affected', async () => {
      const client = await TestClient.connect(gateway, await makeToken());
      client.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(40 * 1024) }));
      expect(await client.waitClosed()).toBe(1009);
      await othersStillServed();
    });

    it('answers a publish whose message frame would exceed the limit with payload_too_large', async () => {
      const client = await TestClient.connect(gateway, await makeToken({ rooms: ['steady'] }));
      await client.join('steady');
      // The inbound frame fits in 32 KiB; the outbound frame adds the sender, seq and ts and would not.
      const data = 'y'.repeat(32 * 1024 - 120);
      const reply = await client.request({ action: 'publish', room: 'steady', event: 'chat.message', data, id: 'big' });
      expect(reply).toMatchObject({ type: 'error', code: 'payload_too_large', id: 'big' });
      await othersStillServed();
      await client.close();
    });

    it('closes a binary frame with 1003', async () => {
      const client = await TestClient.connect(gateway, await makeToken());
      client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      expect(await client.waitClosed()).toBe(1003);
      await othersStillServed();
    });

    it('survives random frames and answers each one (property)', async () => {
      const client = await TestClient.connect(gateway, await makeToken({ rooms: ['steady', 'fuzz'] }));
      const action = fc.constantFrom('join', 'leave', 'publish', 'direct', 'ping', 'nope', '__proto__', 'constructor');
      const frameArb = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        fc
          .record(
            {
              action,
              room: fc.oneof(fc.constantFrom('steady', 'fuzz', 'forbidden'), fc.string({ maxLength: 20 }), fc.integer()),
              event: fc.oneof(fc.constantFrom('chat.message', 'class.start', 'cursor.move'), fc.string({ maxLength: 10 })),
              data: fc.jsonValue({ maxDepth: 2 }),
              since: fc.oneof(fc.nat(), fc.integer(), fc.double()),
              epoch: fc.string({ maxLength: 10 }),
              ephemeral: fc.boolean(),
              to: fc.string({ maxLength: 10 }),
              ['__proto__']: fc.jsonValue({ maxDepth: 1 }),
            },
            { requiredKeys: ['action'] },
          )
          .map((o) => JSON.stringify(o)),
      );
      let n = 0;
      await fc.assert(
        fc.asyncProperty(frameArb, async (raw) => {
          n += 1;
          // Each frame is followed by a ping; the pong proves the frame was handled and the connection lives.
          client.send(raw);
          const pong = await client.request({ action: 'ping', id: `probe-${n}` });
          expect(pong.type).toBe('pong');
        }),
        { numRuns: 400, seed: 20261128 },
      );
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(client.closeCode).toBeUndefined();
      await othersStillServed();
      await client.close();
    });
  });
});
