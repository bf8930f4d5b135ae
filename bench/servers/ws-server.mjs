// Baseline: a raw `ws` room server speaking Classwire's frames (join → joined, publish → ack + message to
// every member), with the same HS256 token check before the upgrade (fast-jwt, as Classwire's gateway), and none of Classwire's
// guarantees (no history, no dedup, no rate limit, no send-buffer limit).
//   BENCH_MODE=stringify  one JSON.stringify per message, then ws.send(string) to every member
//                         (ws converts and frames the string once per member)
//   BENCH_MODE=preframed  one JSON.stringify and one ws Sender.frame per message, then the same
//                         framed buffer written to every member's socket: the practical
//                         limit of Node and ws
// Env: PORT, BENCH_SECRET, BENCH_MODE. Binds 127.0.0.1. GET /healthz answers 200.
import { Buffer } from 'node:buffer';
import { URL } from 'node:url';
import process from 'node:process';
import { createServer } from 'node:http';
import { createVerifier } from 'fast-jwt';
// Sender is a named export of ws's ESM wrapper (@types/ws declares it only as WebSocket.Sender).
import { Sender, WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT);
const mode = process.env.BENCH_MODE === 'preframed' ? 'preframed' : 'stringify';
const verifyToken = createVerifier({ key: process.env.BENCH_SECRET ?? '', algorithms: ['HS256'], cache: false });

/** @typedef {{ userId: string, role: string, name: string }} Member */
/** @type {Map<string, Set<WebSocket>>} */
const rooms = new Map();
/** @type {Map<string, number>} */
const seqs = new Map();
/** @type {WeakMap<WebSocket, Member>} */
const members = new WeakMap();

const server = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' }).end();
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 32768 });

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
  /** @type {Record<string, unknown>} */
  let payload;
  try {
    payload = verifyToken(token);
  } catch {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const member = { userId: String(payload.sub), role: String(payload.role ?? 'student'), name: String(payload.name ?? payload.sub) };
  wss.handleUpgrade(req, socket, head, (ws) => accept(ws, member));
});

/**
 * @param {WebSocket} ws
 * @param {Member} member
 */
function accept(ws, member) {
  members.set(ws, member);
  /** @type {Set<string>} */
  const joined = new Set();
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    for (const room of joined) rooms.get(room)?.delete(ws);
  });
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return;
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(raw.toString());
    } catch {
      return;
    }
    if (frame.action === 'join' && typeof frame.room === 'string') {
      let set = rooms.get(frame.room);
      if (set === undefined) rooms.set(frame.room, (set = new Set()));
      set.add(ws);
      joined.add(frame.room);
      ws.send(JSON.stringify({ type: 'joined', room: frame.room, seq: seqs.get(frame.room) ?? 0, id: frame.id }));
    } else if (frame.action === 'publish' && joined.has(frame.room)) {
      const seq = (seqs.get(frame.room) ?? 0) + 1;
      seqs.set(frame.room, seq);
      const text = JSON.stringify({ type: 'message', room: frame.room, seq, ts: Date.now(), event: frame.event, data: frame.data, from: member, id: frame.id });
      broadcast(/** @type {Set<WebSocket>} */ (rooms.get(frame.room)), text);
      ws.send(JSON.stringify({ type: 'ack', id: frame.id, room: frame.room, seq }));
    }
  });
}

/**
 * @param {Set<WebSocket>} set
 * @param {string} text
 */
function broadcast(set, text) {
  if (mode === 'stringify') {
    for (const ws of set) if (ws.readyState === WebSocket.OPEN) ws.send(text);
    return;
  }
  const data = Buffer.from(text);
  // Unmasked server frame: [header, payload], joined once; the same buffer goes to every member.
  const frame = Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }));
  for (const ws of set) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    // `_socket` is ws's net.Socket. Without permessage-deflate ws writes each frame synchronously, so a
    // whole frame written here never interleaves with one of ws's own.
    const socket = /** @type {import('node:net').Socket} */ (/** @type {any} */ (ws)._socket);
    socket.write(frame);
  }
}

server.listen(port, '127.0.0.1');
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
