import { composeBatchFrames, composeMessageFrame, encodeJoinedFrame, encodeMessageBody, encodePresenceFrame } from '@classwire/protocol';
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventually, sdkClient } from './helpers.js';

const SENDER = { userId: 'teacher', role: 'teacher' as const, name: 'T' };

function stored(seq: number): string {
  return composeMessageFrame('r', seq, 1000 + seq, encodeMessageBody('board.stroke', { n: seq }, SENDER, `m-${seq}`));
}

/** A real socket server that answers the first join with seq 0, then lets the test push frames; later joins (resumes) are recorded. */
async function scriptedServer(): Promise<{ url: string; pushed: Promise<WebSocket>; joins: { since?: number }[]; close(): Promise<void> }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const joins: { since?: number }[] = [];
  const pushed = new Promise<WebSocket>((resolve) => {
    server.on('connection', (socket) => {
      socket.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { action: string; room: string; id?: string; since?: number };
        if (frame.action !== 'join') return;
        joins.push(frame.since === undefined ? {} : { since: frame.since });
        if (frame.since === undefined) {
          socket.send(encodeJoinedFrame({ room: frame.room, connectionId: 'c', seq: 0, epoch: 'e', recovered: false, presence: [], id: frame.id }));
          resolve(socket);
          return;
        }
        // A resume: replay what is missing (as one batch), then joined.
        const missing = [];
        for (let seq = frame.since + 1; seq <= 6; seq++) missing.push(stored(seq));
        for (const text of composeBatchFrames(missing, 32 * 1024)) socket.send(text);
        socket.send(encodeJoinedFrame({ room: frame.room, connectionId: 'c', seq: 6, epoch: 'e', recovered: true, presence: [], id: frame.id }));
      });
    });
  });
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}`, pushed, joins, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('the SDK with batch frames', () => {
  it('handles the frames of a batch in order as if they had arrived one by one: events, dedup, reordering, presence', async () => {
    const server = await scriptedServer();
    const client = sdkClient(server.url, { token: 'unused' });
    try {
      const room = client.join('r');
      const seen: number[] = [];
      const presence: string[] = [];
      room.on('*', (m) => seen.push(m.seq!));
      room.onPresence((change) => presence.push(`${change.action}:${change.member.userId}`));
      await room.ready;
      const socket = await server.pushed;
      const join = encodePresenceFrame('r', 'join', { userId: 'student', name: 'S', role: 'student' });
      // Out of order and repeated inside one batch, a repeat across batches, a presence frame among the messages.
      socket.send(composeBatchFrames([stored(2), stored(1), join, stored(2)], 32 * 1024)[0]!);
      socket.send(composeBatchFrames([stored(3), stored(1), stored(4)], 32 * 1024)[0]!);
      await eventually(() => seen.length === 4);
      expect(seen).toEqual([1, 2, 3, 4]);
      expect(presence).toEqual(['join:student']);
      expect(server.joins).toEqual([{}]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('sees a gap inside a batch and resumes from the last seq it delivered', async () => {
    const server = await scriptedServer();
    const client = sdkClient(server.url, { token: 'unused', gapTimeoutMs: 20 });
    try {
      const room = client.join('r');
      const seen: number[] = [];
      room.on('*', (m) => seen.push(m.seq!));
      await room.ready;
      const socket = await server.pushed;
      // Message 3 is missing: 1 and 2 are delivered, 4 is held, then the SDK resumes from 2.
      socket.send(composeBatchFrames([stored(1), stored(2), stored(4)], 32 * 1024)[0]!);
      await eventually(() => seen.length === 6);
      expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
      expect(server.joins).toEqual([{}, { since: 2 }]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('ignores a nested batch, non-object entries and a batch without a frames array, and keeps working', async () => {
    const server = await scriptedServer();
    const errors: unknown[] = [];
    const client = sdkClient(server.url, { token: 'unused' });
    client.on('error', (error) => errors.push(error));
    try {
      const room = client.join('r');
      const seen: number[] = [];
      room.on('*', (m) => seen.push(m.seq!));
      await room.ready;
      const socket = await server.pushed;
      socket.send(`{"type":"batch","frames":[{"type":"batch","frames":[${stored(1)}]},null,7,"x",[],{"type":"nonsense"}]}`);
      socket.send('{"type":"batch","frames":{"0":1}}');
      socket.send('{"type":"batch"}');
      socket.send('null');
      socket.send(composeBatchFrames([stored(1), stored(2)], 32 * 1024)[0]!);
      await eventually(() => seen.length === 2);
      expect(seen).toEqual([1, 2]);
      expect(errors).toEqual([]);
      expect(server.joins).toEqual([{}]);
    } finally {
      client.close();
      await server.close();
    }
  });
});
