// A tiny run of the isolation benchmark (bench/isolation.mjs): it must start the server and the
// misbehaving member in their own processes, deliver everything to the 24 and print its table. It asserts
// that the benchmark measures, never a speed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

describe('isolation benchmark (smoke)', () => {
  it('runs a quiet class and one with a board spammer, each on its own server, and reports both', async () => {
    expect(existsSync(`${ROOT}packages/cli/dist/cli.js`), 'run `npm run build` first').toBe(true);
    const child = spawn(process.execPath, ['bench/isolation.mjs', '--repeats', '1', '--only', 'spams the board', '--no-taskset'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 55_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    // Non-zero when a member missed a message or was closed.
    expect(code, output).toBe(0);
    expect(output).toMatch(/^\| quiet \| 1\.00 \| [0-9.]+ \| \d+ \|$/m);
    expect(output).toMatch(/^\| spams the board \| [0-9.]+ \| [0-9.]+ \| \d+ \|$/m);
    // The spammer was refused by the board budget and its fate reported from its own process.
    expect(output).toMatch(/spams the board .*rate_limited ×\d+/);
  }, 60_000);
});
