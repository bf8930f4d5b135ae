// Classwire load benchmark: starts each target, runs a load generator in a separate process against
// it, and writes markdown tables and JSON to bench/results/ (or --out). See docs/performance.md.
//
//   npm run bench                                   all profiles, all targets, default sizes
//   node bench/run.mjs --profiles steady --duration 10 --targets classwire-memory,ws-preframed
//
// Run `npm run build` first when calling run.mjs directly (npm run bench does it).
import { clearTimeout, setTimeout } from 'node:timers';
import process from 'node:process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { URL, fileURLToPath } from 'node:url';
import { summarizeProfile } from './lib/cpuprofile.mjs';
import { machine, tasksetAvailable } from './lib/proc.mjs';
import { BASELINE, idleTable, joinTable, loadsTable, maxTable, num, steadyTable } from './lib/report.mjs';
import { TARGETS, TARGET_LABELS, killAll, spawnTracked, startTarget } from './lib/targets.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PROFILES = ['steady', 'loads', 'max', 'idle', 'join', 'chat', 'cpu'];
/** Profiles that only Classwire targets run (classroom semantics the baselines lack). */
const CLASSWIRE_ONLY = new Set(['chat']);

const USAGE = `Usage: node bench/run.mjs [options]   (npm run bench -- [options])

  --profiles LIST      comma-separated: ${PROFILES.join(', ')} (default: all)
  --targets LIST       comma-separated: ${TARGETS.join(', ')} (default: all)
  --clients N          clients in the steady and max profiles (default 1000)
  --rooms N            rooms they are spread over (default 40, i.e. 25 per room)
  --rate N             steady: messages per second per room, one publisher per room (default 20)
  --duration S         steady, loads: measured seconds after the warm-up (default 5)
  --warmup S           steady, loads: unmeasured seconds at the rate first (default 1; longer lets work the joins
                       left behind, such as recording their presence, finish before the measured window)
  --loads LIST         loads: fixed offered rates in msg/s per room, one steady run each (default 20,40,80,120:
                       20k, 40k, 80k and 120k deliveries/s in the default layout)
  --step S             max: measured seconds per rate step after a 0.5 s warm-up (default 5: a queue that grows slowly shows in 5 s, hardly in 2)
  --start-rate N       max: first rate step in msg/s per room; doubles until a step fails (default 20)
  --idle-clients N     idle: idle connections measured (default 4000)
  --join-rate N        join: new authenticated connections + joins per second (default 300)
  --join-seconds S     join: length of the measured storm (default 4)
  --join-warmup S      join: length of an unmeasured storm into other rooms first (default 1; 0: none)
  --cpu-rate N         cpu: msg/s per room of the profiled Classwire memory run (default 80)
  --keep-profile       cpu: also keep the gateway's .cpuprofile in the output directory (gateway.cpuprofile)
  --out DIR            where tables and JSON go (default bench/results)
  --no-taskset         do not pin servers to core 0 and the generator to core 1
  -h, --help
`;

const { values: flags } = parseArgs({
  options: {
    profiles: { type: 'string', default: PROFILES.join(',') },
    targets: { type: 'string', default: TARGETS.join(',') },
    clients: { type: 'string', default: '1000' },
    rooms: { type: 'string', default: '40' },
    rate: { type: 'string', default: '20' },
    duration: { type: 'string', default: '5' },
    loads: { type: 'string', default: '20,40,80,120' },
    step: { type: 'string', default: '5' },
    'start-rate': { type: 'string', default: '20' },
    'idle-clients': { type: 'string', default: '4000' },
    'join-rate': { type: 'string', default: '300' },
    'join-seconds': { type: 'string', default: '4' },
    'join-warmup': { type: 'string', default: '1' },
    warmup: { type: 'string', default: '1' },
    'cpu-rate': { type: 'string', default: '80' },
    'keep-profile': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    'no-taskset': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

/** @param {string} name */
function positive(name) {
  const value = Number(/** @type {Record<string, unknown>} */ (flags)[name]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} must be a positive number\n${USAGE}`);
    process.exit(2);
  }
  return value;
}
/** @param {string} name */
function nonNegative(name) {
  const value = Number(/** @type {Record<string, unknown>} */ (flags)[name]);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`--${name} must be a number >= 0\n${USAGE}`);
    process.exit(2);
  }
  return value;
}
/** @param {string} list @param {readonly string[]} known @param {string} what */
function listOf(list, known, what) {
  const items = list.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((i) => !known.includes(i));
  if (unknown.length > 0 || items.length === 0) {
    process.stderr.write(`unknown ${what}: ${unknown.join(', ') || '(none given)'}\n${USAGE}`);
    process.exit(2);
  }
  return items;
}

const profiles = listOf(flags.profiles, PROFILES, 'profile');
const loads = flags.loads.split(',').map((s) => Number(s.trim()));
if (loads.length === 0 || loads.some((load) => !Number.isFinite(load) || load <= 0)) {
  process.stderr.write(`--loads must be positive numbers, comma-separated\n${USAGE}`);
  process.exit(2);
}
const targets = /** @type {import('./lib/targets.mjs').TargetName[]} */ (listOf(flags.targets, TARGETS, 'target'));
const sizes = {
  clients: positive('clients'),
  rooms: positive('rooms'),
  rate: positive('rate'),
  duration: positive('duration'),
  step: positive('step'),
  startRate: positive('start-rate'),
  idleClients: positive('idle-clients'),
  joinRate: positive('join-rate'),
  joinSeconds: positive('join-seconds'),
  joinWarmup: nonNegative('join-warmup'),
  warmup: positive('warmup'),
  cpuRate: positive('cpu-rate'),
};
const outDir = resolve(flags.out);
const pin = !flags['no-taskset'] && tasksetAvailable();
const SERVER_CORE = pin ? '0' : undefined;
const GENERATOR_CORE = pin ? '1' : undefined;

if (!existsSync(join(ROOT, 'packages/cli/dist/cli.js'))) {
  process.stderr.write('packages/cli/dist/cli.js is missing: run `npm run build` (npm run bench does).\n');
  process.exit(2);
}

// Whatever happens, no child outlives the harness.
process.on('exit', killAll);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping every target\n`);
    killAll();
    process.exit(130);
  });
}

