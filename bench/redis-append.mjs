// Redis append micro-benchmark: what one published message costs the appending node and Redis, with a
// given number of appends issued in the same event-loop turn. Not part of `npm run bench`; see
// docs/performance.md ("Batched appends"). Run `npm run build` first.
//
//   node bench/redis-append.mjs --port 6390 --per-turn 40 --count 4000 [--max-batch 1]
//   node bench/redis-append.mjs --port 6390 --callgrind-pid <pid of a redis-server under callgrind>
//
// Each round issues `--per-turn` appends together (one per room, rooms cycling) and waits for all of
// them; two extra connections subscribe to every room channel, as two gateway nodes would. Prints the
// node's CPU µs per append, Redis's CPU µs per append (INFO cpu), and script calls and commands (those
// run inside scripts included) per append (INFO commandstats). With --callgrind-pid, also Redis
// instructions per append: the counters are zeroed and dumped around a short and a long phase, and the
// difference divided by the difference in appends, so the fixed costs (server cron, the dump) cancel out.
import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { URL } from 'node:url';
import { Redis } from 'ioredis';
import { encodeMessageBody } from '@classwire/protocol';
import { RedisRoomLog, redisKeys } from '@classwire/core';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '6379' },
    rooms: { type: 'string', default: '40' },
    'per-turn': { type: 'string', default: '1' },
    count: { type: 'string', default: '4000' },
    'max-batch': { type: 'string' },
    'callgrind-pid': { type: 'string' },
    'callgrind-dir': { type: 'string', default: process.cwd() },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 13).join('\n') + '\n');
  process.exit(0);
}
const port = Number(args.port);
const rooms = Number(args.rooms);
const perTurn = Number(args['per-turn']);
const count = Number(args.count);
const maxBatch = args['max-batch'] === undefined ? undefined : Number(args['max-batch']);

const prefix = `bench${process.pid}`;
const keys = redisKeys(prefix);
const redis = new Redis({ port, host: '127.0.0.1' });
const subscribers = [new Redis({ port, host: '127.0.0.1' }), new Redis({ port, host: '127.0.0.1' })];
const roomNames = Array.from({ length: rooms }, (_, i) => `room-${i}`);
for (const subscriber of subscribers) {
  subscriber.on('messageBuffer', () => undefined);
  await subscriber.subscribe(...roomNames.map((room) => keys.roomChannel(room)));
}
const log = new RedisRoomLog(redis, { prefix, ...(maxBatch === undefined ? {} : { maxBatch }) });
const sender = { userId: 'u1', role: 'student', name: 'Ada' };
const text = 'x'.repeat(200);
let sent = 0;

/** Appends `n` messages, `perTurn` at a time; a ~290-byte body with a publish id, as a client's chat. */
async function run(n) {
  for (let done = 0; done < n; done += perTurn) {
    const turn = [];
    for (let i = 0; i < perTurn && done + i < n; i++) {
      const id = `m${++sent}`;
      turn.push(log.append(roomNames[sent % rooms], encodeMessageBody('chat.message', { text }, sender, id), { dedupKey: `u1:${id}` }));
    }
    await Promise.all(turn);
  }
}

async function redisCpuSeconds() {
  const info = await redis.info('cpu');
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Calls since RESETSTAT: script calls (EVALSHA, EVAL), and every command (those scripts run included). */
async function commandCalls() {
  const info = await redis.info('commandstats');
  let scripts = 0;
  let all = 0;
  for (const match of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
    if (match[1] === 'info' || match[1] === 'config') continue;
    all += Number(match[2]);
    if (match[1] === 'evalsha' || match[1] === 'eval') scripts += Number(match[2]);
  }
  return { scripts, all };
}

/** Total instructions (Ir) of the newest callgrind dump of `pid` in `dir`. */
function callgrindDump(pid, dir) {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const dumps = readdirSync(dir).filter((name) => name.startsWith(`callgrind.out.${pid}.`));
  dumps.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const text = readFileSync(`${dir}/${dumps.at(-1)}`, 'utf8');
  const match = /^(?:summary|totals): (\d+)/m.exec(text);
  if (match === null) throw new Error('no totals in the callgrind dump');
  return Number(match[1]);
}

await run(Math.min(count, 400)); // warm-up: scripts loaded, rooms created, JIT warm
await redis.config('RESETSTAT');
const redisBefore = await redisCpuSeconds();
const nodeBefore = process.cpuUsage();
const started = process.hrtime.bigint();
await run(count);
const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
const node = process.cpuUsage(nodeBefore);
const redisSeconds = (await redisCpuSeconds()) - redisBefore;
const calls = await commandCalls();
const result = {
  perTurn,
  maxBatch: maxBatch ?? 'default',
  appends: count,
  nodeCpuUsPerAppend: +((node.user + node.system) / count).toFixed(2),
  redisCpuUsPerAppend: +((redisSeconds * 1e6) / count).toFixed(2),
  scriptCallsPerAppend: +(calls.scripts / count).toFixed(3),
  redisCommandsPerAppend: +(calls.all / count).toFixed(3),
  appendsPerSecond: Math.round(count / (elapsedMs / 1000)),
};

if (args['callgrind-pid'] !== undefined) {
  const pid = Number(args['callgrind-pid']);
  const dir = args['callgrind-dir'];
  const short = Math.max(perTurn, Math.round(count / 5 / perTurn) * perTurn);
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  await run(short);
  const a = callgrindDump(pid, dir);
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  await run(count);
  const b = callgrindDump(pid, dir);
  result.redisInstructionsPerAppend = Math.round((b - a) / (count - short));
}

process.stdout.write(`${JSON.stringify(result)}\n`);
redis.disconnect();
for (const subscriber of subscribers) subscriber.disconnect();
