import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '@classwire/core';
import { CLASSROOM_LIMITS, DEFAULT_LIMITS, utf8Length } from '@classwire/protocol';
import type { Gateway } from '../../src/index.js';
import { TestClient, makeToken, startTestGateway, type Frame } from '../../../../test-support/harness.js';

/**
 * The isolation property: a class of 25 where one member misbehaves while the other 24 chat and draw.
 * Every message of the 24 reaches all 24, in seq order and without gaps, and none of them is closed; the
 * misbehaving member is refused with a catalogue code, and what it made the server send to the others
 * (its chat messages, strokes, presence changes) stays within the per-user budgets over the run.
 *
 * The issue also asks for "p99 within 2× of a quiet run". Tests never assert wall-clock speed (a shared
 * machine makes that flaky): bench/isolation.mjs measures it with the server and the misbehaving member
 * each in a process of their own, and docs/security.md ("Isolation") records the figures.
 */

const CLASS_SIZE = 25;
/** Rounds of one chat message and one stroke per well-behaved member, each awaiting its ack. */
const ROUNDS = 6;
const ROOM = 'class';
const MALLORY = 'mallory';
/** The byte flood's frames (a ping padded to just under the frame limit) and the deep-nesting frames, at least. */
const FLOOD_FRAME_BYTES = DEFAULT_LIMITS.maxFrameBytes - 200;
const DEEP_FRAME_BYTES = 24_000;
/** Generous: the suite shares two cores with every other test file. */
const RUN_TIMEOUT_MS = 60_000;

type Misbehaviour = (ctx: MisbehaviourContext) => Promise<void>;

/** What one of the 24 received because of the misbehaving member, and how long it misbehaved. */
interface Imposed {
  /** Its messages (chat, strokes) delivered to a well-behaved member. */
  messages: Frame[];
  /** Presence changes announcing it (joins and leaves). */
  presence: number;
  /** Error codes and close codes it got. */
  refusals: Set<string>;
  /** Frames of its that the engine handled (connects included): the server's work on its behalf. */
  handled: number;
  seconds: number;
}

/** The most a per-user token bucket admits in `seconds`, plus one for a refill landing at the edge. */
const bucket = (burst: number, perSecond: number, seconds: number) => burst + perSecond * seconds + 1;

/** Per misbehaviour that the budgets bound: what the 24 may have been sent because of it, at most. */
/**
 * What the frame limiter lets a flooder make the server handle: its connect and join, the frames the bucket
 * admits, and the one refused before the gateway stops handing its frames over (it is throttled, then closed).
 */
const floodWork = (seconds: number, frameBytes = 0) =>
  2 + 1 + Math.min(bucket(DEFAULTS.rateBurst, DEFAULTS.ratePerSecond, seconds), frameBytes === 0 ? Infinity : bucket(DEFAULTS.rateBytesBurst, DEFAULTS.rateBytesPerSecond, seconds) / frameBytes);

const BOUNDS: Record<string, (imposed: Imposed) => void> = {
  'floods frames': ({ messages, refusals, handled, seconds }) => {
    expect(refusals).toContain('rate_limited');
    expect(messages.length).toBeLessThanOrEqual(bucket(DEFAULTS.classEventBurst, DEFAULTS.classEventsPerSecond, seconds));
    expect(handled).toBeLessThanOrEqual(floodWork(seconds));
  },
  'floods bytes': ({ refusals, handled, seconds }) => {
    expect(refusals).toContain('rate_limited');
    expect(handled).toBeLessThanOrEqual(floodWork(seconds, FLOOD_FRAME_BYTES));
  },
  'sends invalid JSON': ({ handled, seconds }) => {
    expect(handled).toBeLessThanOrEqual(floodWork(seconds));
  },
  'sends deep nesting': ({ refusals, handled, seconds }) => {
    expect(refusals).toContain('bad_request');
    expect(handled).toBeLessThanOrEqual(floodWork(seconds, DEEP_FRAME_BYTES));
  },
  'rejoins in a loop': ({ presence, refusals, seconds }) => {
    expect(refusals).toContain('rate_limited');
    // A join and a leave per admitted join, plus the first join.
    expect(presence).toBeLessThanOrEqual(2 * bucket(DEFAULTS.roomJoinBurst, DEFAULTS.roomJoinsPerSecond, seconds) + 1);
  },
  'spams the board': ({ messages, refusals, seconds }) => {
    expect(refusals).toContain('rate_limited');
    expect(messages.length).toBeLessThanOrEqual(bucket(DEFAULTS.boardItemsBurst, DEFAULTS.boardItemsPerSecond, seconds));
    // What the budget charged: each stroke's data as JSON.
    const bytes = messages.reduce((sum, message) => sum + utf8Length(JSON.stringify(message.data)), 0);
    expect(bytes).toBeLessThanOrEqual(bucket(DEFAULTS.boardBytesBurst, DEFAULTS.boardBytesPerSecond, seconds));
  },
};

