import { afterAll, describe, expect, it } from 'vitest';
import { CLASSROOM_LIMITS, DEFAULT_LIMITS } from '@classwire/protocol';
import type { Gateway } from '../../src/index.js';
import { TestClient, makeToken, startTestGateway, type Frame } from '../../../../test-support/harness.js';

/**
 * The isolation property: a class of 25 where one member misbehaves while the other 24 chat and draw.
 * Every message of the 24 reaches all 24, in seq order and without gaps, and none of them is closed.
 *
 * The issue also asks for "p99 within 2× of a quiet run". Tests never assert wall-clock speed (a shared
 * machine makes that flaky), so the p99 delivery latency of each run and its ratio to the quiet run are
 * printed, and docs/security.md ("Isolation") records them; only delivery, order and closes are asserted.
 */

const CLASS_SIZE = 25;
/** Rounds of one chat message and one stroke per well-behaved member, each awaiting its ack. */
const ROUNDS = 6;
const ROOM = 'class';
/** Generous: the suite shares two cores with every other test file. */
const RUN_TIMEOUT_MS = 60_000;

type Misbehaviour = (ctx: MisbehaviourContext) => Promise<void>;

interface MisbehaviourContext {
  gateway: Gateway;
  /** A fresh connection of the misbehaving user, joined to the class. */
  connect(): Promise<TestClient>;
  /** True once the well-behaved members are done. */
  done(): boolean;
}

/** Yields to the event loop so the gateway (same process) runs between bursts of a misbehaving client. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sends frames in bursts until the others are done or the socket closes. */
async function burst(client: TestClient, ctx: MisbehaviourContext, frame: (i: number) => string, perBurst = 50): Promise<void> {
  for (let i = 0; !ctx.done() && client.closeCode === undefined; ) {
    for (let end = i + perBurst; i < end && client.ws.readyState === client.ws.OPEN; i++) client.send(frame(i));
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
    const padding = 'b'.repeat(DEFAULT_LIMITS.maxFrameBytes - 200);
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

interface RunResult {
  p50: number;
  p99: number;
  deliveries: number;
  /** What the misbehaving member got: its close codes and error codes, to show the misbehaviour bit. */
  misbehaver: string;
}

const results = new Map<string, RunResult>();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function fate(clients: TestClient[]): string {
  if (clients.length === 0) return '';
  const counts = new Map<string, number>();
  for (const client of clients) {
    for (const frame of client.frames) {
      const key = frame.type === 'error' ? String(frame.code) : frame.type;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const key = `closed ${client.closeCode ?? 'by itself'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => `${key} ×${count}`).join(', ');
}

/** The 24 chat and draw while `misbehaviour` (if any) runs; asserts delivery, order and no closes. */
async function runClass(name: string, misbehaviour: Misbehaviour | undefined): Promise<void> {
  const gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1' });
  const members: TestClient[] = [];
  try {
    for (let i = 0; i < CLASS_SIZE - 1; i++) {
      const client = await TestClient.connect(gateway, await makeToken({ sub: `member-${i}`, name: `Member ${i}`, rooms: [ROOM] }));
      expect((await client.join(ROOM)).type).toBe('joined');
      members.push(client);
    }
    const sentAt = new Map<string, number>();
    const receivedAt: Map<string, number>[] = members.map(() => new Map());
    members.forEach((member, index) =>
      member.ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Frame;
        if (frame.type === 'message' && typeof frame.id === 'string' && sentAt.has(frame.id)) receivedAt[index]!.set(frame.id, performance.now());
      }),
    );

    let finished = false;
    const misbehaverClients: TestClient[] = [];
    const misbehaving =
      misbehaviour?.({
        gateway,
        done: () => finished,
        connect: async () => {
          const client = await TestClient.connect(gateway, await makeToken({ sub: 'mallory', name: 'Mallory', rooms: [ROOM] }));
          await client.join(ROOM);
          misbehaverClients.push(client);
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
            sentAt.set(id, performance.now());
            const reply = await member.request({ action: 'publish', room: ROOM, event, data, id });
            expect(reply, `${id} was not acked`).toMatchObject({ type: 'ack', id });
            acked.push(reply.seq as number);
          }
        }
      }),
    );
    const lastSeq = Math.max(...acked);
    await Promise.all(members.map((member) => member.next((f) => f.type === 'message' && f.seq === lastSeq, 15_000)));
    finished = true;
    await misbehaving;

    const latencies: number[] = [];
    members.forEach((member, index) => {
      expect(member.closeCode, `member ${index} was closed`).toBeUndefined();
      const seqs = member.messages(ROOM).map((m) => m.seq as number);
      const first = seqs[0]!;
      // In order and without gaps, from the first message it saw to the last acked one.
      expect(seqs.slice(0, seqs.indexOf(lastSeq) + 1)).toEqual(Array.from({ length: lastSeq - first + 1 }, (_, k) => first + k));
      expect(acked.every((seq) => seqs.includes(seq)), `member ${index} missed a message`).toBe(true);
      for (const [id, at] of receivedAt[index]!) latencies.push(at - sentAt.get(id)!);
    });
    expect(latencies.length).toBe(acked.length * members.length);
    latencies.sort((a, b) => a - b);
    results.set(name, { p50: percentile(latencies, 50), p99: percentile(latencies, 99), deliveries: latencies.length, misbehaver: fate(misbehaverClients) });
  } finally {
    await Promise.all(members.map((m) => m.close()));
    await gateway.drain();
  }
}

describe('isolation: one member of a class of 25 misbehaves, the other 24 chat and draw', () => {
  afterAll(() => {
    const quiet = results.get('quiet');
    const rows = [...results].map(
      ([name, r]) =>
        `${name.padEnd(50)} p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  ` +
        `p99/quiet ${quiet === undefined ? '-' : (r.p99 / quiet.p99).toFixed(2)}  (${r.deliveries} deliveries)  ${r.misbehaver}`,
    );
    console.log(`isolation runs (latency: publish sent → message received by each of the 24)\n${rows.join('\n')}`);
  });

  it('quiet run', { timeout: 2 * RUN_TIMEOUT_MS }, async () => {
    // The first run warms the JIT up; the second is the baseline.
    await runClass('quiet (warm-up)', undefined);
    await runClass('quiet', undefined);
  });

  for (const [name, misbehaviour] of Object.entries(MISBEHAVIOURS)) {
    it(`one member ${name}`, { timeout: RUN_TIMEOUT_MS }, async () => {
      await runClass(name, misbehaviour);
    });
  }
});
