// The load generator: a process of its own (pinned to its own core by run.mjs), started once per profile
// and target. It receives its job over IPC, opens the clients, runs the profile, measures the server
// processes (/proc) and itself, sends back one result object and exits. Every loop is bounded in count
// and time; a watchdog ends the process if a run overstays its budget.
import { setTimeout } from 'node:timers';
import { TextEncoder } from 'node:util';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { openClient } from './lib/clients.mjs';
import { cpuSeconds, mainThreadCpuSeconds, totalCpu, totalPeakRss, totalRss, writeSyscalls } from './lib/proc.mjs';
import { Histogram } from './lib/stats.mjs';

/**
 * @typedef {import('./lib/clients.mjs').Client} Client
 * @typedef {{
 *   profile: 'steady' | 'max' | 'idle' | 'join', target: string, protocol: 'classwire' | 'socketio',
 *   urls: string[], serverPids: number[], secret: string, budgetMs: number,
 *   clients: number, rooms: number, rate: number, warmupSec: number, durationSec: number, drainSec: number,
 *   payloadBytes: number, connectConcurrency: number,
 *   startRate: number, maxSteps: number, refineSteps: number, stepSec: number, stepWarmupSec: number, p99LimitMs: number,
 *   idleClients: number, idleWarmupClients: number, settleSec: number,
 *   joinRate: number, joinSec: number, joinWarmupSec: number, event: string,
 * }} Job
 */

