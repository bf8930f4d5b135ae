// The systems under test. Each target is started on free loopback ports, pinned to the server core when
// taskset is available, checked for readiness, and stopped (SIGTERM, then SIGKILL) at the end. Every
// child process is tracked so that the harness kills what is left on any exit, including a failure.
import { clearTimeout, setTimeout } from 'node:timers';
import process from 'node:process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL, fileURLToPath } from 'node:url';
import { freePort } from './proc.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'packages/cli/dist/cli.js');
const WS_SERVER = join(ROOT, 'bench/servers/ws-server.mjs');
const SOCKETIO_SERVER = join(ROOT, 'bench/servers/socketio-server.mjs');

export const TARGETS = /** @type {const} */ (['classwire-memory', 'classwire-redis', 'ws-stringify', 'ws-preframed', 'socketio', 'socketio-redis']);
/** @typedef {typeof TARGETS[number]} TargetName */

export const TARGET_LABELS = /** @type {Record<TargetName, string>} */ ({
  'classwire-memory': 'Classwire, memory engine (1 node)',
  'classwire-redis': 'Classwire, Redis engine (2 nodes + Redis)',
  'ws-stringify': 'raw ws, one JSON.stringify per message',
  'ws-preframed': 'raw ws, one pre-framed buffer per message',
  socketio: 'Socket.IO 4, rooms (1 node)',
  'socketio-redis': 'Socket.IO 4, Redis adapter (2 nodes + Redis)',
});

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();

/** SIGKILLs every child still running (synchronous: safe in an 'exit' handler). */
export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/**
 * @typedef {object} SpawnOptions
 * @property {string[]} command  program and arguments
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string | undefined} core  taskset CPU list, or undefined for no pinning
 * @property {'ignore' | 'ipc'} [ipc]
 */

/**
 * Spawns a tracked child, optionally under `taskset -c <core>` (which execs: the pid is the program's).
 * Keeps the tail of its output for error messages.
 * @param {SpawnOptions} options
 */
