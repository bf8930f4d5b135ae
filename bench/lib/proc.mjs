// Process and machine figures from /proc (Linux). Used by the generator (window-aligned CPU and RSS of
// the server processes and of itself) and by the orchestrator (machine description).
import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
} catch {
  // getconf missing: Linux's USER_HZ is 100 on every common configuration.
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined when it is gone.
 * @param {number | 'self'} pid
 * @returns {number | undefined}
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 (1-based); after the name, state is index 0, so 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of a process's main thread alone (its task whose id is the process id): for Node, the
 * event loop, without worker threads or libuv's pool; undefined when it is gone.
 * @param {number} pid
 * @returns {number | undefined}
 */
export function mainThreadCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * Write-type system calls (write, writev, sendmsg…) a process has made so far, from /proc/<pid>/io
 * (`syscw`); undefined when it is gone or the file is unreadable. A count other processes on the machine
 * do not move, unlike CPU time: the before/after figure for write coalescing.
 * @param {number} pid
 * @returns {number | undefined}
 */
export function writeSyscalls(pid) {
  try {
    const match = /^syscw:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Current and peak resident set size in bytes (VmRSS, VmHWM) from /proc/<pid>/status.
 * @param {number | 'self'} pid
 * @returns {{ rss: number, peak: number } | undefined}
 */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (/** @type {string} */ name) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return match === null ? 0 : Number(match[1]) * 1024;
    };
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Sum of the CPU seconds of several processes.
 * @param {readonly number[]} pids
 */
export function totalCpu(pids) {
  let sum = 0;
  for (const pid of pids) sum += cpuSeconds(pid) ?? 0;
  return sum;
}

/**
 * Sum of the current RSS of several processes, in bytes.
 * @param {readonly number[]} pids
 */
export function totalRss(pids) {
  let sum = 0;
  for (const pid of pids) sum += memory(pid)?.rss ?? 0;
  return sum;
}

/**
 * Sum of the peak RSS (VmHWM) of several processes, in bytes.
 * @param {readonly number[]} pids
 */
export function totalPeakRss(pids) {
  let sum = 0;
  for (const pid of pids) sum += memory(pid)?.peak ?? 0;
  return sum;
}

/** @returns {Promise<number>} a free TCP port on 127.0.0.1 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** nproc, CPU model, memory, kernel and node version. */
export function machine() {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match !== null) model = match[1].trim();
  } catch {
    // not Linux
  }
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8', timeout: 2000 }).trim()) || nproc;
  } catch {
    // keep availableParallelism
  }
  return {
    nproc,
    cpuModel: model,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

/** Whether `taskset` can pin processes here (present, and the machine has at least two cores). */
export function tasksetAvailable() {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore', timeout: 2000 });
    return os.availableParallelism() >= 2;
  } catch {
    return false;
  }
}
