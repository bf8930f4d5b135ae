import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, formatReport, runChaos } from './run.js';

describe('chaos run (2 minutes)', () => {
  it('loses, duplicates and reorders no acked message across node kills, restarts, Redis failovers, network cuts and paused clients', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    // One block at the end: the fault log line by line would interleave with other test files' output.
    const lines: string[] = [];
    const report = await runChaos({ durationMs: 120_000, seed, log: (line) => lines.push(line) });
    console.log(`${lines.join('\n')}\n${formatReport(report)}`);
    expect({ lostAcked: report.lostAcked, duplicates: report.duplicates, orderViolations: report.orderViolations }).toEqual({
      lostAcked: 0,
      duplicates: 0,
      orderViolations: 0,
    });
    for (const kind of FAULT_KINDS) expect(report.faults[kind], kind).toBeGreaterThanOrEqual(1);
    expect(report.ackedPublishes).toBeGreaterThan(0);
    expect(report.deliveries).toBeGreaterThan(0);
  }, 360_000);
});
