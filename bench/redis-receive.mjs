// Pub/sub receive-path micro-benchmark: RedisBroker's `messageBuffer` handler, fed publications as
// append.lua publishes them, on a stand-in subscriber (an EventEmitter: no Redis, no RESP decoding), with
// a delivery that only counts. Measures the broker's own work per received message: channel to room,
// decoding, seq tracking, and the lag event the gateway subscribes to. Not part of `npm run bench`; see
// docs/performance.md ("Redis mode, round 2"). Run `npm run build` first.
//
//   node bench/redis-receive.mjs [--messages 400000] [--no-lag]
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';
import { RedisBroker, redisKeys } from '@classwire/core';
import { composeMessageFrame, encodeMessageBody } from '@classwire/protocol';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '400000' },
    'no-lag': { type: 'boolean', default: false },
  },
});
const total = Number(args.messages);
const rounds = 5;
const perRound = Math.floor(total / rounds);
const keys = redisKeys();
const subscriber = Object.assign(new EventEmitter(), { subscribe: async () => undefined });
// Only what RedisBroker uses of its room log here: the keys, and the position read when a room is subscribed.
const log = { keys, read: async () => ({ epoch: 'e1', seq: 0, recovered: false, messages: [] }) };
let delivered = 0;
const delivery = { deliver: () => void delivered++, hasMembers: () => true, closeMembers: () => undefined };
let lagSum = 0;
const events = args['no-lag'] ? undefined : { backfilled: () => undefined, historyLost: () => undefined, received: (lagMs) => void (lagSum += lagMs) };
const broker = new RedisBroker({ log, redis: {}, subscriber, delivery, events });
const rooms = Array.from({ length: 40 }, (_, i) => `room-${i}`);
for (const room of rooms) await broker.subscribe(room);
const body = encodeMessageBody('chat.message', { text: 'x'.repeat(200) }, { userId: 'u1', role: 'student', name: 'Ada' }, 'id1');
const channels = rooms.map((room) => Buffer.from(keys.roomChannel(room)));
const seqs = rooms.map(() => 0);
const payloads = [];
for (let i = 0; i < perRound * rounds; i++) {
  const r = i % rooms.length;
  const seq = ++seqs[r];
  payloads.push(Buffer.from(`e1\n${seq}\n${composeMessageFrame(rooms[r], seq, Date.now(), body)}`));
}
for (let round = 0; round < rounds; round++) {
  const before = process.cpuUsage();
  for (let i = round * perRound; i < (round + 1) * perRound; i++) subscriber.emit('messageBuffer', channels[i % rooms.length], payloads[i]);
  const used = process.cpuUsage(before);
  process.stdout.write(`round ${round + 1}: ${Math.round(((used.user + used.system) * 1000) / perRound)} ns per message\n`);
}
if (delivered !== perRound * rounds) throw new Error(`delivered ${delivered} of ${perRound * rounds}`);
