/**
 * Measures the recorder's own CPU per drain (docs/records.md, "Measurements"): the figure that decides
 * what recording costs the gateway's event loop, stable where the bench is noisy on a shared machine.
 * Run: npx tsx --conditions=source packages/records/test/measure-recorder.ts [postgres|pglite]
 * (not a test: numbers, no assertions). Node CPU of this process only: the database server's is not counted.
 */
import { randomBytes } from 'node:crypto';
import { MemoryBroker } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import { Recorder, RecordsStore } from '../src/index.js';
import { BACKENDS } from './databases.js';

const ROOMS = 40;
const MESSAGES_PER_ROOM = 5;
const DRAINS = 60;
const MEMBERS_PER_ROOM = 25;
const ROUNDS = 3;
const silent = { warn: () => undefined };

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function member(room: number, n: number): Sender {
  return { userId: `u-${room}-${n}`, name: `Student ${n}`, role: 'student' };
}

async function main(): Promise<void> {
  const wanted = process.argv[2];
  for (const backend of BACKENDS.filter((b) => wanted === undefined || b.name === wanted)) {
    const database = await backend.open();
    for (let round = 0; round < ROUNDS; round++) {
      const broker = new MemoryBroker({ maxMessages: 10_000, delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
      const store = new RecordsStore(database.records.db);
      const recorder = new Recorder({ store, broker, logger: silent, batchDelayMs: 0 });
      const tag = randomBytes(3).toString('hex');
      const rooms = Array.from({ length: ROOMS }, (_, i) => `measure-${tag}-${i}`);

      // Presence: every room fills with its members (the bench's joins), recorded in one drain.
      for (const [r, room] of rooms.entries()) {
        for (let n = 0; n < MEMBERS_PER_ROOM; n++) await broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, member(r, n), member(r, n)));
      }
      let start = cpuMicros();
      let wall = performance.now();
      for (const room of rooms) recorder.noteActivity(room);
      await recorder.settled();
      const joinCpu = cpuMicros() - start;
      const joinWall = performance.now() - wall;

      // Steady: each drain finds every room with a few chat messages.
      let cpu = 0;
      wall = performance.now();
      for (let d = 0; d < DRAINS; d++) {
        for (const [r, room] of rooms.entries()) {
          for (let m = 0; m < MESSAGES_PER_ROOM; m++) await broker.publish(room, encodeMessageBody('chat.message', { text: `message ${d}.${m}` }, member(r, m)));
        }
        start = cpuMicros();
        for (const room of rooms) recorder.noteActivity(room);
        await recorder.settled();
        cpu += cpuMicros() - start;
      }
      const steadyWall = performance.now() - wall;
      await recorder.close();
      const joins = ROOMS * MEMBERS_PER_ROOM;
      const messages = ROOMS * MESSAGES_PER_ROOM * DRAINS;
      console.log(
        `${backend.name} round ${round + 1}: ${DRAINS} drains of ${ROOMS} rooms x ${MESSAGES_PER_ROOM}: ${(cpu / DRAINS / 1000).toFixed(2)} ms CPU/drain, ` +
          `${(cpu / messages).toFixed(1)} µs CPU/message (${((steadyWall * 1000) / messages).toFixed(0)} µs wall incl. publishing); ` +
          `${joins} joins: ${(joinCpu / 1000).toFixed(0)} ms CPU, ${(joinCpu / joins).toFixed(0)} µs/join, ${joinWall.toFixed(0)} ms wall`,
      );
    }
    await database.drop();
  }
}

await main();
