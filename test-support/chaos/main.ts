// The chaos run: `npm run chaos -- --minutes N [--seed S] [--clients N] [--rooms N] [--wait-replicas 0|1]`.
// Builds first (npm run chaos does), prints the fault schedule as it happens and a report at the end;
// exits 1 when an acked message was lost, duplicated or delivered out of order. See docs/reliability.md.
import { parseArgs } from 'node:util';
import { formatReport, passed, runChaos } from './run.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '6' },
    rooms: { type: 'string', default: '3' },
    'wait-replicas': { type: 'string', default: '1' },
  },
});

function positive(name: string, text: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    console.error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const minutes = positive('minutes', values.minutes);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Math.floor(positive('seed', values.seed, true));
const report = await runChaos({
  durationMs: minutes * 60_000,
  seed,
  clients: Math.floor(positive('clients', values.clients)),
  rooms: Math.floor(positive('rooms', values.rooms)),
  waitReplicas: Math.floor(positive('wait-replicas', values['wait-replicas'], true)),
  log: (line) => console.log(line),
});
console.log(`\n${formatReport(report)}`);
console.log(passed(report) ? '\nPASS: no acked message lost, duplicated or reordered' : '\nFAIL');
process.exit(passed(report) ? 0 : 1);
