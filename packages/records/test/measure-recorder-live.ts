/**
 * How often the recorder writes while rooms keep publishing (docs/records.md, "Measurements"): the
 * bench's load (40 rooms, 20 msg/s each) published for a few seconds beside a recorder with its default
 * batch delay; counts the transactions and the messages each carried. Not a test: numbers, no assertions.
 * Run: npx tsx --conditions=source packages/records/test/measure-recorder-live.ts
 */
import { MemoryBroker } from '@classwire/core';
import { encodeMessageBody, type Sender } from '@classwire/protocol';
import { Recorder, RecordsStore, type LogReader, type RecordingWritten } from '../src/index.js';
import { BACKENDS } from './databases.js';

const ROOMS = 40;
const RATE_PER_ROOM = 20;
const SECONDS = 5;
const who: Sender = { userId: 'u-1', name: 'Student', role: 'student' };
const text = 'x'.repeat(200);

/** Counts the recording transactions. */
class CountingStore extends RecordsStore {
  transactions = 0;

  override async recordFrom(rooms: readonly string[], read: LogReader, now: number): Promise<RecordingWritten> {
    this.transactions += 1;
    return super.recordFrom(rooms, read, now);
  }
}

async function main(): Promise<void> {
  const database = await BACKENDS[0].open();
  for (let round = 0; round < 2; round++) {
    const broker = new MemoryBroker({ maxMessages: 10_000, delivery: { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined } });
    const store = new CountingStore(database.records.db);
    const recorder = new Recorder({ store, broker, logger: { warn: () => undefined } });
    const rooms = Array.from({ length: ROOMS }, (_, i) => `live-${round}-${i}`);
    let published = 0;
    const startCpu = process.cpuUsage();
    const tick = setInterval(() => {
      // Every 10 ms, the messages due: RATE_PER_ROOM per room per second, spread over the rooms.
      for (let i = 0; i < (ROOMS * RATE_PER_ROOM) / 100; i++) {
        const room = rooms[published % ROOMS]!;
        published += 1;
        void broker.publish(room, encodeMessageBody('chat.message', { text, sentAt: Date.now() }, who)).then(() => recorder.noteActivity(room));
      }
    }, 10);
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    clearInterval(tick);
    await recorder.settled();
    const cpu = process.cpuUsage(startCpu);
    await recorder.close();
    console.log(
      `round ${round + 1}: ${published} messages in ${SECONDS} s, ${store.transactions} transactions (${(store.transactions / SECONDS).toFixed(1)}/s, ` +
        `${(published / Math.max(1, store.transactions)).toFixed(1)} messages each); process CPU ${((cpu.user + cpu.system) / 1000 / SECONDS).toFixed(1)} ms/s (publishing included)`,
    );
  }
  await database.drop();
}

await main();
