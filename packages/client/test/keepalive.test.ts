import { encodeJoinedFrame, encodePongFrame } from '@classwire/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Gateway } from '../../gateway/src/index.js';
import type { WebSocketConstructor } from '../src/index.js';
import { RUNTIMES, eventually, makeToken, sdkClient, startRuntime, wsUrl } from './helpers.js';

/**
 * A real socket server that answers every join with `joined` (advertising `keepAliveMs` when given, which
 * may be anything a hostile server sends) and every ping with `pong` (advertising `pongKeepAliveMs`).
 */
async function keepAliveServer(keepAliveMs: unknown, pongKeepAliveMs?: number) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const state = { joined: 0 };
  server.on('connection', (socket) => {
    socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { action: string; room: string; id?: string };
      if (frame.action === 'ping') {
        socket.send(encodePongFrame(0, frame.id, pongKeepAliveMs));
      } else if (frame.action === 'join') {
        const joined = JSON.parse(encodeJoinedFrame({ room: frame.room, connectionId: 'c', seq: 0, epoch: 'e', recovered: false, presence: [], id: frame.id })) as object;
        socket.send(JSON.stringify(keepAliveMs === undefined ? joined : { ...joined, keepAliveMs }));
        state.joined += 1;
      }
    });
  });
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}`, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** What a client's socket sent and received: its pings, counted as it sends them, and the pongs it got. */
interface Traffic {
  pings: number;
  pongs: number;
}

/** `ws`'s WebSocket, counting pings out and pongs in. */
function countingWebSocket(traffic: Traffic): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (raw: Buffer) => {
        if ((JSON.parse(raw.toString()) as { type: string }).type === 'pong') traffic.pongs += 1;
      });
    }

    override send(data: string): void {
      if ((JSON.parse(data) as { action: string }).action === 'ping') traffic.pings += 1;
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

/** Pings sent while `ms` of (fake) interval time pass in steps of `stepMs`. */
function pingsDuring(traffic: Traffic, ms: number, stepMs: number): number {
  const before = traffic.pings;
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) vi.advanceTimersByTime(Math.min(stepMs, ms - elapsed));
  return traffic.pings - before;
}

describe('the SDK and the keep-alive a server advertises', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Fakes only the heartbeat's interval timers (sockets and timeouts stay real), connects and joins. */
  async function joinedClient(url: string, options: { pingIntervalMs?: number } = {}) {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const traffic: Traffic = { pings: 0, pongs: 0 };
    const client = sdkClient(url, { token: 'unused', WebSocket: countingWebSocket(traffic), ...options });
    await client.join('r').ready;
    return { client, traffic };
  }

  it('pings at the advertised interval instead of every 25 s', async () => {
    const server = await keepAliveServer(540_000);
    const { client, traffic } = await joinedClient(server.url);
    try {
      expect(pingsDuring(traffic, 539_000, 1000)).toBe(0);
      expect(pingsDuring(traffic, 1000, 1000)).toBe(1);
      expect(pingsDuring(traffic, 540_000, 10_000)).toBe(1);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('keeps 25 s with a server that advertises nothing (an older server)', async () => {
    const server = await keepAliveServer(undefined);
    const { client, traffic } = await joinedClient(server.url);
    try {
      expect(pingsDuring(traffic, 100_000, 5000)).toBe(4);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('keeps the app\'s pingIntervalMs over the advertised one', async () => {
    const server = await keepAliveServer(540_000);
    const { client, traffic } = await joinedClient(server.url, { pingIntervalMs: 30_000 });
    try {
      expect(pingsDuring(traffic, 90_000, 5000)).toBe(3);
    } finally {
      client.close();
      await server.close();
    }
  });

  it.each([[1], [4999], [3_600_001], [-540_000], ['540000'], [null], [{ ms: 540_000 }]])(
    'ignores an advertised keep-alive of %j and keeps 25 s',
    async (advertised) => {
      const server = await keepAliveServer(advertised);
      const { client, traffic } = await joinedClient(server.url);
      try {
        expect(pingsDuring(traffic, 50_000, 5000)).toBe(2);
      } finally {
        client.close();
        await server.close();
      }
    },
  );

  it('takes the interval from a pong too', async () => {
    const server = await keepAliveServer(undefined, 120_000);
    const { client, traffic } = await joinedClient(server.url);
    try {
      // The first ping at the default 25 s; its pong moves the next to 120 s after it.
      expect(pingsDuring(traffic, 25_000, 5000)).toBe(1);
      await eventually(() => traffic.pongs === 1);
      expect(pingsDuring(traffic, 115_000, 5000)).toBe(0);
      expect(pingsDuring(traffic, 5000, 5000)).toBe(1);
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe.each(RUNTIMES)('the keep-alive advertised on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime(runtime);
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('is in joined and pong on API Gateway (540 s, inside its 10-minute idle timeout), absent on the gateway', async () => {
    const token = await makeToken({ sub: 'k', rooms: ['k1'] });
    const socket = new WebSocket(`${wsUrl(gateway)}?token=${encodeURIComponent(token)}`);
    const frames: { type: string; keepAliveMs?: number }[] = [];
    socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { type: string; frames?: typeof frames };
      frames.push(...(frame.type === 'batch' ? frame.frames! : [frame]));
    });
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ action: 'join', room: 'k1', id: 'j' }));
      socket.send(JSON.stringify({ action: 'ping', id: 'p' }));
      await eventually(() => frames.some((f) => f.type === 'joined') && frames.some((f) => f.type === 'pong'));
      const expected = runtime === 'apigw-emulator' ? 540_000 : undefined;
      expect(frames.find((f) => f.type === 'joined')!.keepAliveMs).toBe(expected);
      expect(frames.find((f) => f.type === 'pong')!.keepAliveMs).toBe(expected);
    } finally {
      socket.close();
    }
  });
});
