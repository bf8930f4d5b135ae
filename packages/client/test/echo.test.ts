import { composeMessageFrame, encodeAckFrame, encodeJoinedFrame, encodeMessageBody, type Sender } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import type { Gateway } from '../../gateway/src/index.js';
import type { RoomMessage, WebSocketConstructor } from '../src/index.js';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { RUNTIMES, collect, eventually, makeToken, range, sdkClient, startRuntime, wsUrl } from './helpers.js';

const ME: Sender = { userId: 'me', role: 'student', name: 'Me' };
const OTHER: Sender = { userId: 'other', role: 'teacher', name: 'T' };

/** `ws`'s WebSocket, keeping every server frame it receives (a batch's frames one by one). */
function recordingWebSocket(received: { type: string; from?: Sender; seq?: number }[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { type: string; frames?: typeof received };
        received.push(...(frame.type === 'batch' ? frame.frames! : [frame]));
      });
    }
  } as unknown as WebSocketConstructor;
}

/**
 * A scripted room server: a join (with `since`) replays what is stored after it, then `joined`; a
 * publish is stored and handed to `onPublish`, which decides what the socket gets (the test plays the
 * server's part). Joins are recorded.
 */
async function scriptedRoom(onPublish: (socket: ServerSocket, frame: { id: string; event: string; data: unknown; echo?: boolean }, seq: number, attempt: number) => void) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const stored: string[] = [];
  const ids = new Map<string, number>();
  const attempts = new Map<string, number>();
  const joins: { since?: number }[] = [];
  const publishes: { echo?: boolean }[] = [];
  server.on('connection', (socket) => {
    socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { action: string; room: string; id: string; since?: number; event: string; data: unknown; echo?: boolean };
      if (frame.action === 'join') {
        joins.push(frame.since === undefined ? {} : { since: frame.since });
        for (const text of stored.slice(frame.since ?? stored.length)) socket.send(text);
        socket.send(encodeJoinedFrame({ room: 'r', connectionId: 'c', seq: stored.length, epoch: 'e', recovered: frame.since !== undefined, presence: [], id: frame.id }));
      } else if (frame.action === 'publish') {
        publishes.push(frame.echo === undefined ? {} : { echo: frame.echo });
        let seq = ids.get(frame.id);
        if (seq === undefined) {
          stored.push(composeMessageFrame('r', stored.length + 1, 1000 + stored.length + 1, encodeMessageBody(frame.event, frame.data, ME, frame.id)));
          seq = stored.length;
          ids.set(frame.id, seq);
        }
        const attempt = (attempts.get(frame.id) ?? 0) + 1;
        attempts.set(frame.id, attempt);
        onPublish(socket, frame, seq, attempt);
      }
    });
  });
  /** Stores a message from someone else and returns its frame. */
  const storeOther = (data: unknown): string => {
    const text = composeMessageFrame('r', stored.length + 1, 1000 + stored.length + 1, encodeMessageBody('chat.message', data, OTHER, `o${stored.length + 1}`));
    stored.push(text);
    return text;
  };
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}`, joins, publishes, storeOther, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const ackFor = (id: string, seq: number) => encodeAckFrame(id, 'r', seq, { ts: 1000 + seq, epoch: 'e', from: ME });

describe('the SDK without echoes (scripted server)', () => {
  it('shows its own message from the ack, in seq order, when the next message overtook the ack: not a gap', async () => {
    const room = await scriptedRoom((socket, frame, seq) => {
      // The room's next message reaches the sender before the ack of its own (API Gateway posts concurrently).
      socket.send(room.storeOther({ after: seq }));
      socket.send(ackFor(frame.id, seq));
    });
    const client = sdkClient(room.url, { token: 'unused', echo: false, gapTimeoutMs: 50 });
    try {
      const joined = client.join('r');
      const seen: RoomMessage[] = [];
      joined.on('*', collect(seen));
      await joined.ready;
      expect(await joined.publish('chat.message', { text: 'mine' })).toBe(1);
      await eventually(() => seen.length === 2);
      expect(seen).toEqual([
        { room: 'r', seq: 1, ts: 1001, event: 'chat.message', data: { text: 'mine' }, from: ME, id: expect.any(String) as unknown, ephemeral: false },
        { room: 'r', seq: 2, ts: 1002, event: 'chat.message', data: { after: 1 }, from: OTHER, id: 'o2', ephemeral: false },
      ]);
      expect(room.publishes).toEqual([{ echo: false }]);
      // Still one join after longer than the gap timeout: no resume was needed.
      await joined.publish('chat.message', 'next');
      await eventually(() => seen.length === 4);
      expect(seen.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      expect(room.joins).toEqual([{}]);
    } finally {
      client.close();
      await room.close();
    }
  });

  it('resumes at the gap when the ack is lost, gets its message from the replay, and shows it once', async () => {
    const room = await scriptedRoom((socket, frame, seq, attempt) => {
      if (attempt === 1) {
        // Stored, but the ack is lost; the room moves on.
        socket.send(room.storeOther('after the lost ack'));
        return;
      }
      socket.send(ackFor(frame.id, seq));
    });
    const client = sdkClient(room.url, { token: 'unused', echo: false, gapTimeoutMs: 20, ackTimeoutMs: 300 });
    try {
      const joined = client.join('r');
      const seen: RoomMessage[] = [];
      joined.on('*', collect(seen));
      await joined.ready;
      expect(await joined.publish('chat.message', { text: 'mine' })).toBe(1);
      await eventually(() => seen.length === 2);
      expect(seen.map((m) => [m.seq, m.from.userId])).toEqual([
        [1, 'me'],
        [2, 'other'],
      ]);
      expect(room.joins).toEqual([{}, { since: 0 }]);
      expect(joined.lastSeq).toBe(2);
    } finally {
      client.close();
      await room.close();
    }
  });

  it('does not show a message from an ack of another epoch (its resume will)', async () => {
    const room = await scriptedRoom((socket, frame, seq) => socket.send(encodeAckFrame(frame.id, 'r', seq, { ts: 5, epoch: 'other-epoch', from: ME })));
    const client = sdkClient(room.url, { token: 'unused', echo: false });
    try {
      const joined = client.join('r');
      const seen: RoomMessage[] = [];
      joined.on('*', collect(seen));
      await joined.ready;
      expect(await joined.publish('chat.message', 'x')).toBe(1);
      expect(seen).toEqual([]);
      expect(joined.lastSeq).toBe(0);
    } finally {
      client.close();
      await room.close();
    }
  });

  it('sends echo: false only when asked', async () => {
    const room = await scriptedRoom((socket, frame, seq) => socket.send(encodeAckFrame(frame.id, 'r', seq)));
    const client = sdkClient(room.url, { token: 'unused' });
    try {
      const joined = client.join('r');
      await joined.ready;
      await joined.publish('chat.message', 'x');
      expect(room.publishes).toEqual([{}]);
    } finally {
      client.close();
      await room.close();
    }
  });
});

describe.each([...RUNTIMES, 'gateway on Redis'])('the SDK without echoes on %s', (runtime) => {
  let gateway: Gateway;
  let redis: RedisProcess | undefined;

  beforeAll(async () => {
    const limits = { CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' };
    if (runtime === 'gateway on Redis') {
      redis = await RedisProcess.start();
      gateway = await startRuntime('gateway', { ...limits, CLASSWIRE_REDIS_URL: redis.url });
    } else {
      gateway = await startRuntime(runtime as (typeof RUNTIMES)[number], limits);
    }
  });
  afterAll(async () => {
    await gateway.drain();
    await redis?.stop();
  });

  it('receives none of its own messages, yet its room shows exactly what the other members see, in order', async () => {
    const wire: { type: string; from?: Sender; seq?: number }[] = [];
    const quiet = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'quiet', name: 'Quiet', rooms: ['e1'] }), echo: false, WebSocket: recordingWebSocket(wire) });
    const loud = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'loud', name: 'Loud', rooms: ['e1'] }) });
    try {
      const quietRoom = quiet.join('e1');
      const loudRoom = loud.join('e1');
      await Promise.all([quietRoom.ready, loudRoom.ready]);
      const seenByQuiet: RoomMessage[] = [];
      const seenByLoud: RoomMessage[] = [];
      quietRoom.on('*', collect(seenByQuiet));
      loudRoom.on('*', collect(seenByLoud));
      // Both publish at once: the quiet one's messages interleave with the other's.
      const [quietSeqs] = await Promise.all([
        Promise.all(range(1, 10).map((i) => quietRoom.publish('chat.message', { quiet: i, nested: [i, null, { s: 'é"' }] }))),
        Promise.all(range(1, 10).map((i) => loudRoom.publish('chat.message', { loud: i }))),
      ]);
      await eventually(() => seenByQuiet.length === 20 && seenByLoud.length === 20);
      expect(seenByQuiet).toEqual(seenByLoud);
      expect(seenByQuiet.map((m) => m.seq)).toEqual(range(1, 20));
      expect(seenByQuiet.filter((m) => m.from.userId === 'quiet').map((m) => m.seq)).toEqual(quietSeqs);
      // Over the wire the quiet client got the other's 10 messages and none of its own.
      const messages = wire.filter((f) => f.type === 'message');
      expect(messages.map((f) => f.from!.userId)).toEqual(Array<string>(10).fill('loud'));
      expect(wire.filter((f) => f.type === 'ack')).toHaveLength(10);
    } finally {
      quiet.close();
      loud.close();
    }
  });

  it('gets its own messages in a resume\'s replay (the history keeps them)', async () => {
    const quiet = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'quiet2', rooms: ['e2'] }), echo: false });
    const later = sdkClient(wsUrl(gateway), { token: await makeToken({ sub: 'later', rooms: ['e2'] }) });
    try {
      const room = quiet.join('e2');
      await room.ready;
      await room.publish('chat.message', 1);
      await room.publish('chat.message', 2);
      const page = await later.join('e2').history();
      expect(page.messages.map((m) => [m.seq, m.from.userId])).toEqual([
        [1, 'quiet2'],
        [2, 'quiet2'],
      ]);
    } finally {
      quiet.close();
      later.close();
    }
  });
});