const now = () => performance.now();
const round = (/** @type {number} */ x, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

/** CPU seconds of this process (user + system). */
function ownCpu() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Runs `task` over `items` with at most `limit` in flight.
 * @template T
 * @param {readonly T[]} items
 * @param {number} limit
 * @param {(item: T, index: number) => Promise<void>} task
 */
async function pool(items, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await task(/** @type {T} */ (items[index]), index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * @param {string} secret
 * @param {number} count
 * @param {string} prefix
 */
async function signTokens(secret, count, prefix) {
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  /** @type {string[]} */
  const tokens = [];
  for (let i = 0; i < count; i += 1) {
    const role = i % 25 === 0 ? 'teacher' : 'student';
    tokens.push(
      await new SignJWT({ role, name: `${prefix} ${i}`, rooms: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`${prefix}-${process.pid}-${i}`)
        .setExpirationTime(exp)
        .sign(key),
    );
  }
  return tokens;
}

/** Window-aligned CPU figures of the servers (in total and per process) and of the generator. */
function cpuWindow(/** @type {readonly number[]} */ pids) {
  const writes = () => pids.reduce((sum, pid) => sum + (writeSyscalls(pid) ?? 0), 0);
  const mainThreads = () => pids.reduce((sum, pid) => sum + (mainThreadCpuSeconds(pid) ?? 0), 0);
  const start = { t: now(), server: totalCpu(pids), perProcess: pids.map((pid) => cpuSeconds(pid) ?? 0), own: ownCpu(), writes: writes(), mainThreads: mainThreads() };
  return () => {
    const seconds = (now() - start.t) / 1000;
    const server = totalCpu(pids) - start.server;
    const own = ownCpu() - start.own;
    const serverCpuSecByProcess = pids.map((pid, i) => round((cpuSeconds(pid) ?? 0) - (start.perProcess[i] ?? 0)));
    return { seconds, serverCpuSec: server, serverCpuSecByProcess, serverMainThreadCpuSec: mainThreads() - start.mainThreads, serverCpuPct: (100 * server) / seconds, generatorCpuPct: (100 * own) / seconds, serverWriteSyscalls: writes() - start.writes };
  };
}

/** The classroom's `chat.message` takes `{text}` only: the timing fields travel inside the text. */
const CHAT_EVENT = 'chat.message';

/**
 * The publish data of message `n` of step `s` sent at `t`, padded to about `text` characters.
 * @param {string} event @param {string} text @param {number} t @param {number} s @param {number} n
 */
function messageData(event, text, t, s, n) {
  return event === CHAT_EVENT ? { text: `${s}|${t}|${n}|${text}` } : { text, t, s, k: n };
}

/**
 * The step and send time of a received message's data (see messageData).
 * @param {any} data
 * @returns {{ s: number, t: number }}
 */
function timingOf(data) {
  if (data.s !== undefined) return data;
  const [s, t] = String(data.text).split('|', 2);
  return { s: Number(s), t: Number(t) };
}

/**
 * Rooms of clients that publish and count deliveries: the steady and max-throughput profiles.
 * @param {Job} job
 */
async function roomLoad(job) {
  const roomSize = Math.ceil(job.clients / job.rooms);
  const tokens = await signTokens(job.secret, job.clients, 'load');
  const text = 'x'.repeat(Math.max(0, job.payloadBytes - 130));
  /** @type {{ sent: number, expected: number, received: number, warmEnd: number, end: number, hist: Histogram }[]} */
  const steps = [];
  const counters = { received: 0, acks: 0, errors: 0, closed: 0 };
  /** @type {Map<string, number>} */
  const errorCodes = new Map();
  const handlers = {
    onMessage(/** @type {string} */ _room, /** @type {any} */ data) {
      counters.received += 1;
      const { s, t } = timingOf(data);
      const step = steps[s];
      if (step === undefined) return;
      step.received += 1;
      if (t >= step.warmEnd && t < step.end) step.hist.record(now() - t);
    },
    onAck() {
      counters.acks += 1;
    },
    onError(/** @type {string} */ code) {
      counters.errors += 1;
      errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
    },
    onClose() {
      counters.closed += 1;
    },
  };
  /** @type {{ name: string, members: Client[] }[]} */
  const rooms = Array.from({ length: job.rooms }, (_, i) => ({ name: `class-${i}`, members: [] }));
  /** @type {Client[]} */
  const all = [];
  const connectStart = now();
  await pool(tokens, job.connectConcurrency, async (token, i) => {
    const client = await openClient(job.protocol, /** @type {string} */ (job.urls[i % job.urls.length]), token, handlers, 10_000);
    all.push(client);
    const room = /** @type {{ name: string, members: Client[] }} */ (rooms[Math.floor(i / roomSize)]);
    await client.join(room.name);
    room.members.push(client);
  });
  const connectSec = (now() - connectStart) / 1000;
  await sleep(300);

  /**
   * One phase at `rate` messages per second per room: warm-up, measured window, then a bounded drain.
   * @param {number} rate
   * @param {number} warmupSec
   * @param {number} durationSec
   */
  async function phase(rate, warmupSec, durationSec) {
    const stepId = steps.length;
    const t0 = now();
    const step = { sent: 0, expected: 0, received: 0, warmEnd: t0 + warmupSec * 1000, end: t0 + (warmupSec + durationSec) * 1000, hist: new Histogram() };
    steps.push(step);
    const sentPerRoom = new Array(rooms.length).fill(0);
    let sentInWindow = 0;
    let windowCpu = /** @type {ReturnType<typeof cpuWindow> | undefined} */ (undefined);
    let receivedAtWindowStart = 0;
    const maxBurst = Math.max(1, Math.ceil(rate * 0.05));
    // Ticks every 5 ms; each room's publisher sends what its schedule owes, at most 50 ms worth at once.
    while (now() < step.end) {
      const t = now();
      if (windowCpu === undefined && t >= step.warmEnd) {
        windowCpu = cpuWindow(job.serverPids);
        receivedAtWindowStart = counters.received;
      }
      const elapsed = ((t - t0) / 1000) * rate;
      for (let r = 0; r < rooms.length; r += 1) {
        const room = /** @type {{ name: string, members: Client[] }} */ (rooms[r]);
        const publisher = room.members[0];
        if (publisher === undefined) continue;
        // Publishers are spread evenly over each interval instead of all firing on the same tick.
        const due = Math.floor(elapsed + r / rooms.length);
        const owed = Math.min(maxBurst, due - sentPerRoom[r]);
        for (let k = 0; k < owed; k += 1) {
          const n = (sentPerRoom[r] += 1);
          const sentAt = now();
          publisher.publish(room.name, job.event, messageData(job.event, text, sentAt, stepId, n), `m-${stepId}-${n}`);
          step.sent += 1;
          step.expected += room.members.length;
          if (sentAt >= step.warmEnd) sentInWindow += 1;
        }
      }
      await sleep(5);
    }
    const window = /** @type {ReturnType<typeof cpuWindow>} */ (windowCpu ?? cpuWindow(job.serverPids))();
    const deliveredInWindow = counters.received - receivedAtWindowStart;
    const drainStart = now();
    while (step.received < step.expected && now() - drainStart < job.drainSec * 1000) await sleep(20);
    const lost = Math.max(0, step.expected - step.received);
    const offeredPerSec = rate * rooms.length * roomSize;
    const latency = step.hist.summary();
    // Messages of the window that never arrived count as infinitely late in the verdict below.
    return {
      rate,
      offeredDeliveriesPerSec: offeredPerSec,
      scheduledInWindow: Math.floor(rate * rooms.length * window.seconds),
      sentInWindow,
      deliveriesPerSec: round(deliveredInWindow / window.seconds, 1),
      p50: round(latency.p50),
      p99: round(latency.p99),
      max: round(latency.max),
      latencySamples: latency.samples,
      sent: step.sent,
      expected: step.expected,
      received: step.received,
      lost,
      drainSec: round((now() - drainStart) / 1000),
      serverCpuSec: round(window.serverCpuSec),
      serverCpuPct: round(window.serverCpuPct, 1),
      serverCpuUsPerDelivery: round((window.serverCpuSec * 1e6) / Math.max(1, deliveredInWindow), 2),
      // The servers' main threads alone (Node's event loop; Redis's main thread): what the live path
      // spends, without worker threads such as the records' recorder.
      serverMainThreadCpuUsPerDelivery: round((window.serverMainThreadCpuSec * 1e6) / Math.max(1, deliveredInWindow), 2),
      // Every server process's write system calls (Redis's too) per delivery: 1 when each member's frame
      // is its own write; less when frames for one socket are coalesced.
      serverWritesPerDelivery: round(window.serverWriteSyscalls / Math.max(1, deliveredInWindow), 3),
      serverCpuSecByProcess: window.serverCpuSecByProcess,
      generatorCpuPct: round(window.generatorCpuPct, 1),
      windowSec: round(window.seconds),
    };
  }

  const base = { clients: job.clients, rooms: job.rooms, roomSize, connectSec: round(connectSec), payloadBytes: job.payloadBytes };
  /** @type {Record<string, unknown>} */
  let result;
  if (job.profile === 'steady') {
    const measured = await phase(job.rate, job.warmupSec, job.durationSec);
    result = { ...base, ...measured, acks: counters.acks, errors: counters.errors, closed: counters.closed };
  } else {
    /** @type {(Awaited<ReturnType<typeof phase>> & { reasons: string[] })[]} */
    const tried = [];
    /** @param {Awaited<ReturnType<typeof phase>>} s */
    const verdict = (s) => {
      /** @type {string[]} */
      const reasons = [];
      if (s.sentInWindow < 0.97 * s.scheduledInWindow) reasons.push('generator could not send on schedule');
      if (!(s.p99 !== null && s.p99 <= job.p99LimitMs)) reasons.push(`p99 > ${job.p99LimitMs} ms`);
      if ((s.deliveriesPerSec ?? 0) < 0.95 * s.offeredDeliveriesPerSec) reasons.push('deliveries fell behind');
      if (s.lost > 0) reasons.push('deliveries lost');
      return reasons;
    };
    // Unmeasured: the first step used to meet cold servers (JIT, first subscriptions) and a target could
    // fail the search at a rate it sustains in the steady profile.
    await phase(job.startRate, job.warmupSec, 1);
    let rate = job.startRate;
    let best = /** @type {Awaited<ReturnType<typeof phase>> | undefined} */ (undefined);
    let failed = /** @type {(Awaited<ReturnType<typeof phase>> & { reasons: string[] }) | undefined} */ (undefined);
    for (let i = 0; i < job.maxSteps && failed === undefined; i += 1) {
      const s = await phase(rate, job.stepWarmupSec, job.stepSec);
      const reasons = verdict(s);
      tried.push({ ...s, reasons });
      if (reasons.length === 0) {
        best = s;
        rate *= 2;
      } else failed = { ...s, reasons };
    }
    // Bisect between the last passing and the first failing rate, while no client was lost.
    for (let i = 0; i < job.refineSteps && failed !== undefined && best !== undefined && counters.closed === 0; i += 1) {
      const mid = Math.round((best.rate + failed.rate) / 2);
      if (mid <= best.rate || mid >= failed.rate) break;
      const s = await phase(mid, job.stepWarmupSec, job.stepSec);
      const reasons = verdict(s);
      tried.push({ ...s, reasons });
      if (reasons.length === 0) best = s;
      else failed = { ...s, reasons };
    }
    result = { ...base, best: best ?? null, firstFailure: failed ?? null, steps: tried, closed: counters.closed, errors: counters.errors };
  }
  if (errorCodes.size > 0) result.errorCodes = Object.fromEntries(errorCodes);
  for (const client of all) client.close();
  return result;
}

/**
 * Thousands of idle clients, each joined to a classroom-sized room: RSS delta per connection.
 * @param {Job} job
 */
async function idle(job) {
  const total = job.idleWarmupClients + job.idleClients;
  const tokens = await signTokens(job.secret, total, 'idle');
  let closed = 0;
  const handlers = { onMessage() {}, onAck() {}, onError() {}, onClose: () => (closed += 1) };
  /** @type {Client[]} */
  const all = [];
  /** @param {readonly string[]} batch @param {number} offset */
  const connect = (batch, offset) =>
    pool(batch, job.connectConcurrency, async (token, i) => {
      const index = offset + i;
      const client = await openClient(job.protocol, /** @type {string} */ (job.urls[index % job.urls.length]), token, handlers, 15_000);
      all.push(client);
      await client.join(`idle-${Math.floor(index / 25)}`);
    });
  const median = async () => {
    /** @type {number[]} */
    const samples = [];
    for (let i = 0; i < 5; i += 1) {
      samples.push(totalRss(job.serverPids));
      await sleep(100);
    }
    samples.sort((a, b) => a - b);
    return /** @type {number} */ (samples[2]);
  };
  await connect(tokens.slice(0, job.idleWarmupClients), 0);
  await sleep(job.settleSec * 1000);
  const before = await median();
  const cpu = cpuWindow(job.serverPids);
  const start = now();
  await connect(tokens.slice(job.idleWarmupClients), job.idleWarmupClients);
  const connectSec = (now() - start) / 1000;
  const connectCpu = cpu();
  await sleep(job.settleSec * 1000);
  const after = await median();
  const result = {
    clients: job.idleClients,
    warmupClients: job.idleWarmupClients,
    rssBeforeBytes: before,
    rssAfterBytes: after,
    bytesPerConnection: round((after - before) / job.idleClients, 0),
    connectSec: round(connectSec),
    connectsPerSec: round(job.idleClients / connectSec, 1),
    serverCpuMsPer1000Connects: round((connectCpu.serverCpuSec * 1e6) / job.idleClients, 1),
    generatorCpuPct: round(connectCpu.generatorCpuPct, 1),
    closed,
  };
  for (const client of all) client.close();
  return result;
}

/**
 * Authenticated joins at a fixed rate, each a new connection (token in the upgrade) that sends `join` and
 * waits for its `joined` reply (a classroom also sends its snapshot first); the latency runs from opening
 * the socket to that reply. A first storm of `joinWarmupSec` into other rooms is not measured.
 * @param {Job} job
 */
async function joinStorm(job) {
  const warmupCount = Math.round(job.joinRate * job.joinWarmupSec);
  const count = Math.round(job.joinRate * job.joinSec);
  const tokens = await signTokens(job.secret, warmupCount + count, 'join');
  const handlers = { onMessage() {}, onAck() {}, onError() {}, onClose() {} };
  /** @type {Client[]} */
  const all = [];
  /** @type {Map<string, number>} */
  const failures = new Map();

  /**
   * `total` joins at the job's rate, tokens from `offset`, into rooms of 25 named `${prefix}-${i}`.
   * @param {number} offset @param {number} total @param {string} prefix @param {Histogram} hist
   */
  async function storm(offset, total, prefix, hist) {
    /** @type {Promise<void>[]} */
    const pending = [];
    let lastDone = 0;
    const t0 = now();
    let started = 0;
    const end = t0 + (total / job.joinRate) * 1000 + 5000;
    while (started < total && now() < end) {
      const due = Math.min(total, Math.floor(((now() - t0) / 1000) * job.joinRate));
      for (; started < due; started += 1) {
        const index = started;
        const begin = now();
        pending.push(
          (async () => {
            try {
              const client = await openClient(job.protocol, /** @type {string} */ (job.urls[index % job.urls.length]), /** @type {string} */ (tokens[offset + index]), handlers, 10_000);
              all.push(client);
              await client.join(`${prefix}-${Math.floor(index / 25)}`);
              lastDone = now();
              hist.record(lastDone - begin);
            } catch (error) {
              const reason = error instanceof Error ? error.message : String(error);
              failures.set(reason, (failures.get(reason) ?? 0) + 1);
            }
          })(),
        );
      }
      await sleep(5);
    }
    await Promise.race([Promise.all(pending), sleep(15_000)]);
    return { t0, lastDone };
  }

  // Servers run for days: a first storm of its own warms the code paths (JIT) before the measured one.
  if (warmupCount > 0) {
    await storm(0, warmupCount, 'warm', new Histogram());
    failures.clear();
    await sleep(500);
  }
  const hist = new Histogram();
  const cpu = cpuWindow(job.serverPids);
  const { t0, lastDone } = await storm(warmupCount, count, 'storm', hist);
  const window = cpu();
  const latency = hist.summary();
  const result = {
    joins: count,
    warmupJoins: warmupCount,
    completed: latency.samples,
    failed: count - latency.samples,
    failures: Object.fromEntries(failures),
    offeredJoinsPerSec: job.joinRate,
    achievedJoinsPerSec: round(latency.samples / ((lastDone - t0) / 1000), 1),
    p50: round(latency.p50),
    p99: round(latency.p99),
    max: round(latency.max),
    serverCpuSec: round(window.serverCpuSec),
    serverCpuSecByProcess: window.serverCpuSecByProcess,
    serverCpuPct: round(window.serverCpuPct, 1),
    serverCpuMsPerJoin: round((window.serverCpuSec * 1000) / Math.max(1, latency.samples), 3),
    generatorCpuPct: round(window.generatorCpuPct, 1),
  };
  for (const client of all) client.close();
  return result;
}

process.once('message', (/** @type {Job} */ job) => {
  const watchdog = setTimeout(() => {
    process.stderr.write(`generator: ${job.profile}/${job.target} exceeded its ${job.budgetMs} ms budget\n`);
    process.exit(3);
  }, job.budgetMs);
  watchdog.unref();
  const run = job.profile === 'idle' ? idle(job) : job.profile === 'join' ? joinStorm(job) : roomLoad(job);
  run.then(
    (result) => {
      const ownCpuSec = cpuSeconds('self');
      process.send?.({ ok: true, result: { ...result, serverPeakRssBytes: totalPeakRss(job.serverPids), generatorTotalCpuSec: ownCpuSec } }, () => process.exit(0));
    },
    (/** @type {unknown} */ error) => {
      process.send?.({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1));
    },
  );
});
