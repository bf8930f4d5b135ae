import { parseArgs } from 'node:util';
import {
  AWS_DESIGN,
  NAIVE_DESIGN,
  DEFAULT_AWS,
  DEFAULT_SELF_HOSTED,
  DEFAULT_WORKLOAD,
  ablyCost,
  awsCost,
  modeledMessagesPerPost,
  selfHostedCost,
  traffic,
  type Estimate,
  type PriceTier,
  type Workload,
} from './model.js';
import { PRICES } from './prices.js';
import { DEFAULT_RECORDS, recordsCost } from './records.js';

export const COST_USAGE = `Usage: classwire cost [options]

Prices a month of classroom traffic on AWS (API Gateway, Lambda, NAT, ElastiCache), on self-hosted
gateways (EC2 and a load balancer, sized from the benchmark), and on Ably. Prices: us-east-1, ${PRICES.asOf}.

  --design NAME        aws: the AWS runtime's defaults (keep-alive  (default aws)
                       ${AWS_DESIGN.pingSeconds} s, coalescing ${AWS_DESIGN.coalesceMs} ms) and publishers without echo;
                       naive: the seed design (pings every ${NAIVE_DESIGN.pingSeconds} s, a post per member
                       per message, echoes). The options below override either.
  --rooms N            classrooms live at once                      (default ${DEFAULT_WORKLOAD.rooms})
  --members N          connections per room                         (default ${DEFAULT_WORKLOAD.members})
  --rate N             messages per room per minute                 (default ${DEFAULT_WORKLOAD.messagesPerRoomPerMinute})
  --size BYTES         message payload                              (default ${DEFAULT_WORKLOAD.messageBytes})
  --hours N            live hours per month                         (default ${DEFAULT_WORKLOAD.liveHours})
  --ping-seconds N     client ping (keep-alive) interval            (default: the design's)
  --session-minutes N  length of a class                            (default ${DEFAULT_WORKLOAD.sessionMinutes})
  --batch N            AWS: room messages per delivery post, as the  (default 1 + rate × window, the model's
                       emulator measured the runtime's coalescing    estimate; 1 without a window)
                       (docs/cost.md)
  --echo on|off        off: publishers ask for no echo, a message   (default: the design's)
                       reaches the other members only
  --nat-gateways N     AWS: NAT gateways                            (default ${DEFAULT_AWS.natGateways})
  --redis-node TYPE    ElastiCache node type (both deployments)     (default ${DEFAULT_AWS.redisNodeType})
  --lambda-ms N        AWS: average handler duration, ms            (default ${DEFAULT_AWS.lambdaMs})
  --lambda-memory MB   AWS: handler memory                          (default ${DEFAULT_AWS.lambdaMemoryMb})
  --coalesce-ms N      AWS: coalescing window (0: none)             (default: the design's)
  --instance TYPE      self-hosted: EC2 instance type               (default ${DEFAULT_SELF_HOSTED.instanceType})
  --engine NAME        self-hosted: memory or redis                 (default ${DEFAULT_SELF_HOSTED.engine})
  --peak-factor N      self-hosted: peak over average traffic       (default ${DEFAULT_SELF_HOSTED.peakFactor})
  --ably-tiers LIST    Ably message prices from a quote, graduated: MILLIONS:PRICE,…,PRICE per million
                       (e.g. 1000:2.5,5000:1.25,0.8; default: the list price, and the prepaid-package rate beside it)
  --records            AWS: add the optional records database and its schedules
  --records-min-acu N  AWS records: Aurora Serverless v2 minimum ACUs (default ${DEFAULT_RECORDS.minAcu})
  --json               print the estimates as JSON
`;

const NUMBER_OPTIONS = ['rooms', 'members', 'rate', 'size', 'hours', 'ping-seconds', 'session-minutes', 'batch', 'nat-gateways', 'lambda-ms', 'lambda-memory', 'peak-factor', 'records-min-acu'] as const;

/** `--ably-tiers`: `M1:P1,M2:P2,…,P` (bounds in millions, ascending; the last price unbounded). */
export function parseTiers(text: string): PriceTier[] {
  const parts = text.split(',');
  if (parts.length > 20) throw new RangeError('--ably-tiers takes at most 20 tiers');
  let previous = 0;
  return parts.map((part, index) => {
    const last = index === parts.length - 1;
    const [bound, price] = last && !part.includes(':') ? ['Infinity', part] : part.split(':');
    const upToMillions = Number(bound);
    const perMillion = Number(price);
    const valid = bound !== undefined && price !== undefined && price.trim() !== '' && Number.isFinite(perMillion) && perMillion >= 0 && upToMillions > previous;
    if (!valid || (last ? upToMillions !== Infinity : !Number.isFinite(upToMillions))) {
      throw new RangeError(`--ably-tiers: "${part.slice(0, 40)}" is not MILLIONS:PRICE (ascending bounds, the last a bare PRICE)`);
    }
    previous = upToMillions;
    return { upToMillions, perMillion };
  });
}

