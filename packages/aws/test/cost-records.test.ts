import { describe, expect, it } from 'vitest';
import { DEFAULT_RECORDS, DEFAULT_WORKLOAD, awsCost, recordsCost, runCostCommand, type Estimate, type Workload } from '../src/cost/index.js';

const SMALL: Workload = { ...DEFAULT_WORKLOAD, rooms: 2, members: 3, messagesPerRoomPerMinute: 6, messageBytes: 1000, liveHours: 10, pingSeconds: 60 };

function line(estimate: Estimate, prefix: string): { quantity: number; usd: number } {
  return estimate.lines.find((l) => l.item.startsWith(prefix))!;
}

describe('records cost (AWS)', () => {
  it('prices the database at its minimum capacity, the proxy at its 8-ACU minimum, and the two schedules, by hand', () => {
    const records = recordsCost(SMALL);
    // 0.5 ACU × 730 h × $0.12
    expect(line(records, 'Aurora Serverless v2')).toMatchObject({ quantity: 365, usd: expect.closeTo(43.8, 6) });
    // 8 ACU × 730 h × $0.015
    expect(line(records, 'RDS Proxy')).toMatchObject({ quantity: 5840, usd: expect.closeTo(87.6, 6) });
    // 2 schedules × 60 runs an hour × 730 h; 0.5 s at 0.5 GB each
    expect(line(records, 'Lambda requests')).toMatchObject({ quantity: 87_600, usd: expect.closeTo(0.01752, 6) });
    expect(line(records, 'Lambda duration')).toMatchObject({ quantity: 21_900, usd: expect.closeTo(21_900 * 0.0000133334, 6) });
    // 7,200 messages × (1,000 + 250) B
    expect(line(records, 'Aurora storage').quantity).toBeCloseTo(9_000_000 / 1024 ** 3, 9);
    expect(line(records, 'Aurora write I/O').quantity).toBeCloseTo((9_000_000 * 2) / 4096, 6);
    expect(records.total).toBeCloseTo(132.14, 2);
  });

  it('follows the minimum capacity: the proxy bills more only past 8 ACUs', () => {
    expect(line(recordsCost(SMALL, { ...DEFAULT_RECORDS, minAcu: 2 }), 'Aurora Serverless v2').usd).toBeCloseTo(175.2, 6);
    expect(line(recordsCost(SMALL, { ...DEFAULT_RECORDS, minAcu: 2 }), 'RDS Proxy').usd).toBeCloseTo(87.6, 6);
    expect(line(recordsCost(SMALL, { ...DEFAULT_RECORDS, minAcu: 10 }), 'RDS Proxy').usd).toBeCloseTo(109.5, 6);
    expect(() => recordsCost(SMALL, { ...DEFAULT_RECORDS, minAcu: 0.3 })).toThrow(RangeError);
  });

  it('classwire cost --records adds the section and the AWS total with it; JSON carries it', () => {
    const run = (argv: string[]) => {
      let out = '';
      let err = '';
      const code = runCostCommand(argv, { write: (t) => (out += t) }, { write: (t) => (err += t) });
      return { code, out, err };
    };
    // The seed design: its AWS total is awsCost's for the workload as given (the aws design changes the workload's traffic).
    const argv = ['--design', 'naive', '--rooms', '2', '--members', '3', '--rate', '6', '--size', '1000', '--hours', '10', '--ping-seconds', '60'];
    expect(run(argv).out).not.toContain('AWS records');
    const text = run([...argv, '--records']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('AWS records (optional: Aurora Serverless v2, RDS Proxy, two schedules): $132.14 / month');
    expect(text.out).toContain(`AWS with records: $${(awsCost(SMALL).total + recordsCost(SMALL).total).toFixed(2)} / month`);
    const json = JSON.parse(run([...argv, '--records', '--records-min-acu', '1', '--json']).out) as { records: Estimate };
    expect(json.records.total).toBeCloseTo(recordsCost(SMALL, { ...DEFAULT_RECORDS, minAcu: 1 }).total, 9);
    expect(run([...argv, '--records', '--records-min-acu', '0.7'])).toMatchObject({ code: 2, err: expect.stringMatching(/^classwire cost: --records-min-acu/) });
  });
});