const secret = randomBytes(32).toString('base64url');

/**
 * The generator's job for one profile and target; see bench/generator.mjs.
 * @param {string} profile
 * @param {import('./lib/targets.mjs').Target} target
 */
function jobFor(profile, target, rate = profile === 'cpu' ? sizes.cpuRate : sizes.rate) {
  const job = {
    profile: profile === 'cpu' || profile === 'chat' || profile === 'loads' ? 'steady' : profile,
    // The chat profile publishes the classroom's chat.message (validated, authorized against the room's
    // control state, appended with its chat-tail state change); the others a generic event.
    event: profile === 'chat' ? 'chat.message' : 'bench.chat',
    target: target.name,
    protocol: target.protocol,
    urls: target.urls,
    serverPids: target.serverPids,
    secret,
    clients: sizes.clients,
    rooms: sizes.rooms,
    rate,
    warmupSec: sizes.warmup,
    durationSec: profile === 'cpu' ? Math.max(sizes.duration, 5) : sizes.duration,
    drainSec: 5,
    payloadBytes: 200,
    connectConcurrency: 100,
    startRate: sizes.startRate,
    maxSteps: 9,
    refineSteps: 2,
    stepSec: sizes.step,
    stepWarmupSec: 0.5,
    p99LimitMs: 100,
    idleClients: sizes.idleClients,
    idleWarmupClients: 100,
    settleSec: 1.5,
    joinRate: sizes.joinRate,
    joinSec: sizes.joinSeconds,
    joinWarmupSec: sizes.joinWarmup,
    budgetMs: 0,
  };
  const connectMs = 20_000 + (sizes.clients + sizes.idleClients) * 10;
  const runMs =
    job.profile === 'steady'
      ? (job.warmupSec + job.durationSec + job.drainSec) * 1000
      : job.profile === 'max'
        ? (job.maxSteps + job.refineSteps + 1) * (job.stepWarmupSec + job.stepSec + job.drainSec + 1) * 1000
        : job.profile === 'idle'
          ? 4 * job.settleSec * 1000 + 5000
          : (job.joinWarmupSec + job.joinSec) * 1000 + 45_000;
  job.budgetMs = connectMs + runMs;
  return job;
}

/**
 * Runs the generator process for one job; resolves with its result.
 * @param {ReturnType<typeof jobFor>} job
 * @returns {Promise<any>}
 */
function runGenerator(job) {
  const { child, output } = spawnTracked({ command: [process.execPath, join(ROOT, 'bench/generator.mjs')], core: GENERATOR_CORE, ipc: 'ipc' });
  return new Promise((resolvePromise, reject) => {
    /** @type {any} */
    let reply;
    const timer = setTimeout(() => child.kill('SIGKILL'), job.budgetMs + 10_000);
    child.once('message', (message) => {
      reply = message;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok === true) resolvePromise(reply.result);
      else reject(new Error(reply?.error ?? `generator exited (${code ?? signal}) without a result ${output()}`));
    });
    child.send(job);
  });
}

/**
 * One profile against one target: start, generate, stop (also on failure).
 * @param {string} profile
 * @param {import('./lib/targets.mjs').TargetName} name
 * @param {string[]} [nodeArgs]
 * @param {number} [rate]  msg/s per room, instead of the profile's
 */
