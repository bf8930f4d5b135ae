// Isolation benchmark: a class of 25 on a gateway in its own process (the built CLI, default limits,
// classroom on) where 24 members chat and draw while the 25th misbehaves in one way. Prints, per
// misbehaviour, the p50/p99 delivery latency the 24 saw (publish sent → message received, each of the
// 24 receivers), its ratio to a quiet run on the same kind of server, the server's CPU seconds, and the
// frames and bytes it sent (from /metrics). See docs/security.md ("Isolation").
//
//   npm run build --silent && node bench/isolation.mjs [--repeats 2] [--only "spams the board,quiet"]
//
// The server is pinned to core 0 and this process (the 25 clients) to core 1 when taskset exists, like
// the other bench targets. The integration test (packages/gateway/test/adversarial/isolation.test.ts)
// asserts delivery and the limits; latency lives here because tests never assert wall-clock speed.
import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { setImmediate } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { TextEncoder, parseArgs } from 'node:util';
import { URL } from 'node:url';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { cpuSeconds, freePort, tasksetAvailable } from './lib/proc.mjs';
import { killAll, spawnTracked, stopChild } from './lib/targets.mjs';

const CLI = new URL('../packages/cli/dist/cli.js', import.meta.url).pathname;
const CLASS_SIZE = 25;
const ROUNDS = 6;
const ROOM = 'class';
const MAX_FRAME_BYTES = 32 * 1024;
const MAX_STROKE_POINTS = 1000;
const FLOODER_BUFFER_BYTES = 1024 * 1024;

