// A tiny run of the load harness (bench/run.mjs): it must start the targets, move messages, measure and
// write its tables. It asserts that the harness measures, never a speed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'classwire-bench-smoke-'));

interface SteadyResult {
  deliveriesPerSec: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  sent: number;
  acks: number;
  errors: number;
  closed: number;
  expected: number;
  received: number;
  lost: number;
  serverCpuSec: number;
  serverWritesPerDelivery: number;
  serverPeakRssBytes: number;
  generatorCpuPct: number;
}
interface Results {
  machine: { nproc: number; cpuModel: string; node: string };
  profiles: { steady: { rows: { target: string; ok: boolean; error?: string; result?: SteadyResult }[] } };
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench harness (smoke)', () => {
  it('runs a tiny steady profile against Classwire memory and pre-framed ws, and measures it', async () => {
    expect(existsSync(join(ROOT, 'packages/cli/dist/cli.js')), 'run `npm run build` first').toBe(true);
    const args = ['bench/run.mjs', '--profiles', 'steady', '--targets', 'classwire-memory,ws-preframed', '--clients', '40', '--rooms', '2', '--duration', '2', '--out', out, '--no-taskset'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 18_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code, output).toBe(0);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
    expect(results.machine.nproc).toBeGreaterThan(0);
    const rows = results.profiles.steady.rows;
    expect(rows.map((r) => r.target).sort()).toEqual(['classwire-memory', 'ws-preframed']);
    for (const row of rows) {
      expect(row.ok, row.error).toBe(true);
      const r = row.result!;
      expect(r.sent, row.target).toBeGreaterThan(0);
      expect(r.acks, row.target).toBe(r.sent);
      expect(r.errors, row.target).toBe(0);
      expect(r.closed, row.target).toBe(0);
      expect(r.deliveriesPerSec, row.target).toBeGreaterThan(0);
      expect(r.received, row.target).toBe(r.expected);
      expect(r.lost, row.target).toBe(0);
      for (const figure of [r.p50, r.p99, r.max, r.serverCpuSec, r.generatorCpuPct]) expect(Number.isFinite(figure), row.target).toBe(true);
      expect(r.serverPeakRssBytes, row.target).toBeGreaterThan(0);
      // Every delivery is written by some system call; coalescing can only make it fewer than one each.
      expect(r.serverWritesPerDelivery, row.target).toBeGreaterThan(0);
      expect(r.serverWritesPerDelivery, row.target).toBeLessThan(2);
    }
    const table = readFileSync(join(out, 'steady.md'), 'utf8');
    expect(table).toContain('| Classwire, memory engine (1 node) |');
    expect(table).toContain('(1.00×)');
  }, 20_000);
});