interface MisbehaviourContext {
  gateway: Gateway;
  /** A fresh connection of the misbehaving user, joined to the class. */
  connect(): Promise<TestClient>;
  /** True once the well-behaved members are done. */
  done(): boolean;
  /** Resolves when they are. */
  stopped: Promise<void>;
}

/** Yields to the event loop so the gateway (same process) runs between bursts of a misbehaving client. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sends frames in bursts until the others are done or the socket closes. */
async function burst(client: TestClient, ctx: MisbehaviourContext, frame: (i: number) => string, perBurst = 50): Promise<void> {
  for (let i = 0; !ctx.done() && client.closeCode === undefined; ) {
    let flushed: Promise<unknown> = turn();
    for (let end = i + perBurst; i < end && client.ws.readyState === client.ws.OPEN; i++) {
      flushed = new Promise((resolve) => client.ws.send(frame(i), resolve));
    }
    // Paced by its own socket, as a flooder on its own link is: a server that stops reading it must not make
    // this process (which hosts the gateway) buffer without bound.
    await Promise.race([flushed, ctx.stopped]);
    await turn();
  }
}

/** Reconnects after every close the misbehaviour provokes, until the others are done. */
async function reconnecting(ctx: MisbehaviourContext, act: (client: TestClient) => Promise<void>): Promise<void> {
  while (!ctx.done()) {
    const client = await ctx.connect();
    await act(client);
    await client.close();
  }
}

const stroke = (id: string, points: number) => ({
  id,
  color: '#112233',
  width: 3,
  points: Array.from({ length: points }, (_, i) => ((i * 7919) % 10_000) / 10_000),
});

const MISBEHAVIOURS: Record<string, Misbehaviour> = {
  'floods frames': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => JSON.stringify({ action: 'publish', room: ROOM, event: 'chat.message', data: { text: `spam ${i}` }, id: `f${i}` }));
  },
  'floods bytes': async (ctx) => {
    const client = await ctx.connect();
    const padding = 'b'.repeat(FLOOD_FRAME_BYTES);
    await burst(client, ctx, (i) => JSON.stringify({ action: 'ping', id: `b${i}`, padding }), 10);
  },
  'sends oversize frames': (ctx) =>
    reconnecting(ctx, async (client) => {
      client.send(JSON.stringify({ action: 'publish', room: ROOM, event: 'chat.message', data: { text: 'o'.repeat(40 * 1024) }, id: 'big' }));
      await client.waitClosed();
    }),
  'sends invalid JSON': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => `{"action":"publish","room":"${ROOM}",${'['.repeat(i % 50)}`);
  },
  'sends deep nesting': async (ctx) => {
    const client = await ctx.connect();
    const deep = `${'['.repeat(12_000)}${']'.repeat(12_000)}`;
    await burst(client, ctx, (i) => `{"action":"publish","room":"${ROOM}","event":"custom.deep","id":"d${i}","data":${deep}}`, 5);
  },
  'uses reserved ids': async (ctx) => {
    const client = await ctx.connect();
    const ids = ['__proto__', 'constructor', 'toString', '$seq', 'hasOwnProperty'];
    await burst(client, ctx, (i) => {
      const id = ids[i % ids.length]!;
      return JSON.stringify(
        i % 2 === 0
          ? { action: 'publish', room: ROOM, event: 'wb.stroke', data: stroke(id, 4), id: `r${i}` }
          : { action: 'publish', room: ROOM, event: 'wb.erase', data: { id }, id: `r${i}` },
      );
    }, 10);
  },
  'reads nothing (slow reader) and asks for snapshots': async (ctx) => {
    const client = await ctx.connect();
    client.ws.pause();
    await burst(client, ctx, (i) => JSON.stringify({ action: 'join', room: ROOM, id: `j${i}` }), 5);
    client.ws.terminate();
  },
  'rejoins in a loop': async (ctx) => {
    const client = await ctx.connect();
    await burst(client, ctx, (i) => JSON.stringify(i % 2 === 0 ? { action: 'leave', room: ROOM } : { action: 'join', room: ROOM }), 20);
  },
  'spams the board': async (ctx) => {
    const client = await ctx.connect();
    await burst(
      client,
      ctx,
      (i) => JSON.stringify({ action: 'publish', room: ROOM, event: 'wb.stroke', data: stroke(`spam-${i}`, CLASSROOM_LIMITS.maxStrokePoints), id: `s${i}` }),
      5,
    );
  },
};