const { values: flags } = parseArgs({
  options: {
    repeats: { type: 'string', default: '2' },
    only: { type: 'string' },
    // Extra server variables, e.g. limits lifted to compare with: "CLASSWIRE_BOARD_BYTES_BURST=10000000,...".
    env: { type: 'string', default: '' },
    // Extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
    'server-node-args': { type: 'string', default: '' },
    // Internal: this process is the misbehaving member (a child of the benchmark).
    misbehave: { type: 'string' },
    url: { type: 'string' },
    'no-taskset': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write('Usage: node bench/isolation.mjs [--repeats N] [--only "name,name"] [--env "NAME=value,..."] [--no-taskset]\n');
  process.exit(0);
}
const serverEnv = Object.fromEntries(
  flags.env
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const pin = !flags['no-taskset'] && tasksetAvailable();
if (pin) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
process.on('exit', killAll);

/** The misbehaving child signs its tokens with the parent's secret. */
const secret = process.env.BENCH_ISOLATION_SECRET ?? randomBytes(32).toString('hex');
const key = new TextEncoder().encode(secret);

/** @param {string} sub */
function token(sub) {
  return new SignJWT({ role: 'student', name: sub, rooms: [ROOM, 'warm'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(key);
}

const MESSAGE_PREFIX = '{"type":"message",';
const ID_KEY = ',"id":"';
/** The id of a room message frame (the protocol puts it last), undefined when it has none. @param {string} text */
function messageIdOf(text) {
  const at = text.lastIndexOf(ID_KEY);
  return at === -1 ? undefined : text.slice(at + ID_KEY.length, text.lastIndexOf('"'));
}

/**
 * A raw protocol client: request/reply by id, a hook per frame, the close code.
 * @param {string} url
 * @param {string} sub
 */
async function connect(url, sub) {
  const ws = new WebSocket(`${url}?token=${await token(sub)}`, { perMessageDeflate: false });
  /** @type {Map<string, (frame: any) => void>} */
  const replies = new Map();
  /** @type {((frame: any) => void) | undefined} */
  let onFrame;
  const client = {
    ws,
    /** @type {number | undefined} */
    closeCode: undefined,
    /** @type {Map<string, number>} what it was told: frame types and error codes */
    got: new Map(),
    /** @param {(frame: any) => void} hook */
    onFrame(hook) {
      onFrame = hook;
    },
    /** @param {string} text */
    send(text) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    /** @param {Record<string, unknown> & { id: string }} frame */
    request(frame) {
      return new Promise((resolve) => {
        replies.set(frame.id, resolve);
        ws.send(JSON.stringify(frame));
      });
    },
    closed: new Promise((resolve) => ws.once('close', resolve)),
  };
  ws.on('message', (raw) => {
    const text = String(raw);
    // Room messages carry their id last: reading only that keeps the 24 receivers, which share one process
    // here but would each have a device of their own, from timing each other's parsing of large strokes.
    const frame = text.startsWith(MESSAGE_PREFIX) ? { type: 'message', id: messageIdOf(text) } : JSON.parse(text);
    const kind = frame.type === 'error' ? String(frame.code) : frame.type;
    client.got.set(kind, (client.got.get(kind) ?? 0) + 1);
    onFrame?.(frame);
    if (typeof frame.id === 'string' && frame.type !== 'message') {
      replies.get(frame.id)?.(frame);
      replies.delete(frame.id);
    }
  });
  ws.on('close', (code) => {
    client.closeCode = code;
  });
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return client;
}
/** @typedef {Awaited<ReturnType<typeof connect>>} Client */

/** @param {Client} client @param {string} room */
async function join(client, room) {
  const reply = /** @type {any} */ (await client.request({ action: 'join', room, id: `join-${room}` }));
  if (reply.type !== 'joined') throw new Error(`join refused: ${JSON.stringify(reply)}`);
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** @param {string} id @param {number} points */
const stroke = (id, points) => ({ id, color: '#112233', width: 3, points: Array.from({ length: points }, (_, i) => ((i * 7919) % 10_000) / 10_000) });

/**
 * @typedef {{ connect: () => Promise<Client>, done: () => boolean }} Context
 * @param {Client} client @param {Context} ctx @param {(i: number) => string} frame @param {number} perBurst
 */
async function burst(client, ctx, frame, perBurst = 50) {
  for (let i = 0; !ctx.done() && client.closeCode === undefined; ) {
    for (let end = i + perBurst; i < end && client.ws.readyState === WebSocket.OPEN; i++) client.send(frame(i));
    await turn();
    // A flooder on its own machine sends as fast as its link takes it; one that buffered without bound here
    // would spend this machine's memory and CPU, which the 24 receivers share, when the server stops reading.
    while (client.ws.bufferedAmount > FLOODER_BUFFER_BYTES && !ctx.done() && client.closeCode === undefined) await sleep(5);
  }
}

/** @param {Context} ctx @param {(client: Client) => Promise<void>} act */
async function reconnecting(ctx, act) {
  while (!ctx.done()) {
    const client = await ctx.connect();
    await act(client);
    client.ws.terminate();
  }
}

/** The same misbehaviours as the integration test. @type {Record<string, (ctx: Context) => Promise<void>>} */
const MISBEHAVIOURS = {
  'floods frames': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => JSON.stringify({ action: 'publish', room: ROOM, event: 'chat.message', data: { text: `spam ${i}` }, id: `f${i}` }));
  },
  'floods bytes': async (ctx) => {
    const client = await ctx.connect();
    const padding = 'b'.repeat(MAX_FRAME_BYTES - 200);
    await burst(client, ctx, (i) => JSON.stringify({ action: 'ping', id: `b${i}`, padding }), 10);
  },
  'sends oversize frames': (ctx) =>
    reconnecting(ctx, async (client) => {
      client.send(JSON.stringify({ action: 'publish', room: ROOM, event: 'chat.message', data: { text: 'o'.repeat(40 * 1024) }, id: 'big' }));
      await client.closed;
    }),
  'sends invalid JSON': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => `{"action":"publish","room":"${ROOM}",${'['.repeat(i % 50)}`);
  },
  'sends deep nesting': async (ctx) => {
    const client = await ctx.connect();
    const deep = `${'['.repeat(12_000)}${']'.repeat(12_000)}`;
    await burst(client, ctx, (i) => `{"action":"publish","room":"${ROOM}","event":"custom.deep","id":"d${i}","data":${deep}}`, 5);
  },
  'reads nothing (slow reader) and asks for snapshots': async (ctx) => {
    const client = await ctx.connect();
    client.ws.pause();
    await burst(client, ctx, (i) => JSON.stringify({ action: 'join', room: ROOM, id: `j${i}` }), 5);
    client.ws.terminate();
  },
  'rejoins in a loop': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => JSON.stringify(i % 2 === 0 ? { action: 'leave', room: ROOM } : { action: 'join', room: ROOM }), 20);
  },
  'spams the board': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => JSON.stringify({ action: 'publish', room: ROOM, event: 'wb.stroke', data: stroke(`spam-${i}`, MAX_STROKE_POINTS), id: `s${i}` }), 5);
  },
};

