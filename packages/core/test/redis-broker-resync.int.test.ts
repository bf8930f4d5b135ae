import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { encodeMessageBody } from '@classwire/protocol';
import { RedisBroker, RedisRoomLog, redisKeys, renewEpochs } from '../src/redis/index.js';
import type { ReadResult } from '../src/ports.js';
import { RecordingFanOut } from './recording-fanout.js';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { RedisProcess, waitFor } from '../../../test-support/redis-server.js';

// The broker's catch-up paths around a reconnect of its subscriber (docs/reliability.md, "The Sentinel
// failover race"): each test orders the Redis round trips itself, so the interleaving is the same every run.

let server: RedisProcess;
let redis: Redis;
const unhandled: unknown[] = [];
const recordUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  server = await RedisProcess.start();
  redis = server.client();
  process.on('unhandledRejection', recordUnhandled);
});

afterAll(async () => {
  process.off('unhandledRejection', recordUnhandled);
  await server?.stop();
});

const keys = redisKeys();
const SENDER = { userId: 'u1', role: 'student', name: 'Ada' } as const;
const body = (text: string): string => encodeMessageBody('chat.message', { text }, SENDER);
let counter = 0;
const unique = (label: string): string => `${label}-${process.pid}-${++counter}`;

const seqsOf = (delivery: RecordingFanOut, connectionId: string): number[] => delivery.frames(connectionId).map((f) => f.seq as number);

/** A real room log whose next read, once armed, waits until released: a reply that is still on its way. */
class HeldReadLog extends RedisRoomLog {
  private gate: Promise<void> | undefined;
  private arrived: (() => void) | undefined;

  /** Arms the hold; resolves `reached` when a read is waiting, and `release` lets it run. */
  holdNextRead(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    this.gate = new Promise((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (this.arrived = resolve));
    return { reached, release };
  }

  override async read(room: string, since?: number, epoch?: string): Promise<ReadResult> {
    const gate = this.gate;
    this.gate = undefined;
    if (gate !== undefined) {
      this.arrived?.();
      await gate;
    }
    return super.read(room, since, epoch);
  }
}

describe('RedisBroker resync and backfill', () => {
  it('two resyncs in one round trip deliver each missed message once, in order, and throw nothing', async () => {
    const room = unique('twice');
    const delivery = new RecordingFanOut();
    await delivery.subscribe('member', room, false);
    const log = new RedisRoomLog(redis);
    // Appends the broker's subscriber never hears of: what a reconnecting subscriber misses.
    const unheard = new RedisRoomLog(redis, { pubsub: false });
    const broker = new RedisBroker({ log, redis, subscriber: server.client(), delivery });
    await broker.subscribe(room);
    await unheard.append(room, body('missed 1'));
    await unheard.append(room, body('missed 2'));

    // The subscriber reconnected twice in quick succession: both resyncs start before either read returns.
    broker.resync();
    broker.resync();
    await log.append(room, body('live 3'));

    await waitFor('the live message', () => Promise.resolve(seqsOf(delivery, 'member').includes(3)));
    // Whatever was still in flight has landed once a later publication came through.
    await log.append(room, body('live 4'));
    await waitFor('the next live message', () => Promise.resolve(seqsOf(delivery, 'member').includes(4)));
    expect(seqsOf(delivery, 'member')).toEqual([1, 2, 3, 4]);
    expect(unhandled).toEqual([]);
  });

  it('a backfill that outlives its room position (Redis lost its data, the room is tracked anew) closes nobody', async () => {
    const room = unique('outlived');
    const delivery = new RecordingFanOut();
    await delivery.subscribe('before', room, false);
    const log = new HeldReadLog(redis);
    const lost: string[] = [];
    const broker = new RedisBroker({ log, redis, subscriber: server.client(), delivery, events: { backfilled: () => {}, historyLost: (r) => lost.push(r) } });
    await broker.subscribe(room);
    await log.append(room, body('one'));
    await waitFor('the first message', () => Promise.resolve(seqsOf(delivery, 'before').includes(1)));

    // A resync's read is on its way when the node learns that Redis changed: it forgets every room
    // position, its members are closed (here: leave) and join again, tracking the room in the new epoch.
    const held = log.holdNextRead();
    broker.resync();
    await held.reached;
    broker.forgetRooms();
    await renewEpochs(redis, keys);
    await delivery.unsubscribe('before', room);
    await delivery.subscribe('after', room, false);
    await broker.subscribe(room);

    // The old read now answers "another epoch": about a position nobody holds any more.
    held.release();
    await log.append(room, body('two'));
    await waitFor('the next message', () => Promise.resolve(seqsOf(delivery, 'after').includes(2)));
    expect(delivery.closed).toEqual([]);
    expect(lost).toEqual([]);
    expect(seqsOf(delivery, 'after')).toEqual([2]);
    expect(unhandled).toEqual([]);
  });

  it('reads the log only once the subscriptions are back: a message appended between the two is not lost', async () => {
    const room = unique('resubscribed');
    const delivery = new RecordingFanOut();
    await delivery.subscribe('member', room, false);
    const path = new FaultProxy(server.port, { raw: true });
    await path.start();
    const subscriber = new Redis(path.port, '127.0.0.1', { retryStrategy: () => 20, maxRetriesPerRequest: null });
    subscriber.on('error', () => {});
    const log = new RedisRoomLog(redis);
    let backfills = 0;
    const broker = new RedisBroker({ log, redis, subscriber, delivery, events: { backfilled: () => (backfills += 1), historyLost: () => {} } });
    // As the gateway does (cluster.ts).
    subscriber.on('ready', () => broker.resync());
    try {
      await broker.subscribe(room);
      await log.append(room, body('one'));
      await waitFor('the first message', () => Promise.resolve(seqsOf(delivery, 'member').includes(1)));

      // The subscriber's connection drops and comes back; Redis has not yet received its SUBSCRIBEs.
      path.holdUpstream((chunk) => chunk.toString('latin1').toLowerCase().includes('subscribe'));
      const reconnected = new Promise((resolve) => subscriber.once('ready', resolve));
      path.cutAll();
      await reconnected;
      // On the log's connection, after whatever read the resync started: published to nobody.
      await log.append(room, body('two'));
      path.releaseUpstream();

      await waitFor('the resync backfill', () => Promise.resolve(backfills >= 1));
      expect(seqsOf(delivery, 'member')).toEqual([1, 2]);
    } finally {
      subscriber.disconnect();
      await path.stop();
    }
  });
});