/** Frames (and connects) the engine handled so far, every action. */
async function handledFrames(gateway: Gateway): Promise<number> {
  const { values } = await gateway.metrics.actionDuration.get();
  return values.filter((v) => v.metricName?.endsWith('_count') === true).reduce((sum, v) => sum + v.value, 0);
}

/** The 24 chat and draw while `misbehaviour` (if any) runs; asserts delivery, order, no closes, and the bound. */
async function runClass(name: string, misbehaviour: Misbehaviour | undefined): Promise<void> {
  const gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1' });
  const members: TestClient[] = [];
  try {
    for (let i = 0; i < CLASS_SIZE - 1; i++) {
      const client = await TestClient.connect(gateway, await makeToken({ sub: `member-${i}`, name: `Member ${i}`, rooms: [ROOM] }));
      expect((await client.join(ROOM)).type).toBe('joined');
      members.push(client);
    }

    let finished = false;
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const misbehaverClients: TestClient[] = [];
    const startedAt = performance.now();
    const misbehaving =
      misbehaviour?.({
        gateway,
        done: () => finished,
        stopped,
        connect: async () => {
          const client = await TestClient.connect(gateway, await makeToken({ sub: MALLORY, name: 'Mallory', rooms: [ROOM] }));
          misbehaverClients.push(client);
          await client.join(ROOM);
          return client;
        },
      }) ?? Promise.resolve();

    const acked: number[] = [];
    await Promise.all(
      members.map(async (member, index) => {
        for (let round = 0; round < ROUNDS; round++) {
          for (const [event, data] of [
            ['chat.message', { text: `hello ${round} from ${index}` }],
            ['wb.stroke', stroke(`m${index}-${round}`, 20)],
          ] as const) {
            const id = `m${index}-${round}-${event}`;
            const reply = await member.request({ action: 'publish', room: ROOM, event, data, id });
            expect(reply, `${id} was not acked`).toMatchObject({ type: 'ack', id });
            acked.push(reply.seq as number);
          }
        }
      }),
    );
    const lastSeq = Math.max(...acked);
    // The 24's connects, joins and publishes, handled whatever the misbehaving member did.
    const membersWork = (CLASS_SIZE - 1) * (2 + 2 * ROUNDS);
    await Promise.all(members.map((member) => member.next((f) => f.type === 'message' && f.seq === lastSeq, 15_000)));
    finished = true;
    stop();
    await misbehaving;
    const seconds = (performance.now() - startedAt) / 1000;

    members.forEach((member, index) => {
      expect(member.closeCode, `member ${index} was closed`).toBeUndefined();
      const seqs = member.messages(ROOM).map((m) => m.seq as number);
      const first = seqs[0]!;
      // In order and without gaps, from the first message it saw to the last acked one.
      expect(seqs.slice(0, seqs.indexOf(lastSeq) + 1)).toEqual(Array.from({ length: lastSeq - first + 1 }, (_, k) => first + k));
      expect(acked.every((seq) => seqs.includes(seq)), `member ${index} missed a message`).toBe(true);
    });

    const witness = members[0]!;
    const fromMallory = (frame: Frame) => (frame.from as { userId?: string } | undefined)?.userId === MALLORY;
    const imposed: Imposed = {
      messages: witness.frames.filter((f) => f.type === 'message' && fromMallory(f)),
      presence: witness.frames.filter((f) => f.type === 'presence' && (f.member as { userId?: string } | undefined)?.userId === MALLORY).length,
      refusals: new Set(misbehaverClients.flatMap((c) => [...c.frames.filter((f) => f.type === 'error').map((f) => String(f.code)), String(c.closeCode)])),
      handled: (await handledFrames(gateway)) - membersWork,
      seconds,
    };
    BOUNDS[name]?.(imposed);
  } finally {
    await Promise.all(members.map((m) => m.close()));
    await gateway.drain();
  }
}

