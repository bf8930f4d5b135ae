import { describe, expect, it } from 'vitest';
import { AWS_DESIGN, DEFAULT_AWS, DEFAULT_WORKLOAD, ablyCost, modeledMessagesPerPost, awsCost, runCostCommand, selfHostedCost, throttleWarnings, tieredPrice, traffic, type Estimate, type Workload } from '../src/cost/index.js';
import { parseTiers } from '../src/cost/cli.js';
import { PRICES } from '../src/cost/prices.js';

// Small enough to compute by hand: 2 rooms of 3, 6 messages/room/min of 1,000 B, 10 live hours, pings every 60 s.
const SMALL: Workload = { rooms: 2, members: 3, messagesPerRoomPerMinute: 6, messageBytes: 1000, liveHours: 10, pingSeconds: 60, sessionMinutes: 60 };

function line(estimate: Estimate, prefix: string): { quantity: number; usd: number } {
  const found = estimate.lines.find((l) => l.item.startsWith(prefix));
  if (found === undefined) throw new Error(`no line ${prefix} in ${estimate.name}`);
  return found;
}

describe('traffic', () => {
  it('counts a month of messages by hand', () => {
    const t = traffic(SMALL);
    expect(t.connections).toBe(6);
    expect(t.publishes).toBe(7_200); // 2 rooms × 6/min × 60 × 10 h
    expect(t.pings).toBe(3_600); // 6 connections × 36,000 s / 60 s
    expect(t.connects).toBe(60); // 6 connections × 10 one-hour classes
    expect(t.deliveries).toBe(21_600); // every member, the sender included
    expect(t.inboundMessages).toBe(10_860); // publishes + pings + joins
    expect(t.outboundMessages).toBe(32_700); // deliveries + acks + pongs + joined + presence (60 × 2 × 2)
    expect(t.billedUnits).toBe(43_560); // every frame under 32 KB is one unit
    expect(t.connectionMinutes).toBe(3_600);
    expect(t.outboundBytes).toBe(25_899_600); // 21,600 × 1,170 + 7,200 × 60 + 3,600 × 40 + 60 × 380 + 240 × 120
  });

  it('meters in 32 KB units, and reconnects classes longer than 2 hours', () => {
    const big = traffic({ ...SMALL, messageBytes: 40_000 });
    // Publish frames (40,080 B) and message frames (40,170 B) are 2 units each.
    expect(big.billedUnits).toBe(43_560 + 7_200 + 21_600);
    const long = traffic({ ...SMALL, sessionMinutes: 180 });
    expect(long.connects).toBe(6 * (600 / 180) * 2);
  });

  it('refuses a workload that is not positive', () => {
    expect(() => traffic({ ...SMALL, rooms: 0 })).toThrow(RangeError);
    expect(() => traffic({ ...SMALL, members: 2.5 })).toThrow(RangeError);
  });
});

describe('prices', () => {
  it('prices AWS line by line', () => {
    const aws = awsCost(SMALL);
    expect(line(aws, 'API Gateway messages').usd).toBeCloseTo(0.04356, 10);
    expect(line(aws, 'API Gateway connection minutes').usd).toBeCloseTo(0.0009, 10);
    expect(line(aws, 'Lambda requests')).toEqual(expect.objectContaining({ quantity: 11_040 })); // 10,860 + 3 × 60
    expect(line(aws, 'Lambda duration').quantity).toBeCloseTo(220.8, 10); // 11,040 × 0.04 s × 0.5 GB
    expect(line(aws, 'NAT gateway hours').usd).toBeCloseTo(32.85, 10);
    expect(line(aws, 'NAT data processed').quantity).toBeCloseTo(0.0749496, 10); // (25,899,600 + 32,700 × 1,500) B
    expect(line(aws, 'ElastiCache').usd).toBeCloseTo(46.72, 10);
    expect(aws.total).toBeCloseTo(79.629179711, 6);
  });

  it('applies the lower message price beyond a billion', () => {
    const aws = awsCost(DEFAULT_WORKLOAD);
    const units = traffic(DEFAULT_WORKLOAD).billedUnits;
    expect(units).toBe(2_801_040_000);
    expect(line(aws, 'API Gateway messages').usd).toBeCloseTo(1000 + ((units - 1e9) / 1e6) * 0.8, 6);
  });

  it('sizes self-hosted nodes from the measured CPU per delivery', () => {
    const small = selfHostedCost(SMALL);
    expect(line(small, 'EC2 2 × c7g.large').usd).toBeCloseTo(105.85, 10);
    expect(small.total).toBeCloseTo(168.997538161, 6);
    // 32,692 frames/s × 2 (peak) × 35.1 µs / 50 % = 4.59 cores: 3 two-core instances.
    const busy = selfHostedCost({ rooms: 1000, members: 30, messagesPerRoomPerMinute: 60, messageBytes: 100, liveHours: 100, pingSeconds: 25, sessionMinutes: 60 });
    expect(line(busy, 'EC2').quantity).toBe(3 * 730);
    const memory = selfHostedCost(SMALL, { engine: 'memory', instanceType: 'c7g.large', minInstances: 2, targetUtilization: 0.5, peakFactor: 2, redisNodeType: 'cache.t4g.small', redisNodes: 2 });
    expect(memory.lines.some((l) => l.item.startsWith('ElastiCache'))).toBe(false);
  });

  it('prices Ably per message and minute', () => {
    const ably = ablyCost(SMALL);
    expect(line(ably, 'Messages').quantity).toBe(29_280); // 7,200 published + 21,600 delivered + 60 × 2 × 4 presence
    expect(ably.total).toBeCloseTo(29 + 0.0732 + 0.0036 + 0.0012, 10);
  });
});

