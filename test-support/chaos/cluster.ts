import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisProcess, freePort, waitFor } from '../redis-server.js';

/** The repository root, found upwards (this module also runs bundled, from another directory). */
function repositoryRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package-lock.json'))) return dir;
  }
  throw new Error('repository root (with package-lock.json) not found above the chaos module');
}

const CLI = join(repositoryRoot(), 'packages/cli/dist/cli.js');
export const MASTER_NAME = 'chaosmaster';

export interface ClusterOptions {
  secret: string;
  nodeCount: number;
  /** `CLASSWIRE_REDIS_WAIT_REPLICAS` of every node. */
  waitReplicas: number;
  /** Where each node's stdout and stderr go (one file per node incarnation). */
  logDir: string;
  log: (line: string) => void;
}

interface GatewayNode {
  port: number;
  /** Bumped at every start: a node that died keeps its id in Redis until a peer reaps it. */
  incarnation: number;
  child: ChildProcess | undefined;
}

/**
 * The systems under chaos, all on loopback: a Redis primary with two replicas and three Sentinels, and
 * gateway nodes as `classwire serve` processes (so they can be killed with SIGKILL) that find the primary
 * through the Sentinels.
 */
export class ChaosCluster {
  private readonly nodes: GatewayNode[] = [];
  private readonly redis: RedisProcess[] = [];
  private readonly sentinels: RedisProcess[] = [];
  private sentinelClient: Redis | undefined;

  private constructor(private readonly options: ClusterOptions) {}

  static async start(options: ClusterOptions): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(options);
    try {
      await cluster.startRedis();
      for (let i = 0; i < options.nodeCount; i++) cluster.nodes.push({ port: await freePort(), incarnation: 0, child: undefined });
      await Promise.all(cluster.nodes.map((_, i) => cluster.startNode(i)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get nodePorts(): number[] {
    return this.nodes.map((n) => n.port);
  }

  isRunning(index: number): boolean {
    const child = this.nodes[index]!.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async startNode(index: number): Promise<void> {
    const node = this.nodes[index]!;
    node.incarnation += 1;
    const id = `chaos-${index}-${node.incarnation}`;
    const logFd = openSync(join(this.options.logDir, `${id}.log`), 'a');
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        ...process.env,
        PORT: String(node.port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        CLASSWIRE_JWT_SECRET: this.options.secret,
        CLASSWIRE_NODE_ID: id,
        CLASSWIRE_REDIS_SENTINELS: this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
        CLASSWIRE_REDIS_MASTER_NAME: MASTER_NAME,
        CLASSWIRE_REDIS_WAIT_REPLICAS: String(this.options.waitReplicas),
        CLASSWIRE_REDIS_WAIT_TIMEOUT_MS: '500',
        CLASSWIRE_REDIS_COMMAND_TIMEOUT_MS: '500',
        CLASSWIRE_NODE_TTL_MS: '3000',
        CLASSWIRE_DRAIN_TIMEOUT_MS: '2000',
        CLASSWIRE_RATE_PER_SECOND: '200',
        CLASSWIRE_RATE_BURST: '400',
      },
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    node.child = child;
    await waitFor(
      `node ${id} ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`node ${id} exited with ${child.exitCode}`);
        return (await fetch(`http://127.0.0.1:${node.port}/readyz`)).status === 200;
      },
      30_000,
    ).catch((error: unknown) => {
      if (child.exitCode !== null) throw new Error(`node ${id} exited with code ${child.exitCode}; see ${this.options.logDir}`);
      throw error;
    });
  }

  /** SIGKILL: the node dies with its sockets open and its registry entries in Redis. */
  async killNode(index: number): Promise<void> {
    await this.signalNode(index, 'SIGKILL');
  }

  /** SIGTERM (the node drains its connections), then start it again. */
  async restartNode(index: number): Promise<void> {
    await this.signalNode(index, 'SIGTERM', 15_000);
    await this.startNode(index);
  }

  /** The primary's port, as the Sentinels see it. */
  async primaryPort(): Promise<number> {
    const address = (await this.sentinel().call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [string, string];
    return Number(address[1]);
  }

  /**
   * Fails the primary over, by asking a Sentinel (`graceful`: the primary hands over) or by killing it
   * (SIGKILL, then it comes back empty and the Sentinels make it a replica). Returns once a new primary
   * with at least one synced replica serves writes, so the next failover has somewhere to go.
   */
  async failover(how: 'sentinel' | 'kill-primary'): Promise<{ from: number; to: number }> {
    const from = await this.primaryPort();
    if (how === 'sentinel') await this.sentinel().call('SENTINEL', 'FAILOVER', MASTER_NAME);
    else await this.redisOn(from).kill();
    await waitFor('a new primary', async () => (await this.primaryPort()) !== from, 30_000);
    const to = await this.primaryPort();
    if (how === 'kill-primary') {
      // It comes back empty (no persistence) and configured as it first started; point it at the new
      // primary at once, as the Sentinels would after a while.
      const revived = this.redisOn(from);
      await revived.launch();
      const client = revived.client();
      await client.call('REPLICAOF', '127.0.0.1', String(to));
      client.disconnect();
    }
    const probe = new Redis(to, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
    probe.on('error', () => {});
    try {
      await waitFor(
        'the new primary to have two synced replicas',
        async () => {
          const info = await probe.info('replication');
          const online = info.split('\n').filter((line) => /^slave\d+:.*state=online/.test(line)).length;
          return info.includes('role:master') && online >= 2;
        },
        60_000,
      );
    } finally {
      probe.disconnect();
    }
    return { from, to };
  }

  /** Kills every process it started; safe to call more than once and after a failed start. */
  async stop(): Promise<void> {
    for (const node of this.nodes) {
      const child = node.child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.sentinelClient?.disconnect();
    for (const server of [...this.sentinels, ...this.redis]) await server.stop();
  }

  private async startRedis(): Promise<void> {
    const primary = await RedisProcess.start();
    this.redis.push(primary);
    for (let i = 0; i < 2; i++) this.redis.push(await RedisProcess.start({ replicaOf: primary.port }));
    for (const replica of this.redis.slice(1)) await replica.waitForReplicaSync();
    for (let i = 0; i < 3; i++) this.sentinels.push(await RedisProcess.sentinel(primary.port, MASTER_NAME));
    // Sentinels learn the replicas and each other from the primary; a failover needs both.
    await waitFor(
      'sentinels to know both replicas and each other',
      async () => {
        const [replicas, peers] = await Promise.all([
          this.sentinel().call('SENTINEL', 'replicas', MASTER_NAME) as Promise<unknown[]>,
          this.sentinel().call('SENTINEL', 'sentinels', MASTER_NAME) as Promise<unknown[]>,
        ]);
        return replicas.length === 2 && peers.length === 2;
      },
      30_000,
    );
  }

  private sentinel(): Redis {
    this.sentinelClient ??= this.sentinels[0]!.client();
    return this.sentinelClient;
  }

  private redisOn(port: number): RedisProcess {
    const server = this.redis.find((r) => r.port === port);
    if (server === undefined) throw new Error(`no redis of ours on port ${port}`);
    return server;
  }

  private async signalNode(index: number, signal: NodeJS.Signals, graceMs = 0): Promise<void> {
    const child = this.nodes[index]!.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    if (graceMs > 0) {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  }
}