/** @param {number} port */
function scrape(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        /** @param {string} name */
        const sum = (name) => [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
        // prom-client resets the event-loop delay histogram at each scrape: the max is the longest stall since the last one.
        resolve({ framesOut: sum('classwire_frames_out_total'), bytesOut: sum('classwire_bytes_out_total'), loopMaxMs: sum('nodejs_eventloop_lag_max_seconds') * 1000 });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** @param {number[]} sorted @param {number} p */
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/**
 * One class on a fresh server: a warm-up quiet class in another room first (so every run meets an equally
 * warm JIT), then the measured class with `misbehaviour`.
 * @param {string} name @param {((ctx: Context) => Promise<void>) | undefined} misbehaviour
 */
async function runClass(name, misbehaviour) {
  const port = await freePort();
  const server = spawnTracked({
    command: [process.execPath, ...flags['server-node-args'].split(' ').filter(Boolean), CLI, 'serve'],
    env: { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', CLASSWIRE_JWT_SECRET: secret, CLASSWIRE_CLASSROOM: '1', CLASSWIRE_DRAIN_TIMEOUT_MS: '500', ...serverEnv },
    core: pin ? '0' : undefined,
  });
  const url = `ws://127.0.0.1:${port}/ws`;
  for (let i = 0; ; i++) {
    if (await scrape(port).then(() => true, () => false)) break;
    if (i > 300) throw new Error(`the server did not start:\n${server.output()}`);
    await sleep(50);
  }
  try {
    await measureClass(url, 'warm-up', undefined);
    const pid = /** @type {number} */ (server.child.pid);
    const before = /** @type {{ framesOut: number, bytesOut: number }} */ (await scrape(port));
    const cpuBefore = cpuSeconds(pid) ?? 0;
    const result = await measureClass(url, name, misbehaviour);
    const cpu = (cpuSeconds(pid) ?? 0) - cpuBefore;
    const after = /** @type {{ framesOut: number, bytesOut: number, loopMaxMs: number }} */ (await scrape(port));
    return { ...result, cpu, framesOut: after.framesOut - before.framesOut, bytesOut: after.bytesOut - before.bytesOut, loopMaxMs: after.loopMaxMs };
  } finally {
    await stopChild(server.child);
  }
}

/** @param {string} url @param {string} name @param {((ctx: Context) => Promise<void>) | undefined} misbehaviour */
async function measureClass(url, name, misbehaviour) {
  const room = name === 'warm-up' ? 'warm' : ROOM;
  /** @type {Client[]} */
  const members = [];
  for (let i = 0; i < CLASS_SIZE - 1; i++) {
    const member = await connect(url, `${room}-member-${i}`);
    await join(member, room);
    members.push(member);
  }
  /** @type {Map<string, number>} */
  const sentAt = new Map();
  /** @type {number[]} */
  const latencies = [];
  /** @type {number[]} */
  const acked = [];
  let expected = Infinity;
  /** @type {() => void} */
  let allDelivered = () => undefined;
  const delivered = new Promise((resolve) => (allDelivered = () => resolve(undefined)));
  for (const member of members) {
    member.onFrame((frame) => {
      if (frame.type !== 'message') return;
      const at = sentAt.get(frame.id);
      if (at !== undefined) latencies.push(performance.now() - at);
      if (latencies.length >= expected) allDelivered();
    });
  }
  const misbehaver = misbehaviour === undefined ? undefined : startMisbehaver(url, name);
  await misbehaver?.started;
  await Promise.all(
    members.map(async (member, index) => {
      for (let round = 0; round < ROUNDS; round++) {
        for (const [event, data] of /** @type {const} */ ([
          ['chat.message', { text: `hello ${round} from ${index}` }],
          ['wb.stroke', stroke(`m${index}-${round}`, 20)],
        ])) {
          const id = `m${index}-${round}-${event}`;
          sentAt.set(id, performance.now());
          const reply = /** @type {any} */ (await member.request({ action: 'publish', room, event, data, id }));
          if (reply.type !== 'ack') throw new Error(`${name}: ${id} was refused: ${JSON.stringify(reply)}`);
          acked.push(reply.seq);
        }
      }
    }),
  );
  expected = acked.length * members.length;
  if (latencies.length >= expected) allDelivered();
  await Promise.race([delivered, sleep(15_000)]);
  const fate = (await misbehaver?.stop()) ?? '';
  const closedMembers = members.filter((m) => m.closeCode !== undefined).length;
  for (const client of members) client.ws.terminate();
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    deliveries: latencies.length,
    expected: acked.length * members.length,
    closedMembers,
    misbehaver: fate,
  };
}

/**
 * The misbehaving member runs in a process of its own, at the lowest priority: a misbehaving user sits on
 * another machine, so its own CPU use must not delay the 24 receivers (which share this process).
 * @param {string} url @param {string} name
 */
function startMisbehaver(url, name) {
  const proc = spawnTracked({
    command: ['nice', '-n', '19', process.execPath, new URL(import.meta.url).pathname, '--misbehave', name, '--url', url],
    env: { BENCH_ISOLATION_SECRET: secret },
    core: pin ? '1' : undefined,
    ipc: 'ipc',
  });
  /** @type {(fate: string) => void} */
  let reported = () => undefined;
  const fate = new Promise((resolve) => (reported = resolve));
  /** @type {() => void} */
  let ready = () => undefined;
  const started = new Promise((resolve) => (ready = () => resolve(undefined)));
  proc.child.on('message', (/** @type {any} */ message) => {
    if (message.started === true) ready();
    if (typeof message.fate === 'string') reported(message.fate);
  });
  return {
    started,
    async stop() {
      proc.child.send({ stop: true });
      const result = /** @type {string} */ (await Promise.race([fate, sleep(10_000).then(() => 'did not report')]));
      await stopChild(proc.child);
      return result;
    },
  };
}

/** The child side: misbehaves until told to stop, then reports what it was told. */
async function misbehave(/** @type {string} */ name, /** @type {string} */ url) {
  let finished = false;
  process.on('message', (/** @type {any} */ message) => {
    if (message.stop === true) finished = true;
  });
  /** @type {Client[]} */
  const clients = [];
  const misbehaviour = MISBEHAVIOURS[name];
  if (misbehaviour === undefined) throw new Error(`no misbehaviour "${name}"`);
  /** @type {(() => void) | undefined} */
  let started = () => process.send?.({ started: true });
  await misbehaviour({
    done: () => finished,
    connect: async () => {
      const client = await connect(url, 'mallory');
      await join(client, ROOM).catch(() => undefined);
      clients.push(client);
      started?.();
      started = undefined;
      return client;
    },
  });
  // Wait for the stop even when the misbehaviour ended early (closed for good).
  started?.();
  while (!finished) await sleep(20);
  /** @type {Map<string, number>} */
  const fate = new Map();
  for (const client of clients) {
    for (const [kind, count] of client.got) fate.set(kind, (fate.get(kind) ?? 0) + count);
    const closed = `closed ${client.closeCode ?? 'by itself'}`;
    fate.set(closed, (fate.get(closed) ?? 0) + 1);
  }
  process.send?.({ fate: [...fate].map(([kind, count]) => `${kind} ×${count}`).join(', ') }, () => process.exit(0));
}

if (flags.misbehave !== undefined) {
  await misbehave(flags.misbehave, /** @type {string} */ (flags.url));
  await new Promise(() => undefined);
}

const names = ['quiet', ...Object.keys(MISBEHAVIOURS)].filter((name) => flags.only === undefined || name === 'quiet' || flags.only.split(',').includes(name));
const repeats = Number(flags.repeats);
/** @type {Map<string, { p50: number, p99: number, ratio: number, cpu: number, framesOut: number, bytesOut: number }[]>} */
const table = new Map(names.map((name) => [name, []]));
for (let repeat = 1; repeat <= repeats; repeat++) {
  let quietP99 = 0;
  for (const name of names) {
    const r = await runClass(name, MISBEHAVIOURS[name]);
    if (name === 'quiet') quietP99 = r.p99;
    const ratio = r.p99 / quietP99;
    table.get(name)?.push({ p50: r.p50, p99: r.p99, ratio, cpu: r.cpu, framesOut: r.framesOut, bytesOut: r.bytesOut });
    if (r.deliveries !== r.expected || r.closedMembers > 0) {
      process.stdout.write(`!! ${name}: ${r.deliveries}/${r.expected} deliveries, ${r.closedMembers} members closed\n`);
      process.exitCode = 1;
    }
    process.stdout.write(
      `run ${repeat}  ${name.padEnd(52)} p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  ` +
        `p99/quiet ${ratio.toFixed(2)}  server CPU ${r.cpu.toFixed(2)} s  loop stall max ${r.loopMaxMs.toFixed(0)} ms  out ${r.framesOut} frames ${(r.bytesOut / 1024).toFixed(0)} KiB  ${r.misbehaver}\n`,
    );
  }
}
process.stdout.write(`\n| Misbehaving member | p99/quiet (runs) | server CPU s (runs) | frames out (runs) |\n| --- | ---: | ---: | ---: |\n`);
for (const [name, rows] of table) {
  const list = (/** @type {(r: typeof rows[number]) => string} */ f) => rows.map(f).join(' / ');
  process.stdout.write(`| ${name} | ${list((r) => r.ratio.toFixed(2))} | ${list((r) => r.cpu.toFixed(2))} | ${list((r) => String(r.framesOut))} |\n`);
}
process.stdout.write(`(server pinned: ${pin ? 'core 0, clients core 1' : 'no'}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