export function spawnTracked({ command, env, core, ipc = 'ignore' }) {
  const argv = core === undefined ? command : ['taskset', '-c', core, ...command];
  const child = spawn(/** @type {string} */ (argv[0]), argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ipc === 'ipc' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let tail = '';
  const keep = (/** @type {Buffer} */ chunk) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', () => children.delete(child));
  return { child, output: () => tail };
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone.
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} [graceMs]
 */
export async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `probe` every 50 ms until it resolves true; fails when `child` exits or after `timeoutMs`.
 * @param {string} what
 * @param {{ child: import('node:child_process').ChildProcess, output: () => string }} proc
 * @param {() => Promise<boolean>} probe
 * @param {number} [timeoutMs]
 */
async function waitReady(what, proc, probe, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${what} exited during start-up (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output()}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} was not ready after ${timeoutMs} ms:\n${proc.output()}`);
}

/**
 * @param {number} port
 * @param {string} path
 * @returns {Promise<boolean>}
 */
function httpOk(port, path) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function redisPong(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      resolve(data.toString().startsWith('+PONG'));
      socket.destroy();
    });
  });
}

/**
 * @typedef {object} Target
 * @property {TargetName} name
 * @property {'classwire' | 'socketio'} protocol  what the generator's clients speak
 * @property {string[]} urls  client i connects to urls[i % urls.length]
 * @property {number[]} serverPids  every process of the target, Redis included
 * @property {() => Promise<void>} stop
 * @property {() => string | undefined} exited  a description of the first process that died, if any
 */

/**
 * @typedef {object} StartOptions
 * @property {string} secret  HS256 secret shared with the generator
 * @property {string | undefined} core  taskset CPU list for every server process
 * @property {string[]} [nodeArgs]  extra node flags (e.g. --cpu-prof) for Node server processes
 */

/**
 * Starts a target and resolves once every process of it is ready.
 * @param {TargetName} name
 * @param {StartOptions} options
 * @returns {Promise<Target>}
 */
export async function startTarget(name, options) {
  /** @typedef {{ child: import('node:child_process').ChildProcess, output: () => string }} Proc */
  /** @type {Proc[]} */
  const nodes = [];
  /** @type {Proc | undefined} */
  let redis;
  /** @type {string[]} */
  const dirs = [];
  const stop = async () => {
    // Servers first (they are Redis clients), then Redis.
    await Promise.all(nodes.map((p) => stopChild(p.child)));
    if (redis !== undefined) await stopChild(redis.child);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const exited = () => {
    for (const p of [...nodes, ...(redis === undefined ? [] : [redis])]) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return `a server process exited (${p.child.exitCode ?? p.child.signalCode}) during the run:\n${p.output()}`;
    }
    return undefined;
  };
  const pids = () => [...nodes, ...(redis === undefined ? [] : [redis])].flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid]));
  try {
    /** @returns {Promise<number>} */
    const startRedis = async () => {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'classwire-bench-redis-'));
      dirs.push(dir);
      const proc = (redis = spawnTracked({
        command: ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
        core: options.core,
      }));
      await waitReady('redis-server', proc, () => redisPong(port));
      return port;
    };
    /**
     * @param {string} script
     * @param {NodeJS.ProcessEnv} env
     * @param {string} readyPath
     */
    const startNode = async (script, env, readyPath) => {
      const port = await freePort();
      const proc = spawnTracked({ command: [process.execPath, ...(options.nodeArgs ?? []), ...script.split(' ')], env: { ...env, PORT: String(port) }, core: options.core });
      nodes.push(proc);
      await waitReady(`${name} on port ${port}`, proc, () => httpOk(port, readyPath));
      return port;
    };
    const classwireEnv = {
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      CLASSWIRE_JWT_SECRET: options.secret,
      CLASSWIRE_RATE_PER_SECOND: '1000000',
      CLASSWIRE_RATE_BURST: '1000000',
      CLASSWIRE_MAX_CONNECTIONS_PER_USER: '10',
      CLASSWIRE_DRAIN_TIMEOUT_MS: '500',
    };
    switch (name) {
      case 'classwire-memory': {
        const port = await startNode(`${CLI} serve`, classwireEnv, '/readyz');
        return { name, protocol: 'classwire', urls: [`ws://127.0.0.1:${port}/ws`], serverPids: pids(), stop, exited };
      }
      case 'classwire-redis': {
        const redisPort = await startRedis();
        const urls = [];
        for (const node of ['a', 'b']) {
          const port = await startNode(`${CLI} serve`, { ...classwireEnv, CLASSWIRE_REDIS_URL: `redis://127.0.0.1:${redisPort}`, CLASSWIRE_NODE_ID: `bench-${node}` }, '/readyz');
          urls.push(`ws://127.0.0.1:${port}/ws`);
        }
        return { name, protocol: 'classwire', urls, serverPids: pids(), stop, exited };
      }
      case 'ws-stringify':
      case 'ws-preframed': {
        const port = await startNode(WS_SERVER, { BENCH_SECRET: options.secret, BENCH_MODE: name === 'ws-preframed' ? 'preframed' : 'stringify' }, '/healthz');
        return { name, protocol: 'classwire', urls: [`ws://127.0.0.1:${port}/`], serverPids: pids(), stop, exited };
      }
      case 'socketio': {
        const port = await startNode(SOCKETIO_SERVER, { BENCH_SECRET: options.secret }, '/healthz');
        return { name, protocol: 'socketio', urls: [`http://127.0.0.1:${port}`], serverPids: pids(), stop, exited };
      }
      case 'socketio-redis': {
        const redisPort = await startRedis();
        const urls = [];
        for (let i = 0; i < 2; i += 1) {
          const port = await startNode(SOCKETIO_SERVER, { BENCH_SECRET: options.secret, BENCH_REDIS_URL: `redis://127.0.0.1:${redisPort}` }, '/healthz');
          urls.push(`http://127.0.0.1:${port}`);
        }
        return { name, protocol: 'socketio', urls, serverPids: pids(), stop, exited };
      }
      default:
        throw new Error(`unknown target ${String(name)}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
}
