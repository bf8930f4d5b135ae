import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls until `condition` holds (errors count as "not yet"); fails after `timeoutMs`. */
export async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A redis-server (or sentinel) process of the test's own, on a free loopback port, without persistence. */
export class RedisProcess {
  private child: ChildProcess | undefined;
  private readonly clients: Redis[] = [];

  private constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly dir: string,
  ) {}

  static async start(options: { port?: number; replicaOf?: number; args?: string[] } = {}): Promise<RedisProcess> {
    const port = options.port ?? (await freePort());
    // A directory of its own: a replica's full sync writes an RDB file, and a server started where one
    // lies would load it (even with saving off), bringing data from another run.
    const dir = mkdtempSync(join(tmpdir(), 'cw-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...(options.args ?? [])];
    if (options.replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(options.replicaOf));
    const server = new RedisProcess(port, args, dir);
    await server.launch();
    return server;
  }

  /**
   * Starts `redis-server --sentinel` watching `masterPort` as `name`. `downAfterMs` is how long an
   * instance may stay silent before this Sentinel calls it down: on a loaded machine a primary just
   * promoted can stall that long, and a second, spurious failover follows (docs/reliability.md).
   */
  static async sentinel(masterPort: number, name: string, quorum = 2, downAfterMs = 1000): Promise<RedisProcess> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'cw-sentinel-'));
    const file = join(dir, 'sentinel.conf');
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const server = new RedisProcess(port, [file, '--sentinel'], dir);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A client that `stop` disconnects. */
  client(options: RedisOptions = {}): Redis {
    const client = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1, ...options });
    client.on('error', () => {});
    this.clients.push(client);
    return client;
  }

  /** Disconnects the clients made by `client`, kills the server and removes its directory. */
  async stop(): Promise<void> {
    for (const client of this.clients) client.disconnect();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async launch(): Promise<void> {
    this.child = spawn('redis-server', this.args, { stdio: 'ignore' });
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // Refused connections are expected until the server is up.
    probe.on('error', () => {});
    try {
      await waitFor(`redis on port ${this.port}`, async () => {
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      });
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL: the server dies with whatever it held. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kill, then start again on the same port: without persistence it comes back empty. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async waitForReplicaSync(): Promise<void> {
    const client = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      await waitFor('replica sync', async () => (await client.info('replication')).includes('master_link_status:up'));
    } finally {
      client.disconnect();
    }
  }
}