describe('isolation: one member of a class of 25 misbehaves, the other 24 chat and draw', () => {
  it('quiet run', { timeout: RUN_TIMEOUT_MS }, async () => {
    await runClass('quiet', undefined);
  });

  for (const [name, misbehaviour] of Object.entries(MISBEHAVIOURS)) {
    it(`one member ${name}`, { timeout: RUN_TIMEOUT_MS }, async () => {
      await runClass(name, misbehaviour);
    });
  }
});

describe('isolation limits never refuse legitimate classroom use', () => {
  it('25 students join at once, one of them from 10 tabs, and rejoin after a reconnect', { timeout: RUN_TIMEOUT_MS }, async () => {
    const gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1' });
    const clients: TestClient[] = [];
    try {
      const tokens = await Promise.all(Array.from({ length: CLASS_SIZE }, (_, i) => makeToken({ sub: `student-${i}`, name: `Student ${i}`, rooms: [ROOM] })));
      clients.push(...(await Promise.all(tokens.map((token) => TestClient.connect(gateway, token)))));
      const tabs = await Promise.all(Array.from({ length: DEFAULTS.maxConnectionsPerUser - 1 }, () => TestClient.connect(gateway, tokens[0]!)));
      clients.push(...tabs);
      const joins = await Promise.all(clients.map((client) => client.join(ROOM)));
      expect(joins.map((reply) => reply.type)).toEqual(clients.map(() => 'joined'));
      // Every other student's network drops once: each rejoins on a fresh connection before the server
      // has noticed the old one is gone (student 0 is at the connection limit with its tabs).
      const again = await Promise.all(tokens.slice(1).map((token) => TestClient.connect(gateway, token)));
      clients.push(...again);
      expect((await Promise.all(again.map((client) => client.join(ROOM)))).map((reply) => reply.type)).toEqual(again.map(() => 'joined'));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.drain();
    }
  });

  it('a teacher draws a long stroke as the app sends it (segments, then the whole stroke, then erasing the segments) and chats', { timeout: RUN_TIMEOUT_MS }, async () => {
    const gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1' });
    const teacher = await TestClient.connect(gateway, await makeToken({ sub: 'teacher', name: 'Teacher', role: 'teacher', rooms: [ROOM] }));
    try {
      expect((await teacher.join(ROOM)).type).toBe('joined');
      // A 5-second stroke at 120 points per second, a segment every 150 ms, all sent at once (the
      // strictest case: a client catching up after a stall).
      const SEGMENTS = 34;
      const numbersPerSegment = 2 * 18;
      const replies = await Promise.all(
        Array.from({ length: SEGMENTS }, (_, i) => teacher.request({ action: 'publish', room: ROOM, event: 'wb.stroke', data: stroke(`seg-${i}`, numbersPerSegment), id: `seg-${i}` })),
      );
      const whole = SEGMENTS * numbersPerSegment;
      for (let offset = 0; offset < whole; offset += CLASSROOM_LIMITS.maxStrokePoints) {
        const points = Math.min(CLASSROOM_LIMITS.maxStrokePoints, whole - offset);
        replies.push(await teacher.request({ action: 'publish', room: ROOM, event: 'wb.stroke', data: stroke(`whole-${offset}`, points), id: `whole-${offset}` }));
      }
      replies.push(
        ...(await Promise.all(Array.from({ length: SEGMENTS }, (_, i) => teacher.request({ action: 'publish', room: ROOM, event: 'wb.erase', data: { id: `seg-${i}` }, id: `erase-${i}` })))),
      );
      replies.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => teacher.request({ action: 'publish', room: ROOM, event: 'chat.message', data: { text: `step ${i}` }, id: `chat-${i}` })),
        )),
      );
      expect(replies.filter((reply) => reply.type !== 'ack')).toEqual([]);
    } finally {
      await teacher.close();
      await gateway.drain();
    }
  });
});
