import { loadServeConfig, startServer } from '@classwire/cli';
import type { Gateway } from '@classwire/gateway';
import { SignJWT } from 'jose';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { RedisProcess } from './redis-server.js';

/**
 * The shared test harness: servers on loopback ports started as `classwire serve` starts them, tokens,
 * and a raw protocol client. Used by the gateway, emulator, AWS and SDK suites.
 */

export const SECRET = 'test-secret-that-is-at-least-32-characters-long';
export const API_KEY = 'test-api-key-0123456789';
export const AWS_CREDENTIALS = { accessKeyId: 'AKIDCLASSWIRETEST', secretAccessKey: 'classwire-test-secret-key' };

/**
 * Starts a server on a free loopback port with test credentials, as `classwire serve` would: the gateway,
 * or the emulator with `CLASSWIRE_MODE: 'apigw-emulator'`. `env` overrides any variable.
 */
export async function startTestGateway(env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<Gateway> {
  const config = loadServeConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    CLASSWIRE_JWT_SECRET: SECRET,
    CLASSWIRE_API_KEY: API_KEY,
    CLASSWIRE_AWS_ACCESS_KEY_ID: AWS_CREDENTIALS.accessKeyId,
    CLASSWIRE_AWS_SECRET_ACCESS_KEY: AWS_CREDENTIALS.secretAccessKey,
    // Generic rooms: these suites test the protocol with arbitrary events; classroom.test.ts turns it on.
    CLASSWIRE_CLASSROOM: '0',
    // Drains close every socket at once, so suites end quickly; drain.test.ts sets a window.
    CLASSWIRE_DRAIN_SPREAD_MS: '0',
    ...env,
  });
  return startServer(config, { logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
}

/** The runtimes the protocol and SDK suites run against. */
export type RuntimeName = 'gateway' | 'apigw-emulator';
export const RUNTIMES: readonly RuntimeName[] = ['gateway', 'apigw-emulator'];

/**
 * Starts a runtime for a suite: the self-hosted gateway (memory engine unless `env` says otherwise), or
 * the API Gateway emulator running the Lambda handlers on a Redis process of its own, stopped by `drain`.
 */
export async function startRuntime(runtime: RuntimeName, env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<Gateway> {
  if (runtime === 'gateway') return startTestGateway(env, options);
  const redis = await RedisProcess.start();
  try {
    const gateway = await startTestGateway({ CLASSWIRE_MODE: 'apigw-emulator', CLASSWIRE_REDIS_URL: redis.url, ...env }, options);
    const drain = gateway.drain.bind(gateway);
    return Object.assign(gateway, {
      drain: async () => {
        await drain();
        await redis.stop();
      },
    });
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

export interface TokenOptions {
  sub?: string;
  name?: string;
  role?: string;
  rooms?: string[] | string;
  expiresIn?: string | number;
  secret?: string;
  alg?: string;
  extra?: Record<string, unknown>;
}

let userCounter = 0;

export async function makeToken(options: TokenOptions = {}): Promise<string> {
  const payload: Record<string, unknown> = { ...options.extra };
  if (options.name !== undefined) payload.name = options.name;
  payload.role = options.role ?? 'student';
  payload.rooms = options.rooms ?? ['*'];
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setSubject(options.sub ?? `user-${++userCounter}`)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

export type Frame = Record<string, unknown> & { type: string };

/** A raw protocol client over `ws` that records every frame, for tests. */
export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  /** Batch frames received (their frames are in `frames`, in order). */
  batches = 0;
  private readonly waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  /** Called after every received frame; conditions on the frames so far re-check there. */
  private readonly frameListeners = new Set<() => void>();
  private readonly consumed = new Set<Frame>();
  private readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const received = JSON.parse(String(data)) as Frame;
      // A batch frame (the AWS runtime's) is its frames in order, as the protocol says clients treat it.
      const batch = received.type === 'batch' && Array.isArray(received.frames);
      if (batch) this.batches += 1;
      for (const frame of batch ? (received.frames as Frame[]) : [received]) {
        this.frames.push(frame);
        const index = this.waiters.findIndex((w) => w.match(frame));
        if (index !== -1) {
          const [waiter] = this.waiters.splice(index, 1);
          this.consumed.add(frame);
          waiter!.resolve(frame);
        }
        for (const listener of this.frameListeners) listener();
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  /** Connects to a gateway (or to the base `http://host:port` of one running elsewhere). */
  static async connect(gateway: Gateway | string, token: string, query: Record<string, string> = {}): Promise<TestClient> {
    const params = new URLSearchParams({ token, ...query });
    const base = typeof gateway === 'string' ? gateway : gateway.url;
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?${params}`);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame (already received or future) matching `match`, which is then consumed. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const earlier = this.frames.find((f) => !this.consumed.has(f) && match(f));
    if (earlier !== undefined) {
      this.consumed.add(earlier);
      return Promise.resolve(earlier);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Sends a frame with an id and waits for the reply carrying that id (ack, joined, left, pong or error). */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    const id = (frame.id as string | undefined) ?? `req-${Math.random().toString(36).slice(2)}`;
    const reply = this.next((f) => f.id === id && f.type !== 'message' && f.type !== 'direct');
    this.send({ ...frame, id });
    return reply;
  }

  async join(room: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    return this.request({ action: 'join', room, ...extra });
  }

  messages(room?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (room === undefined || f.room === room));
  }

  /** Waits until `count` sequenced messages of `room` have arrived, re-checking on every frame. */
  waitForMessages(room: string, count: number, timeoutMs = 5000): Promise<Frame[]> {
    if (this.messages(room).length >= count) return Promise.resolve(this.messages(room));
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.messages(room).length < count) return;
        this.frameListeners.delete(check);
        clearTimeout(timer);
        resolve(this.messages(room));
      };
      const timer = setTimeout(() => {
        this.frameListeners.delete(check);
        reject(new Error(`expected ${count} messages in ${room}, got ${this.messages(room).length}`));
      }, timeoutMs);
      this.frameListeners.add(check);
    });
  }

  waitClosed(): Promise<number> {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

/** The HTTP status an upgrade attempt is answered with (101 when it is accepted). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/**
 * Polls `condition` until it holds; fails after `timeoutMs`. Only for state that signals no event a test
 * can await (server counters, Redis keys, HTTP readiness, SDK state); frames have event-driven waits
 * (`TestClient.next`, `waitForMessages`).
 */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition did not hold in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
