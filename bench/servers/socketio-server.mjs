// Baseline: Socket.IO 4 with rooms. The handshake carries the same HS256 token (checked with fast-jwt, as
// Classwire's gateway, in a middleware); `join` (ack: joined) puts the socket in a room; `publish` (ack: seq) emits one `message`
// event to the room with io.to(room), which Socket.IO encodes once per broadcast.
// Env: PORT, BENCH_SECRET, and BENCH_REDIS_URL for the Redis adapter (@socket.io/redis-adapter on ioredis)
// so that several nodes share rooms. Binds 127.0.0.1. GET /healthz answers 200.
import { setTimeout } from 'node:timers';
import process from 'node:process';
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { createVerifier } from 'fast-jwt';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
const verifyToken = createVerifier({ key: process.env.BENCH_SECRET ?? '', algorithms: ['HS256'], cache: false });
const redisUrl = process.env.BENCH_REDIS_URL;

const httpServer = createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end();
});
/** @type {Partial<import('socket.io').ServerOptions>} */
const options = { serveClient: false, transports: ['websocket'], perMessageDeflate: false, maxHttpBufferSize: 32768 };
/** @type {Redis[]} */
const redisClients = [];
if (redisUrl !== undefined) {
  const pub = new Redis(redisUrl, { lazyConnect: true });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  redisClients.push(pub, sub);
  options.adapter = createAdapter(pub, sub);
}
const io = new Server(httpServer, options);

/** @type {Map<string, number>} */
const seqs = new Map();

io.use((socket, next) => {
  const token = typeof socket.handshake.auth.token === 'string' ? socket.handshake.auth.token : '';
  /** @type {Record<string, unknown>} */
  let payload;
  try {
    payload = verifyToken(token);
  } catch {
    next(new Error('unauthorized'));
    return;
  }
  socket.data.from = { userId: String(payload.sub), role: String(payload.role ?? 'student'), name: String(payload.name ?? payload.sub) };
  next();
});

io.on('connection', (socket) => {
  socket.on('join', (/** @type {{ room: string, id?: string }} */ frame, /** @type {(reply: unknown) => void} */ ack) => {
    void socket.join(frame.room);
    if (typeof ack === 'function') ack({ type: 'joined', room: frame.room, seq: seqs.get(frame.room) ?? 0, id: frame.id });
  });
  socket.on('publish', (/** @type {{ room: string, event: string, data: unknown, id: string }} */ frame, /** @type {(reply: unknown) => void} */ ack) => {
    if (!socket.rooms.has(frame.room)) return;
    // Per node; with the Redis adapter it is not a room-wide order (Socket.IO has none).
    const seq = (seqs.get(frame.room) ?? 0) + 1;
    seqs.set(frame.room, seq);
    io.to(frame.room).emit('message', { type: 'message', room: frame.room, seq, ts: Date.now(), event: frame.event, data: frame.data, from: socket.data.from, id: frame.id });
    if (typeof ack === 'function') ack({ type: 'ack', id: frame.id, room: frame.room, seq });
  });
});

httpServer.listen(port, '127.0.0.1');
const stop = () => {
  void io.close(() => {
    for (const client of redisClients) client.disconnect();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
