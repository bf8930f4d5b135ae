import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import WebSocket from 'ws';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = fileURLToPath(new URL('../', import.meta.url));

/**
 * The Debian packages the deployment tests drive (.ci/run installs them). A missing one fails the test
 * with the package to install, never a silent skip.
 */
export function requireBinary(path: string, debianPackage: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}; .ci/run does)`);
  return path;
}

/** A child process whose output is kept for the failure message. */
export class Child {
  readonly process: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    // The parent's Classwire settings (a developer's shell) must not leak into the nodes under test.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLASSWIRE_') && !k.startsWith('HAPROXY_')));
    this.process = spawn(command, args, { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      // The tail is what explains a failure; a chatty process must not grow without bound.
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.process.stdout!.on('data', keep);
    this.process.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.process.kill(signal);
    await this.exited;
  }
}

/** Polls until `condition` returns a value (errors and undefined count as "not yet"); fails after `timeoutMs`. */
export async function until<T>(what: string, condition: () => Promise<T | undefined>, timeoutMs = 15_000, explain: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${explain() ? `\n${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One command on HAProxy's runtime API (the stats socket), as `socat stdio <socket>` would send it. */
export function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () => resolve(answer));
    socket.end(`${command}\n`);
  });
}

/** `show stat` of one backend: each server's status (UP, DOWN, DRAIN, MAINT, …) and open sessions. */
export async function backendServers(socketPath: string, backend: string): Promise<Map<string, { status: string; sessions: number }>> {
  const [header, ...rows] = (await haproxyCommand(socketPath, 'show stat')).trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const column = (name: string) => columns.indexOf(name);
  const servers = new Map<string, { status: string; sessions: number }>();
  for (const row of rows) {
    const fields = row.split(',');
    if (fields[column('pxname')] !== backend || ['FRONTEND', 'BACKEND'].includes(fields[column('svname')]!)) continue;
    servers.set(fields[column('svname')]!, { status: fields[column('status')]!, sessions: Number(fields[column('scur')]) });
  }
  return servers;
}

export const JWT_SECRET = 'deploy-test-secret-of-at-least-32-characters';
export const API_KEY = 'deploy-test-api-key';

export function token(sub: string): Promise<string> {
  return new SignJWT({ role: 'teacher', rooms: ['*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

export type Frame = Record<string, unknown> & { type: string };

/**
 * A protocol client over `ws` that keeps every frame and, like the SDK, the last seq and epoch of each
 * room, so it can resume after a reconnect.
 */
export class Peer {
  readonly frames: Frame[] = [];
  readonly positions = new Map<string, { seq: number; epoch: string }>();
  closeCode: Promise<number>;
  private socket: WebSocket;
  private waiters: (() => void)[] = [];

  private constructor(
    socket: WebSocket,
    private readonly url: string,
    private readonly headers: Record<string, string>,
  ) {
    this.socket = socket;
    this.closeCode = this.watch(socket);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<Peer> {
    return new Peer(await openSocket(url, headers), url, headers);
  }

  /** Opens a new socket to the same URL (through the load balancer: any node), retrying refusals. */
  async reconnect(timeoutMs = 15_000): Promise<void> {
    this.socket = await until('a reconnect through HAProxy', () => openSocket(this.url, this.headers), timeoutMs);
    this.closeCode = this.watch(this.socket);
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Sends a frame with an id and resolves with the reply carrying that id. */
  async request(frame: Record<string, unknown>, id: string): Promise<Frame> {
    this.send({ ...frame, id });
    return this.next((f) => f.id === id && f.type !== 'message');
  }

  /** Joins, resuming from the last position seen in the room when there is one. */
  join(room: string, id: string): Promise<Frame> {
    const position = this.positions.get(room);
    return this.request({ action: 'join', room, ...(position && { since: position.seq, epoch: position.epoch }) }, id);
  }

  /** The first frame (already received or still to come) that matches. */
  async next(match: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no matching frame; received: ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.close(1000);
  }

  private watch(socket: WebSocket): Promise<number> {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      this.frames.push(frame);
      const room = frame.room as string | undefined;
      if (room !== undefined && typeof frame.seq === 'number') {
        const epoch = (frame.epoch as string | undefined) ?? this.positions.get(room)?.epoch;
        if (epoch !== undefined && (frame.type === 'joined' || frame.type === 'message')) this.positions.set(room, { seq: frame.seq, epoch });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
  }
}

function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => {
      socket.terminate();
      reject(new Error(`upgrade refused with ${res.statusCode}`));
    });
  });
}
