import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import { composeMessageFrame, encodeMessageBody, type Sender } from '@classwire/protocol';
import { STATE_FRAME, STATE_SEQ, stateSeqField, type Broker, type DeliveryOptions, type RoomDelivery } from '@classwire/core';

export interface BrokerContractOptions {
  maxMessages: number;
  maxAgeMs: number;
  now: () => number;
  /** Where the broker delivers this node's rooms. */
  delivery: RoomDelivery;
}

export type BrokerFactory = (opts: BrokerContractOptions) => Promise<Broker> | Broker;

const START = 1_700_000_000_000;
const SENDER: Sender = { userId: 'u1', role: 'student', name: 'Ada' };

/** A clock the test moves by hand. */
class ManualClock {
  constructor(public value = START) {}
  readonly now = (): number => this.value;
  advance(ms: number): void {
    this.value += ms;
  }
}

interface Delivered {
  frame: string;
  seq: number | undefined;
  except: string | undefined;
}

/** A node that is always a member of every room: records what the broker delivers, and can wait for it. */
export class RecordingDelivery implements RoomDelivery {
  private readonly rooms = new Map<string, Delivered[]>();
  private waiters: { done: () => boolean; resolve: () => void }[] = [];

  deliver(room: string, frame: string | Buffer, options?: DeliveryOptions): void {
    let list = this.rooms.get(room);
    if (list === undefined) {
      list = [];
      this.rooms.set(room, list);
    }
    list.push({ frame: frame.toString(), seq: options?.seq, except: options?.except });
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.done()) return true;
      waiter.resolve();
      return false;
    });
  }

  hasMembers(): boolean {
    return true;
  }

  closeMembers(room: string): void {
    throw new Error(`the contract never loses the history of ${room}`);
  }

  of(room: string): Delivered[] {
    return [...(this.rooms.get(room) ?? [])];
  }

  /** The sequenced deliveries of a room, as {seq, frame}. */
  messages(room: string): { seq: number; frame: string }[] {
    return this.of(room).flatMap((d) => (d.seq === undefined ? [] : [{ seq: d.seq, frame: d.frame }]));
  }

  /** Resolves once the room has had `count` deliveries (pub/sub keeps a publisher's order, so later ones follow). */
  async until(room: string, count: number): Promise<void> {
    if (this.of(room).length >= count) return;
    await new Promise<void>((resolve) => this.waiters.push({ done: () => this.of(room).length >= count, resolve }));
  }
}

function body(text: string, id?: string): string {
  return encodeMessageBody('chat.message', { text }, SENDER, id);
}

/**
 * The Broker port's behaviour, for every implementation. Uses only the port interface, the injected
 * clock and the delivery, so a shared backend (Redis) can run it: room names are unique per suite run.
 */
