// Measures what API Gateway would bill for the classroom workload, naive seed design against the new
// defaults, by running the Lambda handlers behind the emulator with real SDK clients (docs/cost.md).
//
//   node --conditions=source --import tsx packages/apigw-emulator/test/classroom-bill.ts [--rooms 4] [--json]
//
// Needs redis-server on the PATH (each design gets a Redis of its own).
import { parseArgs } from 'node:util';
import { startRuntime } from '../../../test-support/harness.js';
import { runClassroomWorkload, usageBetween, type ClassroomWorkload } from './classroom-workload.js';

const { values } = parseArgs({
  options: {
    rooms: { type: 'string', default: '4' },
    students: { type: 'string', default: '24' },
    strokes: { type: 'string', default: '100' },
    'stroke-interval': { type: 'string', default: '50' },
    chat: { type: 'string', default: '1' },
    // Rounds of every design in turn (A/B alternation): the coalescing designs depend on timing.
    rounds: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

const workload: ClassroomWorkload = {
  rooms: Number(values.rooms),
  students: Number(values.students),
  strokes: Number(values.strokes),
  strokeIntervalMs: Number(values['stroke-interval']),
  chatPerStudent: Number(values.chat),
};

/**
 * A design: how the runtime coalesces, how often the SDK pings (pings are priced from the interval: 540 s
 * is the keep-alive the AWS runtime advertises), and whether publishers ask for no echo.
 */
const DESIGNS = [
  { name: 'naive seed design (a post per member per message, ping every 25 s, echoes)', coalesceMs: 0, pingSeconds: 25, echo: true },
  // Without a window the counts are exact (no timing): each lever alone.
  { name: 'keep-alive 540 s, no coalescing, echoes', coalesceMs: 0, pingSeconds: 540, echo: true },
  { name: 'keep-alive 540 s, no coalescing, no echo', coalesceMs: 0, pingSeconds: 540, echo: false },
  { name: 'coalescing 50 ms, keep-alive 540 s, echoes (before echo skip)', coalesceMs: 50, pingSeconds: 540, echo: true },
  { name: 'AWS design: coalescing 50 ms, keep-alive 540 s, no echo', coalesceMs: 50, pingSeconds: 540, echo: false },
  { name: 'coalescing 100 ms, keep-alive 540 s, no echo', coalesceMs: 100, pingSeconds: 540, echo: false },
];

const rows = [];
for (let round = 1; round <= Number(values.rounds); round++) for (const design of DESIGNS) {
  const gateway = await startRuntime('apigw-emulator', { CLASSWIRE_COALESCE_MS: String(design.coalesceMs) });
  const started = Date.now();
  let result;
  try {
    result = await runClassroomWorkload(gateway, workload, { echo: design.echo });
  } finally {
    await gateway.drain();
  }
  const seconds = (Date.now() - started) / 1000;
  const traffic = usageBetween(result.joined, result.done);
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const connections = workload.rooms * (workload.students + 1);
  // A ping and its pong per connection per interval, over the workload's nominal length (the pen's
  // schedule), not the run's: a slower run must not make one design's pings look dearer.
  const nominalSeconds = Math.max(1, (workload.strokes * workload.strokeIntervalMs) / 1000);
  const pingUnits = (2 * connections * nominalSeconds) / design.pingSeconds;
  const messageUnits = sum(traffic.inbound) + sum(traffic.outbound);
  const deliveryPosts = (traffic.outbound.message ?? 0) + (traffic.outbound.batch ?? 0);
  rows.push({
    round,
    design: design.name,
    seconds: Number(seconds.toFixed(2)),
    publishes: result.publishes,
    // What the members' rooms showed (with no echo, the sender's own messages came from the acks).
    deliveries: result.deliveries,
    inbound: traffic.inbound,
    outbound: traffic.outbound,
    deliveryPosts,
    // Messages that crossed the wire per delivery post (without echoes the sender's copies never do).
    messagesPerPost: Number(((design.echo ? result.deliveries : result.deliveries - result.publishes) / deliveryPosts).toFixed(2)),
    pingUnits: Math.round(pingUnits),
    totalUnits: Math.round(messageUnits + pingUnits),
    unitsPerPublish: Number(((messageUnits + pingUnits) / result.publishes).toFixed(2)),
  });
}

if (values.json) console.log(JSON.stringify({ workload, rows }, null, 2));
else {
  console.log(`workload: ${JSON.stringify(workload)}`);
  for (const row of rows) console.log(JSON.stringify(row));
  const naive = rows[0]!.totalUnits;
  for (const row of rows) console.log(`round ${row.round}, ${row.design}: ${(naive / row.totalUnits).toFixed(2)}× fewer billed units than the naive design`);
}
