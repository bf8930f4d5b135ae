import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test-support/redis-server.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Resolves with the first stdout line (pino JSON) whose msg matches. */
function waitForLog(child: ChildProcess, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no "${msg}" log line; output so far:\n${buffered}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === msg) {
            clearTimeout(timer);
            resolve(entry);
          }
        } catch {
          // a partial line; the rest arrives with the next chunk
        }
      }
    });
    // 'close' waits for every process holding the pipe (npm and the gateway under it).
    child.once('close', (code) => reject(new Error(`exited with ${code} before "${msg}":\n${buffered}`)));
  });
}

let child: ChildProcess | undefined;
afterAll(() => {
  if (child?.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
});

describe('npm start', () => {
  it('runs the quick start: health, a development token, a WebSocket session, and a clean SIGTERM drain', async () => {
    const port = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLASSWIRE_') && !k.startsWith('npm_')));
    child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      // --dev logs for humans; JSON lines are what this test reads.
      env: { ...env, PORT: String(port), LOG_FORMAT: 'json' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const listening = await waitForLog(child, 'classwire gateway listening', 60_000);
    const base = `http://127.0.0.1:${port}`;
    expect(listening.url).toBe(base);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // The quick start serves the classroom app that `npm start` has just built, with its assets.
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('<div id="app"></div>');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${base}${script}`)).headers.get('content-type')).toContain('text/javascript');
    const tokenResponse = await fetch(`${base}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Quick Start', role: 'teacher', rooms: ['demo'] }),
    });
    expect(tokenResponse.status).toBe(200);
    const { token } = (await tokenResponse.json()) as { token: string };

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`);
    const frames: Record<string, unknown>[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    const acked = new Promise<void>((resolve) =>
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>;
        frames.push(frame);
        if (frame.type === 'ack') resolve();
      }),
    );
    ws.send(JSON.stringify({ action: 'join', room: 'demo' }));
    ws.send(JSON.stringify({ action: 'publish', room: 'demo', event: 'chat.message', data: { text: 'hello' }, id: 'q1' }));
    await acked;
    // Rooms are classrooms by default: the join brings the class's state before `joined`. `npm start`
    // keeps class records, so the first join is in the room log too (`presence.join`, docs/records.md).
    expect(frames.map((f) => f.type)).toEqual(['snapshot', 'joined', 'message', 'message', 'ack']);
    expect(frames.filter((f) => f.type === 'message').map((f) => f.event)).toEqual(['presence.join', 'chat.message']);
    const snapshot = JSON.parse(String(frames[0]!.data)) as { full: boolean; status: string; chat: unknown[] };
    expect(snapshot).toMatchObject({ full: true, status: 'waiting', chat: [] });

    const exited = new Promise<void>((resolve) => child!.once('close', () => resolve()));
    const drained = waitForLog(child, 'drained', 10_000);
    // As a terminal's Ctrl-C or a process manager would: the whole process group gets the signal.
    process.kill(-child.pid!, 'SIGTERM');
    expect(await closed).toBe(4000);
    expect((await drained).node).toBe(listening.node);
    await exited;
    expect(stderr).not.toContain(token);
  }, 90_000);
});