export function describeBrokerContract(name: string, factory: BrokerFactory, cleanup?: () => Promise<void>): void {
  describe(`Broker contract: ${name}`, () => {
    const runId = globalThis.crypto.randomUUID().slice(0, 8);
    let roomCounter = 0;
    const newRoom = (label = 'room'): string => `contract-${runId}-${label}-${++roomCounter}`;

    async function make(opts: Partial<Omit<BrokerContractOptions, 'delivery'>> & { clock?: ManualClock } = {}) {
      const clock = opts.clock ?? new ManualClock();
      const delivery = new RecordingDelivery();
      const broker = await factory({
        maxMessages: opts.maxMessages ?? 100,
        maxAgeMs: opts.maxAgeMs ?? 3_600_000,
        now: opts.now ?? clock.now,
        delivery,
      });
      return { broker, clock, delivery };
    }

    async function publishMany(broker: Broker, room: string, count: number, clock?: ManualClock, stepMs = 0) {
      const results = [];
      for (let i = 1; i <= count; i++) {
        results.push(await broker.publish(room, body(`m${i}`)));
        clock?.advance(stepMs);
      }
      return results;
    }

    if (cleanup !== undefined) afterEach(cleanup);

    describe('sequencing', () => {
      it('assigns gapless seq from 1 per room', async () => {
        const { broker } = await make();
        const room = newRoom();
        const results = await publishMany(broker, room, 5);
        expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
        for (const r of results) {
          expect(r.duplicate).toBe(false);
          expect(r.conflict).toBe(false);
        }
      });

      it('keeps rooms independent', async () => {
        const { broker } = await make();
        const a = newRoom('a');
        const b = newRoom('b');
        expect((await broker.publish(a, body('a1'))).seq).toBe(1);
        expect((await broker.publish(a, body('a2'))).seq).toBe(2);
        expect((await broker.publish(b, body('b1'))).seq).toBe(1);
        expect((await broker.publish(a, body('a3'))).seq).toBe(3);
        expect((await broker.publish(b, body('b2'))).seq).toBe(2);
        const readA = await broker.read(a, 0);
        const readB = await broker.read(b, 0);
        expect(readA.seq).toBe(3);
        expect(readB.seq).toBe(2);
        expect(readA.messages.map((m) => (JSON.parse(m.frame) as { data: { text: string } }).data.text)).toEqual(['a1', 'a2', 'a3']);
        expect(readB.messages.map((m) => (JSON.parse(m.frame) as { data: { text: string } }).data.text)).toEqual(['b1', 'b2']);
      });

      it('assigns distinct gapless seqs to concurrent publishes, delivered in seq order, exactly the stored ones', async () => {
        const { broker, delivery } = await make();
        const room = newRoom();
        await broker.subscribe(room);
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => broker.publish(room, body(`c${i}`))));
        const seqs = Array.from({ length: 20 }, (_, i) => i + 1);
        expect(results.map((r) => r.seq).sort((x, y) => x - y)).toEqual(seqs);
        const read = await broker.read(room, 0);
        expect(read.recovered).toBe(true);
        expect(read.messages.map((m) => m.seq)).toEqual(seqs);
        await delivery.until(room, 20);
        expect(delivery.messages(room)).toEqual(read.messages);
      });

      it('seq per room equals the number of publishes to it, for random publish sequences', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 30 }), async (targets) => {
            const { broker } = await make();
            const rooms = [newRoom('p0'), newRoom('p1'), newRoom('p2')];
            const counts = [0, 0, 0];
            for (const t of targets) {
              counts[t]! += 1;
              const r = await broker.publish(rooms[t]!, body(`x${counts[t]}`));
              expect(r.seq).toBe(counts[t]);
            }
            for (let i = 0; i < 3; i++) {
              const read = await broker.read(rooms[i]!, 0);
              expect(read.seq).toBe(counts[i]);
              expect(read.messages.map((m) => m.seq)).toEqual(Array.from({ length: counts[i]! }, (_, k) => k + 1));
            }
          }),
          { numRuns: 25 },
        );
      });
    });

    describe('frames', () => {
      it('delivers a message with its except (a sender without echo) to the node, which leaves that connection out; stores it for everyone', async () => {
        const { broker, delivery } = await make();
        const room = newRoom();
        await broker.subscribe(room);
        await broker.publish(room, body('quiet', 'q1'), { dedupKey: 'u\nq1', except: 'Ks3n0Yq1aZ_8cQw=' });
        await broker.publish(room, body('loud', 'l1'), { dedupKey: 'u\nl1' });
        // A retry delivers nothing, except or not.
        await broker.publish(room, body('quiet', 'q1'), { dedupKey: 'u\nq1', except: 'Ks3n0Yq1aZ_8cQw=' });
        await delivery.until(room, 2);
        expect(delivery.of(room).map((d) => [d.seq, d.except])).toEqual([
          [1, 'Ks3n0Yq1aZ_8cQw='],
          [2, undefined],
        ]);
        expect((await broker.read(room, 0)).messages.map((m) => m.seq)).toEqual([1, 2]);
      });

      it('delivers and stores the frame composeMessageFrame(room, seq, ts, body) makes, ts from the clock', async () => {
        const clock = new ManualClock(START + 1234);
        const { broker, delivery } = await make({ clock });
        const room = newRoom();
        const b = encodeMessageBody('chat.message', { text: 'hi "quoted" \\ ünï 😀' }, SENDER, 'msg-1');
        await broker.subscribe(room);
        const result = await broker.publish(room, b);
        expect(result.ts).toBe(START + 1234);
        await delivery.until(room, 1);
        const [frame] = delivery.messages(room).map((m) => m.frame);
        expect(frame).toBe(composeMessageFrame(room, result.seq, result.ts, b));
        expect(JSON.parse(frame!)).toEqual({
          type: 'message',
          room,
          seq: 1,
          ts: START + 1234,
          event: 'chat.message',
          data: { text: 'hi "quoted" \\ ünï 😀' },
          from: SENDER,
          id: 'msg-1',
        });
        clock.advance(10);
        const second = await broker.publish(room, body('two'));
        expect(second.ts).toBe(START + 1244);
        await delivery.until(room, 2);
        const secondFrame = JSON.parse(delivery.messages(room)[1]!.frame) as { seq: number; ts: number };
        expect(secondFrame).toMatchObject({ seq: 2, ts: START + 1244 });
        expect((await broker.read(room, 0)).messages).toEqual(delivery.messages(room));
      });

      it('delivers unsequenced frames to the room as they are, never stored', async () => {
        const { broker, delivery } = await make();
        const room = newRoom();
        await broker.subscribe(room);
        await broker.broadcast(room, '{"type":"presence"}', { except: 'c1' });
        await broker.publish(room, body('one'));
        await delivery.until(room, 2);
        expect(delivery.of(room)[0]).toEqual({ frame: '{"type":"presence"}', seq: undefined, except: 'c1' });
        expect((await broker.read(room, 0)).messages.map((m) => m.seq)).toEqual([1]);
      });

      it('reports the room epoch with each publish', async () => {
        const { broker } = await make();
        const room = newRoom();
        const published = await broker.publish(room, body('one'));
        expect(published.epoch).toBe((await broker.read(room)).epoch);
      });
    });

    describe('read', () => {
      it('returns exactly the messages with seq > since, in order, recovered', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 6);
        const epoch = (await broker.read(room)).epoch;
        for (const since of [0, 1, 3, 5]) {
          const read = await broker.read(room, since, epoch);
          expect(read.recovered).toBe(true);
          expect(read.seq).toBe(6);
          expect(read.epoch).toBe(epoch);
          expect(read.messages.map((m) => m.seq)).toEqual(Array.from({ length: 6 - since }, (_, i) => since + i + 1));
          for (const m of read.messages) expect((JSON.parse(m.frame) as { seq: number }).seq).toBe(m.seq);
        }
      });

      it('recovers without an epoch argument when since is in the window', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 3);
        const read = await broker.read(room, 1);
        expect(read.recovered).toBe(true);
        expect(read.messages.map((m) => m.seq)).toEqual([2, 3]);
      });

      it('without since: not recovered, no messages, but seq and epoch reported', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 4);
        const read = await broker.read(room);
        expect(read.recovered).toBe(false);
        expect(read.messages).toEqual([]);
        expect(read.seq).toBe(4);
        expect(typeof read.epoch).toBe('string');
        expect(read.epoch.length).toBeGreaterThan(0);
      });

      it('an empty room reports seq 0, and since 0 recovers nothing', async () => {
        const { broker } = await make();
        const room = newRoom();
        const plain = await broker.read(room);
        expect(plain).toMatchObject({ seq: 0, recovered: false, messages: [] });
        const read = await broker.read(room, 0, plain.epoch);
        expect(read).toEqual({ epoch: plain.epoch, seq: 0, recovered: true, messages: [] });
      });

      it('since equal to the latest seq: recovered and empty', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 3);
        const { epoch } = await broker.read(room);
        expect(await broker.read(room, 3, epoch)).toEqual({ epoch, seq: 3, recovered: true, messages: [] });
      });

      it('since beyond the latest seq: not recovered', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 3);
        const { epoch } = await broker.read(room);
        for (const since of [4, 100]) {
          const read = await broker.read(room, since, epoch);
          expect(read.recovered).toBe(false);
          expect(read.messages).toEqual([]);
          expect(read.seq).toBe(3);
        }
      });

      it('a different epoch: not recovered, no messages', async () => {
        const { broker } = await make();
        const room = newRoom();
        await publishMany(broker, room, 3);
        const { epoch } = await broker.read(room);
        const read = await broker.read(room, 1, `${epoch}x`);
        expect(read.recovered).toBe(false);
        expect(read.messages).toEqual([]);
        expect(read.seq).toBe(3);
        expect(read.epoch).toBe(epoch);
      });

      it('keeps the epoch stable across reads and publishes, including the first read of an empty room', async () => {
        const { broker } = await make();
        const room = newRoom();
        const first = (await broker.read(room)).epoch;
        expect((await broker.read(room)).epoch).toBe(first);
        await publishMany(broker, room, 2);
        expect((await broker.read(room)).epoch).toBe(first);
        expect((await broker.read(room, 0, first)).recovered).toBe(true);
        await broker.publish(room, body('more'));
        const last = await broker.read(room, 2, first);
        expect(last.epoch).toBe(first);
        expect(last.messages.map((m) => m.seq)).toEqual([3]);
      });
    });

    describe('bounds', () => {
      it('keeps at most maxMessages, dropping the oldest', async () => {
        const { broker } = await make({ maxMessages: 3 });
        const room = newRoom();
        await publishMany(broker, room, 7);
        const { epoch } = await broker.read(room);
        const kept = await broker.read(room, 4, epoch);
        expect(kept.recovered).toBe(true);
        expect(kept.messages.map((m) => m.seq)).toEqual([5, 6, 7]);
        expect((await broker.read(room, 6, epoch)).messages.map((m) => m.seq)).toEqual([7]);
      });

      it('never replays partially: since before the kept window is not recovered', async () => {
        const { broker } = await make({ maxMessages: 3 });
        const room = newRoom();
        await publishMany(broker, room, 7);
        const { epoch } = await broker.read(room);
        for (const since of [0, 1, 2, 3]) {
          const read = await broker.read(room, since, epoch);
          expect(read.recovered, `since ${since}`).toBe(false);
          expect(read.messages, `since ${since}`).toEqual([]);
          expect(read.seq).toBe(7);
        }
      });

      it('the count bound keeps seq numbering gapless', async () => {
        const { broker } = await make({ maxMessages: 2 });
        const room = newRoom();
        const results = await publishMany(broker, room, 5);
        expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
        expect((await broker.read(room, 3)).messages.map((m) => m.seq)).toEqual([4, 5]);
      });

      it('drops messages older than maxAgeMs (by the injected clock)', async () => {
        const clock = new ManualClock();
        const { broker } = await make({ clock, maxAgeMs: 1000 });
        const room = newRoom();
        await broker.publish(room, body('old')); // t = 0
        clock.advance(600);
        await broker.publish(room, body('newer')); // t = 600
        const { epoch } = await broker.read(room);
        expect((await broker.read(room, 0, epoch)).messages.map((m) => m.seq)).toEqual([1, 2]);

        clock.advance(700); // t = 1300: seq 1 is 1300 ms old, seq 2 is 700 ms old
        const partial = await broker.read(room, 0, epoch);
        expect(partial.recovered).toBe(false);
        expect(partial.messages).toEqual([]);
        const rest = await broker.read(room, 1, epoch);
        expect(rest.recovered).toBe(true);
        expect(rest.messages.map((m) => m.seq)).toEqual([2]);

        clock.advance(1000); // t = 2300: everything expired
        expect((await broker.read(room, 1, epoch)).recovered).toBe(false);
        const caughtUp = await broker.read(room, 2, epoch);
        expect(caughtUp).toEqual({ epoch, seq: 2, recovered: true, messages: [] });

        // Sequencing and epoch survive the expiry of every message.
        expect((await broker.publish(room, body('after'))).seq).toBe(3);
        expect((await broker.read(room, 2, epoch)).messages.map((m) => m.seq)).toEqual([3]);
      });
    });

    describe('dedup', () => {
      it('the same key returns the original seq and ts, and stores and delivers nothing', async () => {
        const clock = new ManualClock();
        const { broker, delivery } = await make({ clock });
        const room = newRoom();
        await broker.subscribe(room);
        const first = await broker.publish(room, body('hello', 'k1'), { dedupKey: 'u1:k1' });
        await broker.publish(room, body('other'));
        clock.advance(50);
        const again = await broker.publish(room, body('hello', 'k1'), { dedupKey: 'u1:k1' });
        expect(again).toEqual({ seq: first.seq, ts: first.ts, epoch: first.epoch, duplicate: true, conflict: false });
        const read = await broker.read(room, 0);
        expect(read.seq).toBe(2);
        expect(read.messages.map((m) => m.seq)).toEqual([1, 2]);
        expect((await broker.publish(room, body('next'))).seq).toBe(3);
        // Deliveries keep the publish order, so once seq 3 is in, a delivered duplicate would be too.
        await delivery.until(room, 3);
        expect(delivery.messages(room).map((m) => m.seq)).toEqual([1, 2, 3]);
      });

      it('the same key with a different body is a conflict and stores nothing', async () => {
        const { broker } = await make();
        const room = newRoom();
        const first = await broker.publish(room, body('hello', 'k'), { dedupKey: 'u1:k' });
        const clash = await broker.publish(room, body('changed', 'k'), { dedupKey: 'u1:k' });
        expect(clash.duplicate).toBe(true);
        expect(clash.conflict).toBe(true);
        expect(clash.seq).toBe(first.seq);
        expect(clash.ts).toBe(first.ts);
        expect((await broker.read(room, 0)).messages.map((m) => m.seq)).toEqual([1]);
      });

      it('the same key in different rooms is independent', async () => {
        const { broker } = await make();
        const a = newRoom('a');
        const b = newRoom('b');
        await broker.publish(a, body('a0'));
        const inA = await broker.publish(a, body('same', 'k'), { dedupKey: 'u1:k' });
        const inB = await broker.publish(b, body('same', 'k'), { dedupKey: 'u1:k' });
        expect(inA).toMatchObject({ seq: 2, duplicate: false, conflict: false });
        expect(inB).toMatchObject({ seq: 1, duplicate: false, conflict: false });
        expect(JSON.parse((await broker.read(b, 0)).messages[0]!.frame)).toMatchObject({ room: b, seq: 1 });
      });

      it('different keys in one room are independent', async () => {
        const { broker } = await make();
        const room = newRoom();
        expect((await broker.publish(room, body('same'), { dedupKey: 'u1:a' })).seq).toBe(1);
        expect((await broker.publish(room, body('same'), { dedupKey: 'u1:b' })).seq).toBe(2);
        expect((await broker.publish(room, body('same'), { dedupKey: 'u2:a' })).seq).toBe(3);
      });

      it('publishes without a key are never deduplicated', async () => {
        const { broker } = await make();
        const room = newRoom();
        const results = await Promise.all([broker.publish(room, body('x')), broker.publish(room, body('x'))]);
        expect(results.map((r) => r.duplicate)).toEqual([false, false]);
        expect(new Set(results.map((r) => r.seq))).toEqual(new Set([1, 2]));
      });

      it('concurrent publishes with the same key store one message', async () => {
        const { broker } = await make();
        const room = newRoom();
        const results = await Promise.all(Array.from({ length: 5 }, () => broker.publish(room, body('retry', 'r'), { dedupKey: 'u1:r' })));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        for (const r of results) {
          expect(r.seq).toBe(1);
          expect(r.conflict).toBe(false);
        }
        expect((await broker.read(room, 0)).messages.map((m) => m.seq)).toEqual([1]);
      });
    });

    describe('state', () => {
      it('applies ops atomically with the publish, with seq and frame placeholders', async () => {
        const { broker } = await make();
        const room = newRoom();
        await broker.publish(room, body('zero'));
        const result = await broker.publish(room, body('one', 'a'), {
          dedupKey: 'k1',
          effects: {
            ops: [
              { op: 'set', collection: 'chat', field: STATE_SEQ, value: STATE_FRAME },
              { op: 'set', collection: 'control', field: 'v', value: STATE_SEQ },
            ],
          },
        });
        expect(result.seq).toBe(2);
        const state = await broker.readState(room, { chat: 'all', control: ['v', 'missing'], board: 'count' });
        expect(state.seq).toBe(2);
        const stored = (await broker.read(room, 1)).messages[0]!.frame;
        expect(state.collections.chat).toEqual({ [stateSeqField(2)]: stored });
        expect(state.collections.control).toEqual({ v: '0000000000000002' });
        expect(state.counts.board).toBe(0);
      });

      it('stores, delivers and changes nothing when a guard fails, and reports which', async () => {
        const { broker, delivery } = await make();
        const room = newRoom();
        await broker.subscribe(room);
        await broker.updateState(room, { ops: [{ op: 'set', collection: 'control', field: 'v', value: '7' }] });
        const stale = await broker.publish(room, body('x', 'a'), {
          dedupKey: 'k1',
          effects: {
            guards: [
              { collection: 'control', field: 'v', value: '7' },
              { collection: 'control', field: 'locked', value: null },
              { collection: 'control', field: 'v', value: '8' },
            ],
            ops: [{ op: 'set', collection: 'chat', field: STATE_SEQ, value: 'x' }],
          },
        });
        expect(stale.staleGuard).toBe(2);
        const state = await broker.readState(room, { chat: 'all' });
        expect(state.seq).toBe(0);
        expect(state.collections.chat).toEqual({});
        // The refused id was not remembered: the same id with guards that hold is a new message.
        const ok = await broker.publish(room, body('x', 'a'), {
          dedupKey: 'k1',
          effects: {
            guards: [{ collection: 'control', field: 'locked', value: null }],
            ops: [{ op: 'set', collection: 'chat', field: STATE_SEQ, value: 'x' }],
          },
        });
        expect(ok).toMatchObject({ seq: 1, duplicate: false });
        expect(ok.staleGuard).toBeUndefined();
        // A retry is a duplicate whatever the guards say now, and changes nothing again.
        const retry = await broker.publish(room, body('x', 'a'), {
          dedupKey: 'k1',
          effects: {
            guards: [{ collection: 'control', field: 'v', value: 'no' }],
            ops: [{ op: 'clear', collection: 'chat' }],
          },
        });
        expect(retry).toMatchObject({ seq: 1, duplicate: true });
        expect((await broker.readState(room, { chat: 'count' })).counts.chat).toBe(1);
        await delivery.until(room, 1);
        expect(delivery.messages(room).map((m) => m.seq)).toEqual([1]);
      });

      it('keeps the greatest fields, replaces only present ones, deletes and clears', async () => {
        const { broker } = await make();
        const room = newRoom();
        for (let i = 1; i <= 5; i++) {
          await broker.publish(room, body(`m${i}`), {
            effects: { ops: [{ op: 'set', collection: 'chat', field: STATE_SEQ, value: `m${i}`, keep: 3 }] },
          });
        }
        let chat = (await broker.readState(room, { chat: 'all' })).collections.chat!;
        expect(Object.keys(chat).sort()).toEqual([3, 4, 5].map(stateSeqField));
        await broker.updateState(room, {
          ops: [
            { op: 'set', collection: 'chat', field: stateSeqField(1), value: 'resurrected', onlyIfPresent: true },
            { op: 'set', collection: 'chat', field: stateSeqField(4), value: 'edited', onlyIfPresent: true },
            { op: 'delete', collection: 'chat', field: stateSeqField(3) },
          ],
        });
        chat = (await broker.readState(room, { chat: 'all' })).collections.chat!;
        expect(chat).toEqual({ [stateSeqField(4)]: 'edited', [stateSeqField(5)]: 'm5' });
        await broker.updateState(room, { ops: [{ op: 'clear', collection: 'chat' }] });
        expect((await broker.readState(room, { chat: 'all' })).collections.chat).toEqual({});
        // Several over the bound at once (a smaller keep): still the greatest ones are kept.
        for (let i = 6; i <= 9; i++) {
          await broker.publish(room, body(`m${i}`), {
            effects: { ops: [{ op: 'set', collection: 'chat', field: STATE_SEQ, value: `m${i}`, keep: i === 9 ? 2 : 5 }] },
          });
        }
        chat = (await broker.readState(room, { chat: 'all' })).collections.chat!;
        expect(chat).toEqual({ [stateSeqField(8)]: 'm8', [stateSeqField(9)]: 'm9' });
      });

      it('adds integers to a field (absent counts as 0), atomically with the publish', async () => {
        const { broker } = await make();
        const room = newRoom();
        const add = (by: number) => ({ ops: [{ op: 'add' as const, collection: 'size', field: 'bytes', by }] });
        await broker.publish(room, body('a'), { effects: add(700) });
        await broker.publish(room, body('b'), { effects: add(1300) });
        await broker.updateState(room, add(-500));
        expect((await broker.readState(room, { size: ['bytes'] })).collections.size).toEqual({ bytes: '1500' });
        await broker.updateState(room, { ops: [{ op: 'clear', collection: 'size' }] });
        await broker.updateState(room, add(7));
        expect((await broker.readState(room, { size: ['bytes'] })).collections.size).toEqual({ bytes: '7' });
      });

      it('reads fields named like object internals as plain own fields', async () => {
        const { broker } = await make();
        const room = newRoom();
        const names = ['__proto__', 'constructor', 'toString'];
        await broker.updateState(room, { ops: names.map((field) => ({ op: 'set' as const, collection: 'board', field, value: `v-${field}` })) });
        const all = (await broker.readState(room, { board: 'all' })).collections.board!;
        expect(Object.keys(all).sort()).toEqual([...names].sort());
        const named = (await broker.readState(room, { board: ['__proto__', 'hasOwnProperty'] })).collections.board!;
        expect(Object.keys(named)).toEqual(['__proto__']);
        expect(Object.hasOwn(named, 'hasOwnProperty')).toBe(false);
      });

      it('reads a state consistent with the seq under concurrent publishes', async () => {
        const { broker } = await make();
        const room = newRoom();
        const publishes = Array.from({ length: 40 }, (_, i) =>
          broker.publish(room, body(`m${i}`), { effects: { ops: [{ op: 'set', collection: 'last', field: 'seq', value: STATE_SEQ }] } }),
        );
        const reads = Array.from({ length: 10 }, () => broker.readState(room, { last: ['seq'] }));
        await Promise.all(publishes);
        for (const read of await Promise.all(reads)) {
          const last = read.collections.last!.seq;
          expect(last === undefined ? 0 : Number(last)).toBe(read.seq);
        }
      });
    });
  });
}