describe('classwire cost', () => {
  const run = (argv: string[]) => {
    let out = '';
    let err = '';
    const code = runCostCommand(argv, { write: (t) => (out += t) }, { write: (t) => (err += t) });
    return { code, out, err };
  };

  it('prints the three estimates, or JSON', () => {
    const text = run(['--design', 'naive', '--rooms', '2', '--members', '3', '--rate', '6', '--size', '1000', '--hours', '10', '--ping-seconds', '60']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('AWS (API Gateway + Lambda + ElastiCache): $79.63 / month');
    expect(text.out).toContain('Self-hosted Classwire (redis engine): $169.00 / month');
    const json = run(['--design', 'naive', '--rooms', '2', '--members', '3', '--rate', '6', '--size', '1000', '--hours', '10', '--ping-seconds', '60', '--json']);
    const parsed = JSON.parse(json.out) as { estimates: Estimate[]; traffic: { billedUnits: number } };
    expect(parsed.traffic.billedUnits).toBe(43_560);
    expect(parsed.estimates.map((e) => e.total)).toEqual([
      awsCost(SMALL).total,
      selfHostedCost(SMALL).total,
      ablyCost(SMALL).total,
      ablyCost(SMALL, PRICES.ably.prepaidMessageTiers).total,
    ]);
  });

  it('prices coalesced delivery posts: fewer posts and units, the same deliveries', () => {
    const naive = traffic(SMALL);
    const batched = traffic({ ...SMALL, messagesPerPost: 3 });
    expect(batched.deliveries).toBe(naive.deliveries);
    expect(batched.deliveryPosts).toBe(7_200); // 21,600 deliveries / 3
    // 3 frames of 1,170 B and the batch envelope still fit in one 32 KB unit.
    expect(batched.billedUnits).toBe(naive.billedUnits - 21_600 + 7_200);
    expect(batched.outboundPosts).toBe(naive.outboundPosts - 14_400);
    expect(awsCost({ ...SMALL, messagesPerPost: 3 }).total).toBeLessThan(awsCost(SMALL).total);
    expect(() => traffic({ ...SMALL, messagesPerPost: 0.5 })).toThrow(RangeError);
    // The leader of each batch waits out the window: 2,400 batches × 50 ms × 0.5 GB more duration.
    const windowed = awsCost({ ...SMALL, messagesPerPost: 3 }, { ...DEFAULT_AWS, coalesceMs: 50 });
    expect(line(windowed, 'Lambda duration').quantity - line(awsCost({ ...SMALL, messagesPerPost: 3 }), 'Lambda duration').quantity).toBeCloseTo(60, 9);
    expect(run(['--batch', '2.5']).code).toBe(0);
    expect(run(['--batch', '0.5']).code).toBe(2);
  });

  it('warns when the workload exceeds the stage throttle (1,000/s, burst 500), and not below it', () => {
    const stage = { stageRateLimit: 1000, stageBurstLimit: 500 };
    // 500 rooms × 26 at 20 messages/room/min, pings every 25 s: ~690 inbound/s on average.
    expect(throttleWarnings(traffic(DEFAULT_WORKLOAD), stage)).toEqual([]);
    // Four times the rooms: ~2,760/s on average, and 208,000 connections starting within a minute.
    const busy = throttleWarnings(traffic({ ...DEFAULT_WORKLOAD, rooms: 4000 }), stage);
    expect(busy).toHaveLength(2);
    expect(busy[0]).toMatch(/inbound messages\/s on average exceeds the stage throttle \(1,000\/s, burst 500\)/);
    expect(busy[1]).toMatch(/connects and joins\/s, over the stage throttle/);
    expect(awsCost({ ...DEFAULT_WORKLOAD, rooms: 4000 }).notes).toEqual(expect.arrayContaining(busy));
    expect(run(['--rooms', '4000']).out).toContain('note: ~');
  });

  it('prices Ably messages by graduated tiers, each rate within its own tier', () => {
    const tiers = [
      { upToMillions: 100, perMillion: 2.5 },
      { upToMillions: 1000, perMillion: 1.25 },
      { upToMillions: Infinity, perMillion: 0.5 },
    ];
    expect(tieredPrice(50e6, tiers)).toBeCloseTo(125, 9);
    expect(tieredPrice(600e6, tiers)).toBeCloseTo(250 + 625, 9);
    expect(tieredPrice(2000e6, tiers)).toBeCloseTo(250 + 1125 + 500, 9);
    expect(() => tieredPrice(10e6, [{ upToMillions: 5, perMillion: 1 }])).toThrow(RangeError);
    expect(parseTiers('100:2.5,1000:1.25,0.5')).toEqual(tiers);
    for (const bad of ['', '100:2.5', '100:x,1', '1000:2,100:1,1', '100:-1,1', 'a:b,c']) expect(() => parseTiers(bad)).toThrow(RangeError);
    const quoted = run(['--design', 'naive', '--ably-tiers', '100:2.5,1000:1.25,0.5', '--json']);
    const parsed = JSON.parse(quoted.out) as { estimates: Estimate[] };
    expect(parsed.estimates.map((e) => e.total)).toEqual([awsCost(DEFAULT_WORKLOAD).total, selfHostedCost(DEFAULT_WORKLOAD).total, ablyCost(DEFAULT_WORKLOAD, tiers).total]);
    expect(run(['--ably-tiers', '5:1']).code).toBe(2);
  });

  it('without echoes delivers to the other members only, and the acks carry the message', () => {
    const quiet = traffic({ ...SMALL, echo: false });
    expect(quiet.deliveries).toBe(14_400); // 7,200 publishes × the 2 other members
    expect(quiet.billedUnits).toBe(43_560 - 7_200);
    // 7,200 fewer message frames of 1,170 B; 7,200 acks 110 B longer.
    expect(quiet.outboundBytes).toBe(25_899_600 - 7_200 * 1_170 + 7_200 * 110);
    expect(awsCost({ ...SMALL, echo: false }).total).toBeLessThan(awsCost(SMALL).total);
  });

  it('splits the billed units by what they carry', () => {
    expect(traffic(SMALL).unitsByKind).toEqual({
      deliveries: 21_600,
      publishes: 7_200,
      acks: 7_200,
      pings: 7_200, // 3,600 pings and their pongs
      joins: 360, // 60 joins, 60 joined replies, 240 presence frames
    });
    const { unitsByKind, billedUnits } = traffic({ ...DEFAULT_WORKLOAD, messagesPerPost: 1.4, echo: false });
    expect(Object.values(unitsByKind).reduce((a, b) => a + b, 0)).toBeCloseTo(billedUnits, 3);
  });

  it('prices the AWS design by default: the advertised keep-alive, the 50 ms window as modeled, no echo; naive on request', () => {
    expect(modeledMessagesPerPost(20, 50)).toBeCloseTo(1 + 1 / 60, 12);
    expect(modeledMessagesPerPost(1200, 50)).toBe(2);
    expect(modeledMessagesPerPost(20, 0)).toBe(1);
    const design = { ...DEFAULT_WORKLOAD, pingSeconds: 540, messagesPerPost: modeledMessagesPerPost(20, 50), echo: false };
    const json = JSON.parse(run(['--json']).out) as { design: string; workload: Workload; estimates: Estimate[]; naiveDesign: { traffic: { billedUnits: number } } };
    expect(json.design).toBe('aws');
    expect(json.workload).toEqual(design);
    expect(json.estimates[0]!.total).toBeCloseTo(awsCost(design, { ...DEFAULT_AWS, coalesceMs: AWS_DESIGN.coalesceMs }).total, 9);
    expect(json.naiveDesign.traffic.billedUnits).toBe(traffic(DEFAULT_WORKLOAD).billedUnits);
    const text = run([]).out;
    expect(text).toContain('Design:   aws: pings every 540 s');
    expect(text).toMatch(/AWS billed messages: [\d,]+ = deliveries 87\.8 %, .* pings and pongs 1\.0 %, .*; the naive design: 2,801,040,000 \(1\.26× this\)/);
    // Each lever can be set apart from the design.
    const naive = JSON.parse(run(['--design', 'naive', '--echo', 'off', '--coalesce-ms', '100', '--json']).out) as { workload: Workload };
    expect(naive.workload).toMatchObject({ pingSeconds: 25, echo: false, messagesPerPost: modeledMessagesPerPost(20, 100) });
    expect(JSON.parse(run(['--coalesce-ms', '0', '--json']).out)).toMatchObject({ workload: { messagesPerPost: 1 } });
  });

  it('refuses bad input with a message and exit code 2', () => {
    for (const argv of [['--design', 'cheap'], ['--echo', 'no'], ['--coalesce-ms', '-1'], ['--coalesce-ms', '2.5'], ['--coalesce-ms', '1001'], ['--coalesce-ms', ''], ['--rooms', '-1'], ['--rooms', 'many'], ['--engine', 'postgres'], ['--instance', 'm9.huge'], ['--redis-node', 'cache.x'], ['--bogus']]) {
      const result = run(argv);
      expect({ argv, code: result.code }).toEqual({ argv, code: 2 });
      expect(result.err).toMatch(/^classwire cost: /);
    }
    expect(run(['--help'])).toMatchObject({ code: 0, out: expect.stringContaining('Usage: classwire cost') });
  });
});