export interface CostOutput {
  write(text: string): void;
}

/** `classwire cost`: returns the exit code (0, or 2 for bad input). */
export function runCostCommand(argv: string[], out: CostOutput, err: CostOutput): number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(NUMBER_OPTIONS.map((name) => [name, { type: 'string' as const }])),
        'redis-node': { type: 'string' },
        instance: { type: 'string' },
        engine: { type: 'string' },
        'ably-tiers': { type: 'string' },
        'coalesce-ms': { type: 'string' },
        design: { type: 'string' },
        echo: { type: 'string' },
        records: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    err.write(`classwire cost: ${(error as Error).message}\n\n${COST_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    out.write(COST_USAGE);
    return 0;
  }
  const number = (name: (typeof NUMBER_OPTIONS)[number], fallback: number): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) throw new RangeError(`--${name} must be a positive number`);
    return parsed;
  };
  try {
    const designName = (values.design as string | undefined) ?? 'aws';
    if (designName !== 'aws' && designName !== 'naive') throw new RangeError('--design must be aws or naive');
    const design = designName === 'aws' ? AWS_DESIGN : NAIVE_DESIGN;
    const echoFlag = values.echo as string | undefined;
    if (echoFlag !== undefined && echoFlag !== 'on' && echoFlag !== 'off') throw new RangeError('--echo must be on or off');
    // 0 turns coalescing off, so unlike the other numbers it may be zero.
    const rawWindow = values['coalesce-ms'] as string | undefined;
    const coalesceMs = rawWindow === undefined ? design.coalesceMs : Number(rawWindow);
    if (rawWindow?.trim() === '' || !Number.isInteger(coalesceMs) || coalesceMs < 0 || coalesceMs > 1000) throw new RangeError('--coalesce-ms must be a whole number from 0 to 1000');
    const rate = number('rate', DEFAULT_WORKLOAD.messagesPerRoomPerMinute);
    const workload: Workload = {
      rooms: number('rooms', DEFAULT_WORKLOAD.rooms),
      members: number('members', DEFAULT_WORKLOAD.members),
      messagesPerRoomPerMinute: rate,
      messageBytes: number('size', DEFAULT_WORKLOAD.messageBytes),
      liveHours: number('hours', DEFAULT_WORKLOAD.liveHours),
      pingSeconds: number('ping-seconds', design.pingSeconds),
      sessionMinutes: number('session-minutes', DEFAULT_WORKLOAD.sessionMinutes),
      messagesPerPost: number('batch', modeledMessagesPerPost(rate, coalesceMs)),
      echo: echoFlag === undefined ? design.echo : echoFlag === 'on',
    };
    if (workload.messagesPerPost! < 1) throw new RangeError('--batch must be at least 1');
    // The same classes on the seed design, for the comparison line.
    const naive: Workload = { ...workload, pingSeconds: NAIVE_DESIGN.pingSeconds, messagesPerPost: 1, echo: NAIVE_DESIGN.echo };
    const quoted = typeof values['ably-tiers'] === 'string' ? parseTiers(values['ably-tiers']) : undefined;
    const engine = (values.engine as string | undefined) ?? DEFAULT_SELF_HOSTED.engine;
    if (engine !== 'memory' && engine !== 'redis') throw new RangeError('--engine must be memory or redis');
    const redisNodeType = (values['redis-node'] as string | undefined) ?? DEFAULT_AWS.redisNodeType;
    const estimates = [
      awsCost(workload, {
        ...DEFAULT_AWS,
        natGateways: number('nat-gateways', DEFAULT_AWS.natGateways),
        lambdaMs: number('lambda-ms', DEFAULT_AWS.lambdaMs),
        lambdaMemoryMb: number('lambda-memory', DEFAULT_AWS.lambdaMemoryMb),
        coalesceMs,
        redisNodeType,
      }),
      selfHostedCost(workload, {
        ...DEFAULT_SELF_HOSTED,
        engine,
        instanceType: (values.instance as string | undefined) ?? DEFAULT_SELF_HOSTED.instanceType,
        peakFactor: number('peak-factor', DEFAULT_SELF_HOSTED.peakFactor),
        redisNodeType,
      }),
      quoted === undefined ? ablyCost(workload) : ablyCost(workload, quoted, 'quoted tiers'),
      ...(quoted === undefined ? [ablyCost(workload, PRICES.ably.prepaidMessageTiers, 'prepaid-package rate')] : []),
    ];
    const records = values.records === true ? recordsCost(workload, { ...DEFAULT_RECORDS, minAcu: number('records-min-acu', DEFAULT_RECORDS.minAcu) }) : undefined;
    if (values.json === true) {
      const naiveDesign = { traffic: traffic(naive), aws: awsCost(naive, { ...DEFAULT_AWS, natGateways: number('nat-gateways', DEFAULT_AWS.natGateways), lambdaMs: number('lambda-ms', DEFAULT_AWS.lambdaMs), lambdaMemoryMb: number('lambda-memory', DEFAULT_AWS.lambdaMemoryMb), redisNodeType }) };
      out.write(`${JSON.stringify({ prices: PRICES.asOf, region: PRICES.region, design: designName, workload, traffic: traffic(workload), estimates, naiveDesign, ...(records === undefined ? {} : { records }) }, null, 2)}\n`);
    } else {
      out.write(render(workload, estimates, designName, naive));
      if (records !== undefined) out.write(renderRecords(records, estimates[0]!));
    }
    return 0;
  } catch (error) {
    if (error instanceof RangeError) {
      err.write(`classwire cost: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

function render(w: Workload, estimates: Estimate[], design: string, naive: Workload): string {
  const t = traffic(w);
  const money = (usd: number) => `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const count = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n < 100 ? 2 : 0 });
  const share = (n: number) => `${((100 * n) / t.billedUnits).toFixed(1)} %`;
  const naiveUnits = traffic(naive).billedUnits;
  const kinds = t.unitsByKind;
  const lines = [
    `Design:   ${design}: pings every ${w.pingSeconds} s, room messages per AWS delivery post ${count(w.messagesPerPost ?? 1)}, ${w.echo === false ? 'no echo to the sender' : 'echoes'}`,
    `Workload: ${w.rooms} rooms × ${w.members} members, ${w.messagesPerRoomPerMinute} messages/room/min of ${w.messageBytes} B, ${w.liveHours} live hours/month`,
    `Traffic:  ${count(t.publishes)} publishes, ${count(t.deliveries)} deliveries, ${count(t.pings)} pings, ${count(t.connects)} connects, ${count(t.connectionMinutes)} connection minutes`,
    `AWS billed messages: ${count(t.billedUnits)} = deliveries ${share(kinds.deliveries)}, publishes ${share(kinds.publishes)}, acks ${share(kinds.acks)}, pings and pongs ${share(kinds.pings)}, joins and presence ${share(kinds.joins)}; the naive design: ${count(naiveUnits)} (${(naiveUnits / t.billedUnits).toFixed(2)}× this)`,
    `Prices:   ${PRICES.region}, ${PRICES.asOf} (see docs/cost.md)`,
    '',
  ];
  for (const e of estimates) {
    lines.push(`${e.name}: ${money(e.total)} / month`);
    for (const line of e.lines) lines.push(`  ${line.item.padEnd(48)} ${count(line.quantity).padStart(16)} ${line.unit.padEnd(14)} ${money(line.usd).padStart(12)}`);
    for (const note of e.notes) lines.push(`  note: ${note}`);
    lines.push('');
  }
  const [aws, self, ably, prepaid] = estimates as [Estimate, Estimate, Estimate, Estimate | undefined];
  lines.push(`Ably / AWS: ${(ably.total / aws.total).toFixed(2)}×   Ably / self-hosted: ${(ably.total / self.total).toFixed(2)}×   AWS / self-hosted: ${(aws.total / self.total).toFixed(2)}×`);
  if (prepaid !== undefined) lines.push(`Ably at the prepaid-package rate / AWS: ${(prepaid.total / aws.total).toFixed(2)}×`);
  const perHour = (usd: number) => `$${(usd / (t.connectionMinutes / 60)).toFixed(4)}`;
  lines.push(`Per connection-hour: AWS ${perHour(aws.total)}, self-hosted ${perHour(self.total)}, Ably ${perHour(ably.total)}`);
  return `${lines.join('\n')}\n`;
}

/** The records section (`--records`): its own lines, then the AWS total with it. */
function renderRecords(records: Estimate, aws: Estimate): string {
  const money = (usd: number) => `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const count = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n < 100 ? 2 : 0 });
  const lines = ['', `${records.name}: ${money(records.total)} / month`];
  for (const line of records.lines) lines.push(`  ${line.item.padEnd(48)} ${count(line.quantity).padStart(16)} ${line.unit.padEnd(14)} ${money(line.usd).padStart(12)}`);
  for (const note of records.notes) lines.push(`  note: ${note}`);
  lines.push(`AWS with records: ${money(aws.total + records.total)} / month`);
  return `${lines.join('\n')}\n`;
}
