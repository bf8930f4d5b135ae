#!/usr/bin/env node
// Heap kept per idle joined connection, after forced garbage collection: the steady figure behind the
// `idle` profile's RSS (which moves with the garbage a server happens to hold when it is sampled).
//
//   node bench/idle-heap.mjs [--targets classwire-memory,ws-preframed] [--clients 2000] [--rounds 1]
//
// Each server runs under `--expose-gc` with bench/lib/heap-hook.mjs preloaded; clients join rooms of 25
// from this process. Reported per connection: JS heap used, external memory (Buffers and other memory
// outside the heap that V8 tracks), and the Node processes' RSS, each as (after - before) / clients
// (Redis, for the Redis targets, is left out).
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';
import { TextEncoder, parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { openClient } from './lib/clients.mjs';
import { killAll, startTarget, TARGETS } from './lib/targets.mjs';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'classwire-memory,ws-preframed' },
    clients: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '1' },
  },
});
const targets = values.targets.split(',').filter((name) => name !== '');
for (const name of targets) if (!TARGETS.includes(/** @type {any} */ (name))) throw new Error(`unknown target ${name}; one of ${TARGETS.join(', ')}`);
const clients = Number(values.clients);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
if (![clients, warmup, rounds].every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error('--clients, --warmup and --rounds take positive whole numbers');

const secret = 'idle-heap-bench-secret-with-enough-bytes';
// A directory given in BENCH_HEAP_DIR is kept (with BENCH_HEAP_SNAPSHOT=1 it holds heap snapshots
// taken before and after the measured clients joined); otherwise a temporary one is removed at exit.
const keepDir = process.env.BENCH_HEAP_DIR !== undefined;
const heapDir = process.env.BENCH_HEAP_DIR ?? mkdtempSync(join(tmpdir(), 'classwire-idle-heap-'));
process.env.BENCH_HEAP_DIR = heapDir;
const hook = new URL('./lib/heap-hook.mjs', import.meta.url).pathname;
process.on('exit', () => {
  killAll();
  if (!keepDir) rmSync(heapDir, { recursive: true, force: true });
});

/** @param {number} count @param {string} prefix */
async function tokens(count, prefix) {
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const out = [];
  for (let i = 0; i < count; i += 1) {
    out.push(
      await new SignJWT({ role: i % 25 === 0 ? 'teacher' : 'student', name: `${prefix} ${i}`, rooms: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`${prefix}-${i}`)
        .setExpirationTime(exp)
        .sign(key),
    );
  }
  return out;
}

/** Asks every Node server process to collect and report; sums their figures. @param {number[]} allPids */
async function measure(allPids) {
  // Only Node processes have the hook: SIGUSR2 would end a redis-server.
  const pids = allPids.filter((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('node'));
  for (const pid of pids) rmSync(join(heapDir, `${pid}.json`), { force: true });
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const total = { heapUsed: 0, external: 0, rss: 0 };
  for (const pid of pids) {
    const file = join(heapDir, `${pid}.json`);
    // Polls the file the hook renames into place.
    for (let i = 0; i < 200 && !existsSync(file); i += 1) await sleep(25);
    if (!existsSync(file)) continue;
    const usage = JSON.parse(readFileSync(file, 'utf8'));
    total.heapUsed += usage.heapUsed;
    total.external += usage.external;
    total.rss += usage.rss;
  }
  return total;
}

/** @param {any} target @param {string[]} batch @param {number} offset @param {any[]} open */
async function connect(target, batch, offset, open) {
  const handlers = { onMessage() {}, onAck() {}, onError() {}, onClose() {} };
  const concurrency = 50;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batch.length) {
        const i = next++;
        const index = offset + i;
        const client = await openClient(target.protocol, target.urls[index % target.urls.length], /** @type {string} */ (batch[i]), handlers, 15_000);
        open.push(client);
        await client.join(`idle-${Math.floor(index / 25)}`);
      }
    }),
  );
}

const kb = (/** @type {number} */ bytes) => (bytes / clients / 1024).toFixed(2);
const print = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);
print('| Target | round | JS heap KB/conn | external KB/conn | heap + external | RSS KB/conn |');
print('| --- | ---: | ---: | ---: | ---: | ---: |');
for (let round = 1; round <= rounds; round += 1) {
  for (const name of targets) {
    const target = await startTarget(/** @type {any} */ (name), { secret, core: undefined, nodeArgs: ['--expose-gc', '--import', hook] });
    try {
      const all = await tokens(warmup + clients, name);
      const open = [];
      await connect(target, all.slice(0, warmup), 0, open);
      const before = await measure(target.serverPids);
      await connect(target, all.slice(warmup), warmup, open);
      const after = await measure(target.serverPids);
      const heap = after.heapUsed - before.heapUsed;
      const external = after.external - before.external;
      print(`| ${name} | ${round} | ${kb(heap)} | ${kb(external)} | ${kb(heap + external)} | ${kb(after.rss - before.rss)} |`);
      for (const client of open) client.close();
    } finally {
      await target.stop();
    }
  }
}
