import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess } from '../../../test-support/redis-server.js';
import { MAX_QUEUED_FRAMES, RoomCoalescer } from '../src/coalescer.js';
import type { ManagementApiFanOut } from '../src/fanout.js';
import { createLambdaLogger } from '../src/index.js';

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);
let server: RedisProcess;

beforeAll(async () => {
  server = await RedisProcess.start();
});
afterAll(async () => {
  await server?.stop();
});

/** What each execution environment's coalescer handed to the fan-out: one entry per flush. */
function recorder() {
  const flushes: { room: string; frames: string[]; except: string | undefined; senders: (string | undefined)[] }[] = [];
  const fanout = {
    postFramesToMembers: (room: string, frames: readonly { frame: string; except?: string }[], except?: string) => {
      flushes.push({ room, frames: frames.map((f) => f.frame), except, senders: frames.map((f) => f.except) });
      return Promise.resolve();
    },
  } satisfies Pick<ManagementApiFanOut, 'postFramesToMembers'> as unknown as ManagementApiFanOut;
  return { flushes, fanout };
}

describe('RoomCoalescer on Redis', () => {
  it('makes one of many concurrent environments the leader, which posts every frame once, in seq order', async () => {
    const a = recorder();
    const b = recorder();
    // Two execution environments: separate Redis connections, shared nothing else.
    const first = new RoomCoalescer(server.client(), 'c1', a.fanout, 100, silent);
    const second = new RoomCoalescer(server.client(), 'c1', b.fanout, 100, silent);
    const seqs = [3, 1, 2, 5, 4, 6];
    await Promise.all(seqs.map((seq, i) => (i % 2 === 0 ? first : second).queue('room', seq, `{"seq":${seq}}`)));
    await Promise.all([first.settle(), second.settle()]);
    const flushes = [...a.flushes, ...b.flushes];
    expect(flushes).toHaveLength(1);
    expect(flushes[0]!.frames).toEqual([1, 2, 3, 4, 5, 6].map((seq) => `{"seq":${seq}}`));
    // The next message after the drain starts a new window with a new leader.
    await second.queue('room', 7, '{"seq":7}');
    await second.settle();
    expect(b.flushes.at(-1)!.frames).toEqual(['{"seq":7}']);
  });

  it('drains at once for a join, to everyone but the joiner, and the window then finds nothing', async () => {
    const { flushes, fanout } = recorder();
    const coalescer = new RoomCoalescer(server.client(), 'c2', fanout, 200, silent);
    await coalescer.queue('room', 1, '{"seq":1}');
    await coalescer.flushNow('room', 'joiner');
    await coalescer.settle();
    expect(flushes).toEqual([{ room: 'room', frames: ['{"seq":1}'], except: 'joiner', senders: [undefined] }]);
  });

  it('remembers, per queued frame, the sender that asked for no echo', async () => {
    const { flushes, fanout } = recorder();
    const coalescer = new RoomCoalescer(server.client(), 'c4', fanout, 50, silent);
    await coalescer.queue('room', 2, '{"seq":2}', 'AbCdEfGhIjKlMnO=');
    await coalescer.queue('room', 1, '{"seq":1}');
    await coalescer.settle();
    expect(flushes).toEqual([{ room: 'room', frames: ['{"seq":1}', '{"seq":2}'], except: undefined, senders: [undefined, 'AbCdEfGhIjKlMnO='] }]);
  });

  it('keeps at most MAX_QUEUED_FRAMES per room: the newest', async () => {
    const { flushes, fanout } = recorder();
    const redis = server.client();
    const coalescer = new RoomCoalescer(redis, 'c3', fanout, 1000, silent);
    // A leader whose environment died: the lock is held, nobody drains.
    await redis.set('c3:{flood}:coalesce-lock', '1', 'PX', 60_000);
    for (let seq = 1; seq <= MAX_QUEUED_FRAMES + 50; seq++) await coalescer.queue('flood', seq, `{"seq":${seq}}`);
    expect(await redis.llen('c3:{flood}:coalesce')).toBe(MAX_QUEUED_FRAMES);
    await coalescer.flushNow('flood');
    expect(flushes[0]!.frames).toHaveLength(MAX_QUEUED_FRAMES);
    expect(flushes[0]!.frames[0]).toBe('{"seq":51}');
  });
});
