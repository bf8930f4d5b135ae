import { CLOSE_CODES } from '@classwire/protocol';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, type ConnectionState, type WebSocketConstructor } from '../../client/src/node.js';
import { TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';

const WINDOW_MS = 1000;

describe('drain spread over CLASSWIRE_DRAIN_SPREAD_MS', () => {
  it('closes the sockets one by one over the window, each told to wait its offset before reconnecting', async () => {
    const node = await startTestGateway({ CLASSWIRE_DRAIN_SPREAD_MS: String(WINDOW_MS) });
    const clients: TestClient[] = [];
    for (let i = 0; i < 5; i++) clients.push(await TestClient.connect(node, await makeToken()));
    const closedAt = new Map<TestClient, number>();
    for (const client of clients) void client.waitClosed().then(() => closedAt.set(client, Date.now()));
    const started = Date.now();
    await node.drain();
    await eventually(() => closedAt.size === clients.length);

    const hints = clients.map((client) => {
      const notice = client.frames.find((f) => f.type === 'closing');
      expect(notice).toMatchObject({ code: CLOSE_CODES.goingAway });
      expect(client.closeCode).toBe(CLOSE_CODES.goingAway);
      return notice!.retryAfterMs as number;
    });
    // Offsets evenly across the window, in connection order.
    expect(hints).toEqual([0, 200, 400, 600, 800]);
    // Nobody is closed before its offset: the population leaves over the window, not at once.
    clients.forEach((client, i) => expect(closedAt.get(client)! - started).toBeGreaterThanOrEqual(hints[i]!));
  });

  it('the SDK waits the hinted delay before reconnecting instead of its own backoff', async () => {
    const node = await startTestGateway({ CLASSWIRE_DRAIN_SPREAD_MS: String(WINDOW_MS) });
    // Two sockets first, so the SDK's is third in the window: its hint is 666 ms.
    const others = [await TestClient.connect(node, await makeToken()), await TestClient.connect(node, await makeToken())];
    const attempts: number[] = [];
    // The real `ws` client, noting when each connection attempt starts.
    class RecordingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        attempts.push(Date.now());
      }
    }
    const client = connect({
      url: `${node.url.replace('http', 'ws')}/ws`,
      token: await makeToken(),
      WebSocket: RecordingWebSocket as unknown as WebSocketConstructor,
      // Without the hint the first retry would come within 50 ms.
      reconnect: { baseDelayMs: 50, maxDelayMs: 50 },
    });
    let lostAt: number | undefined;
    client.on('state', ({ state }: { state: ConnectionState }) => {
      if (state === 'reconnecting' && lostAt === undefined) lostAt = Date.now();
    });
    await client.whenOpen();
    await node.drain();
    await Promise.all(others.map((other) => other.waitClosed()));
    await eventually(() => attempts.length >= 2, 5000);
    expect(lostAt).toBeDefined();
    expect(attempts[1]! - lostAt!).toBeGreaterThanOrEqual(Math.floor((2 * WINDOW_MS) / 3));
    client.close();
  });
});
