import { randomUUID } from 'node:crypto';
import { StoreUnavailableError, type ConnectionRegistry, type FanOut, type Logger, type RedisKeys } from '@classwire/core';
import type { Redis } from 'ioredis';
import type { ConnectionInfo } from './connection.js';
import type { LocalFanOut } from './local-fanout.js';
import { decodeNodeMessage, encodeClose, encodeDescribe, encodeDescribed, encodeSend, type NodeMessage } from './node-wire.js';

const REMOTE_REPLY_TIMEOUT_MS = 2000;

export interface ClusterFanOutOptions {
  local: LocalFanOut;
  /** For PUBLISH on other nodes' channels. */
  redis: Redis;
  /** The node's subscriber connection (shared with the broker, which takes the room channels). */
  subscriber: Redis;
  registry: ConnectionRegistry;
  keys: RedisKeys;
  nodeId: string;
  logger: Logger;
  describeLocal: (connectionId: string) => ConnectionInfo | undefined;
}

/**
 * The FanOut of a gateway node in a Redis cluster: a connection held here is served by the LocalFanOut; one
 * held by another node (a direct message, a close, an @connections call) is forwarded on that node's
 * channel (`node-wire.ts`), found through the registry. Room-wide delivery is the broker's (RedisBroker).
 */
export class ClusterFanOut implements FanOut {
  private readonly replies = new Map<string, (info: ConnectionInfo | undefined) => void>();
  private readonly local: LocalFanOut;
  private readonly nodeChannel: string;

  constructor(private readonly options: ClusterFanOutOptions) {
    this.local = options.local;
    this.nodeChannel = options.keys.nodeChannel(options.nodeId);
    // 'messageBuffer', as the broker listens: a 'message' listener would make ioredis decode every room payload.
    options.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
      if (channel.toString() === this.nodeChannel) this.onNodeMessage(payload.toString());
    });
  }

  /** Subscribes to this node's own channel. */
  async start(): Promise<void> {
    await this.options.subscriber.subscribe(this.nodeChannel);
  }

  async send(connectionId: string, frame: string): Promise<boolean> {
    if (this.local.connections.has(connectionId)) return this.local.send(connectionId, frame);
    const node = await this.nodeOf(connectionId);
    if (node === undefined) return false;
    await this.publish(node, encodeSend({ connectionId, frame }));
    return true;
  }

  async sendMany(connectionId: string, frames: readonly string[]): Promise<boolean> {
    if (this.local.connections.has(connectionId)) return this.local.sendMany(connectionId, frames);
    for (const frame of frames) if (!(await this.send(connectionId, frame))) return false;
    return true;
  }

  /** Room state lives next to the socket: only this node's connections subscribe here. */
  subscribe(connectionId: string, room: string, held: boolean): Promise<void> {
    return this.local.subscribe(connectionId, room, held);
  }

  release(connectionId: string, room: string, seq: number): Promise<void> {
    return this.local.release(connectionId, room, seq);
  }

  unsubscribe(connectionId: string, room: string): Promise<void> {
    return this.local.unsubscribe(connectionId, room);
  }

  async close(connectionId: string, code: number, reason: string): Promise<void> {
    if (this.local.connections.has(connectionId)) return this.local.close(connectionId, code, reason);
    const node = await this.nodeOf(connectionId);
    if (node !== undefined) await this.publish(node, encodeClose({ connectionId, code, reason }));
  }

  /** GET @connections for a connection on any node; undefined when no node holds it. */
  async describe(connectionId: string): Promise<ConnectionInfo | undefined> {
    const local = this.options.describeLocal(connectionId);
    if (local !== undefined) return local;
    const node = await this.nodeOf(connectionId);
    if (node === undefined) return undefined;
    const replyId = randomUUID();
    const answer = new Promise<ConnectionInfo | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(replyId);
        reject(new StoreUnavailableError(`node ${node} did not answer`));
      }, REMOTE_REPLY_TIMEOUT_MS);
      this.replies.set(replyId, (info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
    await this.publish(node, encodeDescribe({ connectionId, replyId, replyNode: this.options.nodeId }));
    return answer;
  }

  private onNodeMessage(payload: string): void {
    let message: NodeMessage | undefined;
    try {
      message = decodeNodeMessage(payload);
    } catch (error) {
      this.options.logger.error({ err: error }, 'bad node message');
      return;
    }
    switch (message?.kind) {
      case 'send':
        void this.local.send(message.connectionId, message.frame);
        return;
      case 'close':
        void this.local.close(message.connectionId, message.code, message.reason);
        return;
      case 'describe': {
        const info = this.options.describeLocal(message.connectionId);
        this.publish(message.replyNode, encodeDescribed({ replyId: message.replyId, info })).catch((error: unknown) => {
          this.options.logger.warn({ err: error }, 'describe reply failed');
        });
        return;
      }
      case 'described':
        this.replies.get(message.replyId)?.(message.info);
        this.replies.delete(message.replyId);
        return;
      case undefined:
        this.options.logger.error({}, 'unknown node message');
    }
  }

  private async nodeOf(connectionId: string): Promise<string | undefined> {
    return (await this.options.registry.get(connectionId))?.node;
  }

  private async publish(node: string, payload: string): Promise<void> {
    try {
      await this.options.redis.publish(this.options.keys.nodeChannel(node), payload);
    } catch (error) {
      throw new StoreUnavailableError('Redis publish failed', { cause: error });
    }
  }
}
