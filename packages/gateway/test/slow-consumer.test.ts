import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { TestClient, makeToken, startTestGateway } from '../../../test-support/harness.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    CLASSWIRE_MAX_BUFFERED_BYTES: String(256 * 1024),
    CLASSWIRE_RATE_PER_SECOND: '100000',
    CLASSWIRE_RATE_BURST: '100000',
    CLASSWIRE_RATE_BYTES_PER_SECOND: String(1024 * 1024 * 1024),
    CLASSWIRE_RATE_BYTES_BURST: String(1024 * 1024 * 1024),
    CLASSWIRE_HISTORY_SIZE: '10000',
  });
});
afterAll(async () => {
  await gateway.drain();
});

async function slowConsumerCloses(): Promise<number> {
  return (await gateway.metrics.slowConsumers.get()).values[0]?.value ?? 0;
}

describe('slow consumers', () => {
  it('closes a member that stops reading with 4001 while the others keep receiving', async () => {
    const room = 'slow';
    const token = () => makeToken({ rooms: [room] });
    const publisher = await TestClient.connect(gateway, await token());
    const healthy = await TestClient.connect(gateway, await token());
    const slow = await TestClient.connect(gateway, await token());
    for (const c of [publisher, healthy, slow]) await c.join(room);
    // Stop reading: the kernel buffers fill, then the server's send buffer grows past its limit.
    const rawSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    rawSocket.pause();
    const payload = 'z'.repeat(16 * 1024);
    let sent = 0;
    // Loopback kernel buffers absorb a few MB; 4,000 x 16 KiB = 64 MB is far more, so the loop always ends early.
    while (sent < 4000 && (await slowConsumerCloses()) === 0) {
      sent += 1;
      await publisher.request({ action: 'publish', room, event: 'chat.message', data: payload });
    }
    expect(await slowConsumerCloses()).toBe(1);
    const received = await healthy.waitForMessages(room, sent, 20_000);
    expect(received.map((f) => f.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    rawSocket.resume();
    expect(await slow.waitClosed()).toBe(4001);
    await Promise.all([publisher.close(), healthy.close()]);
  });

  it('streams a replay far larger than the send buffer with backpressure: the joiner is never closed as slow', async () => {
    const room = 'big-replay';
    const token = () => makeToken({ rooms: [room] });
    const publisher = await TestClient.connect(gateway, await token());
    await publisher.join(room);
    // 500 x 30 KiB = 15 MiB: far beyond the 256 KiB send buffer and what loopback kernel buffers absorb.
    const count = 500;
    const payload = 'r'.repeat(30 * 1024);
    for (let i = 0; i < count; i++) await publisher.request({ action: 'publish', room, event: 'chat.message', data: payload });
    const closesBefore = await slowConsumerCloses();
    const joiner = await TestClient.connect(gateway, await token());
    const joinedReply = joiner.next((f) => f.type === 'joined', 15_000);
    joiner.send({ action: 'join', room, since: 0 });
    expect(await joinedReply).toMatchObject({ type: 'joined', recovered: true, seq: count });
    expect(joiner.messages(room).map((f) => f.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(await slowConsumerCloses()).toBe(closesBefore);
    expect(await joiner.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await Promise.all([publisher.close(), joiner.close()]);
  });
});