async function measure(profile, name, nodeArgs, rate) {
  const started = Date.now();
  process.stderr.write(`[${profile}${rate === undefined ? '' : ` ${rate}/s/room`}] ${name} ... `);
  /** @type {import('./lib/targets.mjs').Target | undefined} */
  let target;
  try {
    target = await startTarget(name, { secret, core: SERVER_CORE, nodeArgs });
    const result = await runGenerator(jobFor(profile, target, rate));
    const died = target.exited();
    if (died !== undefined) throw new Error(died);
    process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return { target: name, ok: true, result };
  } catch (error) {
    process.stderr.write(`FAILED in ${((Date.now() - started) / 1000).toFixed(1)} s\n${error instanceof Error ? error.message : String(error)}\n`);
    return { target: name, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await target?.stop();
  }
}

const startedAt = new Date();
const box = machine();
const command = `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
/** @type {Record<string, any>} */
const results = { startedAt: startedAt.toISOString(), command, machine: box, pinned: pin, sizes, baseline: BASELINE, profiles: {} };
/** @type {string[]} */
const sections = [];
let failures = 0;

mkdirSync(outDir, { recursive: true });
const loadProfiles = profiles.filter((p) => p !== 'cpu');
for (const [index, profile] of loadProfiles.entries()) {
  // Alternate the order between profiles, so no target always runs first (or last) on a warm machine.
  const eligible = CLASSWIRE_ONLY.has(profile) ? targets.filter((t) => t.startsWith('classwire')) : targets;
  const order = index % 2 === 0 ? [...eligible] : [...eligible].reverse();
  if (order.length === 0) continue;
  /** @type {{ target: string, ok: boolean, error?: string, result?: any }[]} */
  const rows = [];
  if (profile === 'loads') {
    // One fresh server per target and load; the target order alternates from one load to the next.
    /** @type {Map<string, { target: string, ok: boolean, error?: string, result: { loads: any[] } }>} */
    const byTarget = new Map(order.map((name) => [name, { target: name, ok: true, result: { loads: [] } }]));
    for (const [loadIndex, load] of loads.entries()) {
      for (const name of loadIndex % 2 === 0 ? order : [...order].reverse()) {
        const row = /** @type {NonNullable<ReturnType<typeof byTarget.get>>} */ (byTarget.get(name));
        const measured = await measure(profile, name, undefined, load);
        row.result.loads.push(measured.ok ? measured.result : { rate: load, error: measured.error });
        if (!measured.ok) {
          row.ok = false;
          row.error = measured.error;
        }
      }
    }
    rows.push(...byTarget.values());
  } else {
    for (const name of order) rows.push(await measure(profile, name));
  }
  failures += rows.filter((r) => !r.ok).length;
  results.profiles[profile] = { order, rows };
  const sorted = [...rows].sort((a, b) => targets.indexOf(/** @type {any} */ (a.target)) - targets.indexOf(/** @type {any} */ (b.target)));
  let section;
  if (profile === 'steady') {
    section = `## Steady classroom\n\n${num(sizes.clients)} clients in ${num(sizes.rooms)} rooms of ${num(Math.ceil(sizes.clients / sizes.rooms))}, one publisher per room at ${num(sizes.rate)} msg/s (~200-byte chat messages with a send timestamp; every member, the publisher included, receives each message): ${num(sizes.rate * sizes.rooms * Math.ceil(sizes.clients / sizes.rooms))} deliveries/s offered, measured for ${sizes.duration} s after a ${sizes.warmup} s warm-up. Ratios are against the pre-framed ws target.\n\n${steadyTable(sorted)}`;
  } else if (profile === 'loads') {
    const roomSize = Math.ceil(sizes.clients / sizes.rooms);
    section = `## Fixed offered loads\n\nThe steady layout at fixed rates of ${loads.map((l) => num(l)).join(', ')} msg/s per room (${loads.map((l) => num(l * sizes.rooms * roomSize)).join(', ')} deliveries/s offered), each a fresh server measured for ${sizes.duration} s after a ${sizes.warmup} s warm-up: the server's CPU per delivery and the p99 a user sees at each load. A load is sustained when p99 ≤ 100 ms, at least 95 % of the offered deliveries arrive per second, and nothing is lost. Ratios are against the pre-framed ws target at the same load.\n\n${loadsTable(sorted, loads)}`;
  } else if (profile === 'max') {
    section = `## Maximum throughput\n\nThe steady room layout; after an unmeasured 2 s at the first rate, the rate per room starts at ${num(sizes.startRate)} msg/s and doubles each step (0.5 s warm-up, ${sizes.step} s measured, up to 5 s drain), then two bisection steps between the last passing and the first failing rate. A step passes when p99 ≤ 100 ms, deliveries keep up (≥ 95 % of offered per second), nothing is lost, and the generator sent on schedule.\n\n${maxTable(sorted, 1)}`;
  } else if (profile === 'idle') {
    section = `## Idle memory per connection\n\n${num(sizes.idleClients)} idle clients (after 100 warm-up clients), each authenticated and joined to a room of 25; RSS of every server process (Redis included) before and after, median of 5 samples after 1.5 s of settling.\n\n${idleTable(sorted)}`;
  } else if (profile === 'chat') {
    section = `## Classroom chat\n\nThe steady layout (${num(sizes.clients)} clients in ${num(sizes.rooms)} rooms, ${num(sizes.rate)} msg/s per room), publishing the classroom's \`chat.message {text}\` instead of a generic event: each message is validated, authorized against the room's control state (a state read, skipped while the node remembers that state) and appended with its chat-tail change (a state write, inside the append). Classwire targets only; compare with their steady rows.\n\n${steadyTable(sorted)}`;
  } else {
    section = `## Join storm\n\n${num(sizes.joinRate)} new connections per second for ${sizes.joinSeconds} s, each with its token in the upgrade, sending one join and waiting for its joined reply (rooms of 25; a Classwire classroom sends its snapshot first); latency from opening the socket to the reply. ${sizes.joinWarmup > 0 ? `A first storm of ${sizes.joinWarmup} s at the same rate into other rooms warms the servers and is not measured.` : 'No warm-up storm.'}\n\n${joinTable(sorted)}`;
  }
  section += `\n\nRun order: ${order.join(', ')}.`;
  sections.push(section);
  writeFileSync(join(outDir, `${profile}.md`), `${section}\n`);
}

