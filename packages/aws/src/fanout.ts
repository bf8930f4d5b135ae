import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionRegistry, FanOut, Logger } from '@classwire/core';
import { composeBatchFrames, encodeClosingFrame } from '@classwire/protocol';
import type { RoomCoalescer } from './coalescer.js';

/** API Gateway's largest @connections post (it splits a message into 32 KB frames itself). */
export const MAX_POST_BYTES = 128 * 1024;
/** API Gateway meters messages in 32 KB units. */
export const BILLING_UNIT_BYTES = 32 * 1024;

/** What one handler invocation's posts did; logged as CloudWatch metrics (see `metricsLine`). */
export interface FanOutStats {
  posts: number;
  /** 32 KB units billed for the successful posts. */
  billedUnits: number;
  gone: number;
  failed: number;
  /** Stale connections removed after a 410. */
  staleRemoved: number;
}

export interface ManagementApiFanOutOptions {
  registry: ConnectionRegistry;
  /** The @connections endpoint to use now (it may come from the event being handled). */
  endpoint: () => string;
  region: string | undefined;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  concurrency: number;
  goneGraceMs: number;
  logger: Logger;
  now?: () => number;
}

/**
 * FanOut over API Gateway's management API: every frame is one PostToConnection.
 *
 * `postToMembers` (the broker's delivery, `ManagementApiBroker`) reads the room's members from the
 * registry and posts to them in parallel, at most `concurrency` at a time. A post answered 410 marks that connection stale (it vanished without a
 * `$disconnect`); stale connections are removed through `onGone` (the engine's disconnect) by
 * `removeStale`, after the handler's own work, so the sender's ack is not delayed by clean-up. Other
 * failures (throttling, a full client buffer) are logged and counted, never thrown: the message is
 * stored already, and a member that missed a sequenced frame sees the gap and resumes.
 *
 * Holding (`subscribe(held)` / `release`) is not needed here and is not done: on the gateway a hold
 * stops one process from writing live frames into a socket while it writes a replay, but on API
 * Gateway there is no such process. Every invocation posts independently, so even two live frames
 * can arrive in either order. The guarantee rests on the seq numbers instead: a live frame that
 * reaches a resuming client before or among the replay is either one the replay also carries (the
 * client drops the duplicate) or a newer one (the client holds it until the gap is filled). A hold kept
 * in Redis would cost a round trip per member on every broadcast and still could not order posts from
 * concurrent invocations. Membership itself lives in the registry, which the engine updates.
 */
