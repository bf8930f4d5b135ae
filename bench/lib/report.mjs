// Markdown tables of the results: absolute figures, and ratios against the pre-framed ws target.
import { TARGET_LABELS } from './targets.mjs';

export const BASELINE = 'ws-preframed';

/**
 * @param {number | null | undefined} value
 * @param {number} [digits]
 */
export function num(value, digits = 0) {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * "value (ratio×)" against the baseline's value of the same figure.
 * @param {number | null | undefined} value
 * @param {number | null | undefined} base
 * @param {number} [digits]
 */
function withRatio(value, base, digits = 0) {
  const text = num(value, digits);
  if (value === null || value === undefined || base === null || base === undefined || !Number.isFinite(value) || !Number.isFinite(base) || base === 0) return text;
  return `${text} (${(value / base).toFixed(2)}×)`;
}

const mb = (/** @type {number | null | undefined} */ bytes) => (bytes === null || bytes === undefined ? null : bytes / 2 ** 20);

/**
 * @typedef {{ target: string, ok: boolean, error?: string, result?: any }} Row
 */

/**
 * @param {Row[]} rows
 * @param {string[]} header
 * @param {(r: any, base: any) => string[]} cells
 */
function table(rows, header, cells) {
  const base = rows.find((r) => r.target === BASELINE && r.ok)?.result;
  const lines = [`| ${['Target', ...header].join(' | ')} |`, `| ${['---', ...header.map(() => '---:')].join(' | ')} |`];
  for (const row of rows) {
    const label = TARGET_LABELS[/** @type {keyof typeof TARGET_LABELS} */ (row.target)] ?? row.target;
    if (!row.ok) lines.push(`| ${label} | failed: ${String(row.error).split('\n')[0]?.slice(0, 160)} |`);
    else lines.push(`| ${[label, ...cells(row.result, base)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * A limit verdict from CPU figures: which side had a core saturated.
 * @param {{ serverCpuPct: number | null, generatorCpuPct: number | null }} s
 * @param {number} serverCores
 */
export function limitOf(s, serverCores) {
  const server = (s.serverCpuPct ?? 0) >= 90 * serverCores;
  const generator = (s.generatorCpuPct ?? 0) >= 90;
  if (server && generator) return 'server and generator CPU';
  if (server) return 'server CPU';
  if (generator) return 'generator CPU';
  return 'neither core saturated';
}

/** @param {Row[]} rows */
export function steadyTable(rows) {
  return table(
    rows,
    ['Deliveries/s', 'p50 ms', 'p99 ms', 'max ms', 'Lost', 'Server CPU s', 'Server CPU µs/delivery', 'Main threads µs/delivery', 'Server writes/delivery', 'Server peak RSS MiB', 'Generator CPU %'],
    (r, b) => [
      withRatio(r.deliveriesPerSec, b?.deliveriesPerSec),
      withRatio(r.p50, b?.p50, 2),
      withRatio(r.p99, b?.p99, 2),
      num(r.max, 1),
      `${num(r.lost)} of ${num(r.expected)}`,
      withRatio(r.serverCpuSec, b?.serverCpuSec, 2),
      withRatio(r.serverCpuUsPerDelivery, b?.serverCpuUsPerDelivery, 2),
      withRatio(r.serverMainThreadCpuUsPerDelivery, b?.serverMainThreadCpuUsPerDelivery, 2),
      num(r.serverWritesPerDelivery, 2),
      withRatio(mb(r.serverPeakRssBytes), mb(b?.serverPeakRssBytes), 1),
      num(r.generatorCpuPct, 0),
    ],
  );
}

/**
 * @param {Row[]} rows
 * @param {number} serverCores
 */
export function maxTable(rows, serverCores) {
  return table(
    rows,
    ['Highest sustained msg/s per room', 'Deliveries/s there', 'p99 ms there', 'Server CPU % there', 'Generator CPU % there', 'First failing step', 'Limit at the failing step'],
    (r, b) => {
      const f = r.firstFailure;
      return [
        withRatio(r.best?.rate, b?.best?.rate),
        withRatio(r.best?.deliveriesPerSec, b?.best?.deliveriesPerSec),
        num(r.best?.p99, 2),
        num(r.best?.serverCpuPct, 0),
        num(r.best?.generatorCpuPct, 0),
        f === null ? 'none (search ended)' : `${num(f.rate)} msg/s/room: ${f.reasons.join(', ')}; ${num(f.deliveriesPerSec)} of ${num(f.offeredDeliveriesPerSec)} deliveries/s, p99 ${num(f.p99, 1)} ms, server ${num(f.serverCpuPct, 0)} %, generator ${num(f.generatorCpuPct, 0)} %`,
        f === null ? 'n/a' : limitOf(f, serverCores),
      ];
    },
  );
}

/** @param {Row[]} rows */
export function idleTable(rows) {
  return table(
    rows,
    ['Idle clients', 'Server RSS before MiB', 'Server RSS after MiB', 'KiB per connection', 'Connects/s', 'Server CPU ms per 1,000 connects', 'Server peak RSS MiB', 'Generator CPU %'],
    (r, b) => [
      num(r.clients),
      num(mb(r.rssBeforeBytes), 1),
      num(mb(r.rssAfterBytes), 1),
      withRatio(r.bytesPerConnection / 1024, b === undefined ? undefined : b.bytesPerConnection / 1024, 1),
      withRatio(r.connectsPerSec, b?.connectsPerSec),
      withRatio(r.serverCpuMsPer1000Connects, b?.serverCpuMsPer1000Connects, 0),
      num(mb(r.serverPeakRssBytes), 1),
      num(r.generatorCpuPct, 0),
    ],
  );
}

/** @param {Row[]} rows */
export function joinTable(rows) {
  return table(
    rows,
    ['Joins (failed)', 'Achieved joins/s', 'p50 ms', 'p99 ms', 'max ms', 'Server CPU ms per join', 'Server CPU %', 'Generator CPU %'],
    (r, b) => [
      `${num(r.joins)} (${num(r.failed)})`,
      withRatio(r.achievedJoinsPerSec, b?.achievedJoinsPerSec, 0),
      withRatio(r.p50, b?.p50, 2),
      withRatio(r.p99, b?.p99, 2),
      num(r.max, 1),
      withRatio(r.serverCpuMsPerJoin, b?.serverCpuMsPerJoin, 3),
      num(r.serverCpuPct, 0),
      num(r.generatorCpuPct, 0),
    ],
  );
}

/**
 * Whether a fixed-load run kept up: p99 within the limit, deliveries on pace, nothing lost.
 * @param {any} r
 */
export function sustained(r) {
  return r !== undefined && r.error === undefined && r.p99 !== null && r.p99 <= 100 && r.deliveriesPerSec >= 0.95 * r.offeredDeliveriesPerSec && r.lost === 0;
}

/**
 * The loads profile: per target, server CPU µs/delivery and p99 at each fixed load, and the highest
 * sustained load.
 * @param {Row[]} rows
 * @param {number[]} loads  msg/s per room, in the order they were run
 */
export function loadsTable(rows, loads) {
  const base = rows.find((r) => r.target === BASELINE)?.result?.loads ?? [];
  const header = ['Target', ...loads.map((l) => `${l} msg/s/room: µs/delivery · writes/delivery · p99 ms · gen %`), 'Highest sustained deliveries/s'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const row of rows) {
    const label = TARGET_LABELS[/** @type {keyof typeof TARGET_LABELS} */ (row.target)] ?? row.target;
    /** @type {any[]} */
    const runs = row.result?.loads ?? [];
    const cells = loads.map((_, i) => {
      const r = runs[i];
      if (r === undefined || r.error !== undefined) return 'failed';
      const mark = sustained(r) ? '' : ' ✗';
      return `${withRatio(r.serverCpuUsPerDelivery, base[i]?.serverCpuUsPerDelivery, 2)} · ${num(r.serverWritesPerDelivery, 2)} · ${num(r.p99, 1)}${mark} · ${num(r.generatorCpuPct, 0)}`;
    });
    const best = runs.filter(sustained).reduce((top, r) => Math.max(top, r.deliveriesPerSec), 0);
    const baseBest = base.filter(sustained).reduce((top, r) => Math.max(top, r.deliveriesPerSec), 0);
    lines.push(`| ${[label, ...cells, best > 0 ? withRatio(best, baseBest > 0 ? baseBest : undefined) : 'none'].join(' | ')} |`);
  }
  return `${lines.join('\n')}\n\nWrites/delivery: write system calls of the server processes per delivery (from /proc/<pid>/io; other processes on the machine do not move it). ✗: not sustained at that load (p99 > 100 ms, deliveries behind, or loss). The highest sustained figure is the best fixed load that passed; loads between the steps are not tried (the max profile searches them).`;
}