if (profiles.includes('cpu')) {
  const dir = mkdtempSync(join(tmpdir(), 'classwire-bench-prof-'));
  try {
    const row = await measure('cpu', 'classwire-memory', ['--cpu-prof', '--cpu-prof-dir', dir]);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!row.ok || file === undefined) {
      failures += 1;
      results.profiles.cpu = { row, error: file === undefined ? 'no .cpuprofile written' : row.error };
    } else {
      const summary = summarizeProfile(join(dir, file), ROOT, 20);
      if (flags['keep-profile']) copyFileSync(join(dir, file), join(outDir, 'gateway.cpuprofile'));
      results.profiles.cpu = { row, summary };
      const r = row.result;
      const lines = [
        `## CPU profile: Classwire memory engine`,
        ``,
        `\`node --cpu-prof\` on the gateway during the steady layout at ${num(sizes.cpuRate)} msg/s per room (${num(r.deliveriesPerSec)} deliveries/s measured, p99 ${num(r.p99, 2)} ms, server CPU ${num(r.serverCpuPct, 0)} % of a core). The profile covers the whole process life (start-up, connects, load, drain): ${num(summary.totalMs)} ms sampled, ${num(summary.busyMs)} ms of them busy; percentages are of the busy time. Self time only: \`writev\` is the socket write system call under every \`ws.send\`.`,
        ``,
        `| Self time ms | % of busy | Function |`,
        `| ---: | ---: | --- |`,
        ...summary.functions.map((f) => `| ${num(f.ms)} | ${f.pct.toFixed(1)} | \`${f.name}\` |`),
        ``,
        `By file:`,
        ``,
        `| Self time ms | % of busy | File |`,
        `| ---: | ---: | --- |`,
        ...summary.files.map((f) => `| ${num(f.ms)} | ${f.pct.toFixed(1)} | \`${f.name}\` |`),
      ];
      sections.push(lines.join('\n'));
      writeFileSync(join(outDir, 'cpu-profile.md'), `${lines.join('\n')}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const header = [
  `# Classwire load benchmark results`,
  ``,
  `${startedAt.toISOString()}. Command: \`${command}\` (after \`npm run build\`).`,
  ``,
  `Machine: ${box.nproc} CPUs (${box.cpuModel}), ${box.memoryGiB} GiB, ${box.kernel}, Node ${box.node}. ` +
    (pin ? 'Every server process (gateway nodes and Redis) pinned to core 0 with taskset, the generator to core 1.' : 'No CPU pinning.'),
  ``,
  `Targets: ${targets.map((t) => `\`${t}\` = ${TARGET_LABELS[t]}`).join('; ')}.`,
].join('\n');
writeFileSync(join(outDir, 'summary.md'), `${header}\n\n${sections.join('\n\n')}\n`);
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`\nwrote ${relative(process.cwd(), join(outDir, 'summary.md')) || 'summary.md'} and results.json${failures > 0 ? ` (${failures} failed)` : ''}\n`);
process.exitCode = failures > 0 ? 1 : 0;