export class ManagementApiFanOut implements FanOut {
  /** Removes a stale connection everywhere (registry, presence); set by the engine factory. */
  onGone: (connectionId: string) => Promise<void> = () => Promise.resolve();
  /** The room coalescer, when coalescing is on; set by the engine factory. */
  coalescer: Pick<RoomCoalescer, 'flushNow'> | undefined;
  readonly stats: FanOutStats = { posts: 0, billedUnits: 0, gone: 0, failed: 0, staleRemoved: 0 };
  private readonly clients = new Map<string, ApiGatewayManagementApiClient>();
  private readonly stale = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: ManagementApiFanOutOptions) {
    this.now = options.now ?? Date.now;
  }

  async send(connectionId: string, frame: string): Promise<boolean> {
    return (await this.post(connectionId, frame)) === 'posted';
  }

  async sendMany(connectionId: string, frames: readonly string[]): Promise<boolean> {
    // A replay, a snapshot and `joined` leave as batch frames: one billed message per 32 KB, not per frame.
    // One after another: API Gateway delivers a connection's posts in the order they were accepted.
    for (const frame of composeBatchFrames(frames, BILLING_UNIT_BYTES)) if (!(await this.send(connectionId, frame))) return false;
    return true;
  }

  /**
   * Frames to every member of the room (but `except`), in order, as batch frames of at most 32 KB (the
   * coalescer's delivery). A frame with its own `except` (a sender that asked for no echo) is left out of
   * that member's posts only.
   */
  async postFramesToMembers(room: string, frames: readonly { frame: string; except?: string | undefined }[], except?: string): Promise<void> {
    const posts = composeBatchFrames(
      frames.map((f) => f.frame),
      BILLING_UNIT_BYTES,
    );
    const senders = new Set(frames.flatMap((f) => (f.except === undefined ? [] : [f.except])));
    const postsFor = (id: string) =>
      senders.has(id)
        ? composeBatchFrames(
            frames.filter((f) => f.except !== id).map((f) => f.frame),
            BILLING_UNIT_BYTES,
          )
        : posts;
    const members = await this.options.registry.members(room);
    const targets = except === undefined ? members : members.filter((id) => id !== except);
    await forEachLimited(targets, this.options.concurrency, async (id) => {
      for (const post of postsFor(id)) if ((await this.post(id, post)) === 'gone') return;
    });
  }

  /** One frame to every member of the room (but `except`), posted in parallel. */
  async postToMembers(room: string, frame: string, except?: string): Promise<void> {
    const members = await this.options.registry.members(room);
    const targets = except === undefined ? members : members.filter((id) => id !== except);
    await forEachLimited(targets, this.options.concurrency, (id) => this.post(id, frame));
  }

  /**
   * A join (after its membership, before its replay is read): the room's queued messages go to the
   * other members now, not to the joiner, whose replay carries them (they are stored). Without it they
   * would reach the joiner twice: in the replay and in the window's batch.
   */
  async subscribe(connectionId: string, room: string): Promise<void> {
    await this.coalescer?.flushNow(room, connectionId);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }

  /** DeleteConnection. API Gateway chooses the close code; `code` and `reason` are only logged. */
  async close(connectionId: string, code: number, reason: string): Promise<void> {
    // What its rooms were told last (a class ending) reaches the connection before it goes.
    if (this.coalescer !== undefined) {
      const rooms = (await this.options.registry.get(connectionId))?.joined ?? [];
      for (const room of rooms) await this.coalescer.flushNow(room);
    }
    // DeleteConnection cannot choose the close code: tell the client first (a `closing` frame), so it
    // acts on the code (4502 removed: do not reconnect) exactly as it does on the self-hosted gateway.
    await this.send(connectionId, encodeClosingFrame(code, reason));
    try {
      await this.client().send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      this.options.logger.info({ connectionId, code, reason }, 'connection deleted');
    } catch (error) {
      if (!isGoneError(error)) this.options.logger.warn({ err: error, connectionId }, 'DeleteConnection failed');
    }
  }

  /**
   * Removes every connection a post found gone (and any found while removing them: their presence
   * leaves are broadcast too). Call before the handler returns: Lambda freezes the environment after.
   */
  async removeStale(): Promise<void> {
    for (let next = first(this.stale); next !== undefined; next = first(this.stale)) {
      this.stale.delete(next);
      try {
        await this.onGone(next);
        this.stats.staleRemoved += 1;
      } catch (error) {
        this.options.logger.warn({ err: error, connectionId: next }, 'could not remove a stale connection');
      }
    }
  }

  /** Zeroes the counters (each invocation reports its own). */
  takeStats(): FanOutStats {
    const snapshot = { ...this.stats };
    Object.assign(this.stats, { posts: 0, billedUnits: 0, gone: 0, failed: 0, staleRemoved: 0 });
    return snapshot;
  }

  destroy(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }

  private async post(connectionId: string, frame: string): Promise<'posted' | 'gone' | 'failed'> {
    const data = Buffer.from(frame);
    if (data.length > MAX_POST_BYTES) {
      // The engine keeps frames within 32 KiB; only an oversized `joined` presence list could get here.
      this.stats.failed += 1;
      this.options.logger.error({ connectionId, bytes: data.length }, 'frame exceeds API Gateway\'s 128 KB post limit; not sent');
      return 'failed';
    }
    try {
      await this.client().send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
      this.stats.posts += 1;
      this.stats.billedUnits += Math.max(1, Math.ceil(data.length / BILLING_UNIT_BYTES));
      return 'posted';
    } catch (error) {
      if (isGoneError(error)) {
        this.stats.gone += 1;
        await this.markStale(connectionId);
        return 'gone';
      }
      this.stats.failed += 1;
      this.options.logger.warn({ err: error, connectionId }, 'PostToConnection failed');
      return 'failed';
    }
  }

  private async markStale(connectionId: string): Promise<void> {
    try {
      const record = await this.options.registry.get(connectionId);
      // Unknown: already removed. Young: possibly still inside `$connect`, where API Gateway answers 410.
      if (record === undefined || this.now() - record.connectedAt < this.options.goneGraceMs) return;
      this.stale.add(connectionId);
    } catch (error) {
      this.options.logger.warn({ err: error, connectionId }, 'could not check a gone connection');
    }
  }

  private client(): ApiGatewayManagementApiClient {
    const endpoint = this.options.endpoint();
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      client = new ApiGatewayManagementApiClient({
        endpoint,
        ...(this.options.region === undefined ? {} : { region: this.options.region }),
        ...(this.options.credentials === undefined ? {} : { credentials: this.options.credentials }),
        // One retry for throttling and 5xx. A retried post may duplicate a frame; clients drop duplicates by seq or id.
        maxAttempts: 2,
      });
      this.clients.set(endpoint, client);
    }
    return client;
  }
}

/**
 * Whether an SDK v3 error means 410 Gone. v3 errors have no `statusCode` (a v2-style check never
 * matches); the type comes from `x-amzn-ErrorType`, and without it only the HTTP status tells.
 */
export function isGoneError(error: unknown): boolean {
  if (error instanceof GoneException) return true;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return candidate.name === 'GoneException' || candidate.$metadata?.httpStatusCode === 410;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function first<T>(set: Set<T>): T | undefined {
  return set.values().next().value;
}
