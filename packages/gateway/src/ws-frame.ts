import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Server-side WebSocket text frames built by the gateway itself, so that a room broadcast is framed once
 * and the same bytes are written to every member (what `ws.send` would redo per member: a header, a
 * length, an options object), and so that frames for one socket within one event-loop turn leave in one
 * write.
 */

/** Header length (RFC 6455 §5.2) of an unmasked frame with a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** One final, unmasked text frame (servers never mask): header and payload in one buffer. */
export function textFrame(payload: string | Buffer): Buffer {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const offset = headerLength(length);
  const frame = Buffer.allocUnsafe(offset + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (offset === 2) {
    frame[1] = length;
  } else if (offset === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (typeof payload === 'string') frame.write(payload, offset, 'utf8');
  else payload.copy(frame, offset);
  return frame;
}

/** The payload of a frame built by `textFrame` (a view, no copy). */
export function framePayload(frame: Buffer): Buffer {
  const marker = frame[1]!;
  return frame.subarray(marker < 126 ? 2 : marker === 126 ? 4 : 10);
}

/** The parts of a `ws` socket the direct write path needs (not in ws's type declarations). */
interface WebSocketInternals {
  _socket: Socket | null;
  _extensions: Record<string, unknown>;
}

/**
 * The TCP socket under an open `ws` connection when frames may be written to it directly, else undefined.
 * That is safe only while ws's sender never queues: without permessage-deflate (which the gateway turns
 * off) and with Buffer/string data only, ws's own `Sender.sendFrame` is exactly a `socket.write`, so
 * frames written here and through `ws.send`/`ping`/`close` stay in order. With deflate negotiated the
 * caller falls back to `ws.send`.
 */
export function directSocketOf(ws: WebSocket): Socket | undefined {
  const internals = ws as unknown as WebSocketInternals;
  if (internals._extensions['permessage-deflate'] !== undefined) return undefined;
  return internals._socket ?? undefined;
}

/*
 * Per-turn write coalescing. A socket's first frame in an event-loop turn is held (not written), and at
 * the end of the turn, after its I/O callbacks (setImmediate), it goes out in one plain write. A second
 * frame in the same turn (a publisher's ack after its own copy of the message; several messages when the
 * server is busy and reads many publishes per turn) corks the socket, writes the held frame and itself,
 * and the socket is uncorked at the end of the turn: the turn's frames leave in one write. Holding the
 * lone frame rather than corking for it keeps the common case (one frame per member per turn) on Node's
 * direct write path: corking buffers each write in the stream and rebuilds it on uncork, which tripled
 * the garbage per delivery (docs/performance.md, "Holding the first frame"). The added wait is the rest
 * of the turn. A socket that has taken COALESCE_MAX_BYTES in one turn is flushed at once, so coalescing
 * never holds more than that plus one frame (the send-buffer limit counts the held frame too).
 */
const COALESCE_MAX_BYTES = 64 * 1024;
let turn = 0;
let turnEndScheduled = false;
/** The writers holding a frame this turn, and their sockets (reused from turn to turn). */
const holders: (CoalescingState | undefined)[] = [];
const holderSockets: (Socket | undefined)[] = [];
let holderCount = 0;
let corked: Socket[] = [];

function endTurn(): void {
  turnEndScheduled = false;
  turn += 1;
  const count = holderCount;
  holderCount = 0;
  for (let i = 0; i < count; i++) {
    const state = holders[i]!;
    const socket = holderSockets[i]!;
    holders[i] = undefined;
    holderSockets[i] = undefined;
    const frame = state.heldFrame;
    if (frame === undefined) continue;
    state.heldFrame = undefined;
    if (socket.writable) socket.write(frame);
  }
  const sockets = corked;
  corked = [];
  for (const socket of sockets) if (socket.writableCorked > 0) socket.uncork();
}

/** What a writer remembers between frames: the turn it last wrote in, and the frame it holds. */
export interface CoalescingState {
  coalescingTurn: number;
  /** This turn's first frame, until the turn ends or a second frame comes. */
  heldFrame: Buffer | undefined;
}

/** Writes one frame to `socket`, coalescing it with the socket's other frames of this turn. */
export function writeCoalesced(socket: Socket, state: CoalescingState, frame: Buffer): void {
  if (state.coalescingTurn !== turn) {
    state.coalescingTurn = turn;
    state.heldFrame = frame;
    holders[holderCount] = state;
    holderSockets[holderCount] = socket;
    holderCount += 1;
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      setImmediate(endTurn);
    }
    return;
  }
  const held = state.heldFrame;
  if (held !== undefined) {
    state.heldFrame = undefined;
    socket.cork();
    corked.push(socket);
    socket.write(held);
  }
  socket.write(frame);
  // Flushed early once the turn's frames pass the bound; later frames of the turn go straight out.
  if (socket.writableCorked > 0 && socket.writableLength >= COALESCE_MAX_BYTES) socket.uncork();
}

/**
 * Writes the frame `state` holds now: before anything that does not go through `writeCoalesced` (a close
 * frame, a frame sent by ws) so that it keeps its place in the stream.
 */
export function flushHeld(socket: Socket, state: CoalescingState): void {
  const frame = state.heldFrame;
  if (frame === undefined) return;
  state.heldFrame = undefined;
  if (socket.writable) socket.write(frame);
}
