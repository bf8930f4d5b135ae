import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Gateway } from '../src/index.js';
import { type CoalescingState, directSocketOf, flushHeld, framePayload, textFrame, writeCoalesced } from '../src/ws-frame.js';
import { TestClient, eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';

/** A real ws server and client on loopback; resolves with the server side of the connection. */
async function socketPair(perMessageDeflate = false): Promise<{ server: WebSocket; client: WebSocket; received: string[]; stop: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate });
  const received: string[] = [];
  client.on('message', (data, isBinary) => received.push(isBinary ? '(binary)' : String(data)));
  await new Promise<void>((resolve) => client.once('open', () => resolve()));
  const server = await serverSide;
  const stop = async () => {
    client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  return { server, client, received, stop };
}

describe('server text frames', () => {
  // Every header length (2, 4 and 10 bytes) at its edges, and multi-byte UTF-8 (bytes, not characters).
  const payloads = ['', 'a', 'é'.repeat(62) + 'a', 'x'.repeat(125), 'x'.repeat(126), 'ü'.repeat(40_000), 'y'.repeat(65_535), 'z'.repeat(65_536), '{"type":"message"}'];

  it('builds frames a ws client decodes to the same text, from strings and from buffers', async () => {
    const { server, received, stop } = await socketPair();
    const socket = directSocketOf(server)!;
    expect(socket).toBeDefined();
    const state: CoalescingState = { coalescingTurn: -1, heldFrame: undefined };
    for (const [index, payload] of payloads.entries()) {
      const frame = index % 2 === 0 ? textFrame(payload) : textFrame(Buffer.from(payload));
      expect(framePayload(frame).toString()).toBe(payload);
      writeCoalesced(socket, state, frame);
    }
    await eventually(() => received.length === payloads.length);
    expect(received).toEqual(payloads);
    await stop();
  });

  it('coalesces the frames of one event-loop turn into one write after the turn', async () => {
    const { server, received, stop } = await socketPair();
    const socket = directSocketOf(server)!;
    const state: CoalescingState = { coalescingTurn: -1, heldFrame: undefined };
    writeCoalesced(socket, state, textFrame('first'));
    writeCoalesced(socket, state, textFrame('second'));
    writeCoalesced(socket, state, textFrame('third'));
    // Corked: the three frames wait in the socket for one write after the turn's I/O.
    expect(socket.writableCorked).toBe(1);
    expect(socket.writableLength).toBe(3 * 2 + 'firstsecondthird'.length);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(socket.writableCorked).toBe(0);
    await eventually(() => received.length === 3);
    expect(received).toEqual(['first', 'second', 'third']);
    // A later turn's lone frame is held, not corked, and leaves after the turn in a plain write.
    writeCoalesced(socket, state, textFrame('fourth'));
    expect(socket.writableCorked).toBe(0);
    expect(socket.writableLength).toBe(0);
    expect(state.heldFrame).toBeDefined();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(state.heldFrame).toBeUndefined();
    await eventually(() => received.length === 4);
    expect(received[3]).toBe('fourth');
    await stop();
  });

  it('writes a lone frame of a turn without corking the socket', async () => {
    const { server, received, stop } = await socketPair();
    const socket = directSocketOf(server)!;
    const state: CoalescingState = { coalescingTurn: -1, heldFrame: undefined };
    let corks = 0;
    const cork = socket.cork.bind(socket);
    socket.cork = () => {
      corks += 1;
      cork();
    };
    for (let i = 0; i < 5; i++) {
      writeCoalesced(socket, state, textFrame(`lone ${i}`));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await eventually(() => received.length === 5);
    expect(received).toEqual([0, 1, 2, 3, 4].map((i) => `lone ${i}`));
    expect(corks).toBe(0);
    await stop();
  });

  it('writes a held frame before a frame ws sends itself, and drops it once the socket has ended', async () => {
    const { server, received, stop } = await socketPair();
    const socket = directSocketOf(server)!;
    const state: CoalescingState = { coalescingTurn: -1, heldFrame: undefined };
    writeCoalesced(socket, state, textFrame('held'));
    flushHeld(socket, state);
    server.send('sent by ws');
    await eventually(() => received.length === 2);
    expect(received).toEqual(['held', 'sent by ws']);
    // Ended within the turn: the held frame is dropped at the turn's end instead of written after the end.
    await new Promise<void>((resolve) => setImmediate(resolve));
    writeCoalesced(socket, state, textFrame('too late'));
    socket.end();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(state.heldFrame).toBeUndefined();
    expect(socket.errored).toBeNull();
    await stop();
  });

  it("never holds more than 64 KiB and one frame: past that the turn's frames are flushed and go straight out", async () => {
    const { server, received, stop } = await socketPair();
    const socket = directSocketOf(server)!;
    const state: CoalescingState = { coalescingTurn: -1, heldFrame: undefined };
    const big = 'b'.repeat(40 * 1024);
    writeCoalesced(socket, state, textFrame(big));
    expect(state.heldFrame).toBeDefined();
    writeCoalesced(socket, state, textFrame(big));
    expect(state.heldFrame).toBeUndefined();
    expect(socket.writableCorked).toBe(0);
    writeCoalesced(socket, state, textFrame('after'));
    expect(socket.writableCorked).toBe(0);
    await eventually(() => received.length === 3);
    expect(received).toEqual([big, big, 'after']);
    await stop();
  });

  it('leaves framing to ws when permessage-deflate was negotiated', async () => {
    const { server, stop } = await socketPair(true);
    expect(server.extensions).toContain('permessage-deflate');
    expect(directSocketOf(server)).toBeUndefined();
    await stop();
  });
});

describe('broadcast delivery through the gateway', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(async () => {
    await gateway.drain();
  });

  const counter = async (name: 'framesOut' | 'bytesOut' | 'deliveries') => (await gateway.metrics[name].get()).values[0]?.value ?? 0;

  it('gives every member the same bytes in order, and counts frames and bytes once per broadcast correctly', async () => {
    const room = 'shared-frame';
    const clients = await Promise.all([0, 1, 2].map(async () => TestClient.connect(gateway, await makeToken({ rooms: [room] }))));
    for (const client of clients) await client.join(room);
    const bytesReceived = clients.map(() => 0);
    // Only what the publishes cause: presence frames of the joins above may still be on their way.
    clients.forEach((client, i) =>
      client.ws.on('message', (data) => {
        const type = (JSON.parse(String(data)) as { type: string }).type;
        if (type === 'message' || type === 'ack') bytesReceived[i]! += (data as Buffer).length;
      }),
    );
    const [framesBefore, bytesBefore, deliveriesBefore] = [await counter('framesOut'), await counter('bytesOut'), await counter('deliveries')];
    const publisher = clients[0]!;
    const count = 20;
    // Pipelined, so several publishes (and their acks) share event-loop turns.
    for (let i = 0; i < count; i++) publisher.send({ action: 'publish', room, event: 'chat.message', data: { i, text: 'ü'.repeat(i) }, id: `p${i}` });
    const received = await Promise.all(clients.map((client) => client.waitForMessages(room, count)));
    await eventually(() => publisher.frames.filter((f) => f.type === 'ack').length === count);
    for (const messages of received) {
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      expect(messages.map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: count }, (_, i) => i));
    }
    expect(received[1]).toEqual(received[0]);
    expect(received[2]).toEqual(received[0]);
    // Three members get each message, and the publisher its ack.
    expect((await counter('framesOut')) - framesBefore).toBe(count * 3 + count);
    expect((await counter('deliveries')) - deliveriesBefore).toBe(count * 3);
    expect((await counter('bytesOut')) - bytesBefore).toBe(bytesReceived.reduce((total, bytes) => total + bytes, 0));
    await Promise.all(clients.map((client) => client.close()));
  });
});
