import { BENCHMARK, HOURS_PER_MONTH, PRICES } from './prices.js';

/** A month of classroom traffic. */
export interface Workload {
  /** Classrooms live at the same time. */
  rooms: number;
  /** Connections per room (students and teacher). */
  members: number;
  /** Messages published per room per minute (all members together). */
  messagesPerRoomPerMinute: number;
  /** Payload of one message (event and data), bytes. */
  messageBytes: number;
  /** Hours a month the rooms are live. */
  liveHours: number;
  /** Client ping interval, seconds (the SDK's default is 25). */
  pingSeconds: number;
  /** Length of one class, minutes: each member connects once per class (and again every 2 hours on AWS). */
  sessionMinutes: number;
  /**
   * AWS: room messages per delivery post, averaged (1: one post per member per message; more with the
   * runtime's coalescing, measured by the emulator's classroom workload, docs/cost.md). Optional: 1.
   */
  messagesPerPost?: number;
  /**
   * False: publishers ask for no echo (the SDK's `echo: false`), so a message reaches the other members
   * only and the sender learns it from its ack. Optional: true (every member, the sender included).
   */
  echo?: boolean;
}

export interface AwsOptions {
  natGateways: number;
  /** The stage's throttle (the CDK stack's): inbound messages per second, and the burst. */
  stageRateLimit: number;
  stageBurstLimit: number;
  redisNodeType: string;
  redisNodes: number;
  lambdaMemoryMb: number;
  /** Average billed duration of one handler invocation, ms. */
  lambdaMs: number;
  /** The runtime's coalescing window (CLASSWIRE_COALESCE_MS): each batch's leader invocation runs this much longer. */
  coalesceMs?: number;
}

export interface SelfHostedOptions {
  engine: 'memory' | 'redis';
  instanceType: string;
  /** At least this many instances (two zones). */
  minInstances: number;
  /** CPU share a node is planned to use at peak. */
  targetUtilization: number;
  /** Peak traffic over the live-hours average. */
  peakFactor: number;
  redisNodeType: string;
  redisNodes: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  rooms: 500,
  members: 26,
  messagesPerRoomPerMinute: 20,
  messageBytes: 300,
  liveHours: 132,
  pingSeconds: 25,
  sessionMinutes: 60,
};

/**
 * The AWS design (`classwire cost`'s default): the runtime's keep-alive (540 s, advertised to the SDK in
 * `joined`) and coalescing window (50 ms), and publishers without echoes (`echo: false`, docs/aws.md).
 */
export const AWS_DESIGN = { pingSeconds: 540, coalesceMs: 50, echo: false } as const;
/** The seed design it is compared with: a ping every 25 s, a post per member per message, echoes. */
export const NAIVE_DESIGN = { pingSeconds: 25, coalesceMs: 0, echo: true } as const;

/**
 * Room messages per delivery post a coalescing window of `coalesceMs` gives at `messagesPerRoomPerMinute`,
 * as a model: a window opens at a message and holds it and those of the next `coalesceMs` (1 + λW). The
 * emulator's measurement of a workload (`--batch`) replaces it.
 */
export function modeledMessagesPerPost(messagesPerRoomPerMinute: number, coalesceMs: number): number {
  return 1 + (messagesPerRoomPerMinute / 60) * (coalesceMs / 1000);
}

export const DEFAULT_AWS: AwsOptions = { natGateways: 1, stageRateLimit: 1000, stageBurstLimit: 500, redisNodeType: 'cache.t4g.small', redisNodes: 2, lambdaMemoryMb: 512, lambdaMs: 40 };

export const DEFAULT_SELF_HOSTED: SelfHostedOptions = {
  engine: 'redis',
  instanceType: 'c7g.large',
  minInstances: 2,
  targetUtilization: 0.5,
  peakFactor: 2,
  redisNodeType: 'cache.t4g.small',
  redisNodes: 2,
};

/** Bytes a message frame adds to its payload: type, room, seq, ts, from, id. */
export const MESSAGE_ENVELOPE_BYTES = 170;
/** Bytes a batch frame adds around its frames. */
const BATCH_ENVELOPE_BYTES = 28;
/** Bytes a publish frame adds to its payload: action, room, id. */
const PUBLISH_ENVELOPE_BYTES = 80;
/** Small frames: ack, pong, presence, and a `joined` reply without its presence list. */
const ACK_BYTES = 60;
/** What an ack adds for a publish without echo: the message's ts, epoch and sender. */
const ACK_MESSAGE_BYTES = 110;
const PONG_BYTES = 40;
const PRESENCE_BYTES = 120;
const JOINED_BYTES = 200;
const JOINED_BYTES_PER_MEMBER = 60;
/** HTTPS and SigV4 overhead of one PostToConnection through the NAT gateway (request and response). */
const POST_OVERHEAD_BYTES = 1500;
/** CloudWatch log bytes per invocation (START, END, REPORT lines and the fan-out metrics line). */
const LOG_BYTES_PER_INVOCATION = 700;
/** API Gateway ends every connection after 2 hours. */
const MAX_CONNECTION_MINUTES = 120;
/** An ALB capacity unit covers 3,000 active connections, or 1 GB processed per hour. */
const LCU_CONNECTIONS = 3000;
const LCU_GB_PER_HOUR = 1;
const GB = 1e9;
const MILLION = 1e6;
const BILLION = 1e9;

/** Messages, connections and bytes of a month. */
export interface Traffic {
  connections: number;
  publishes: number;
  pings: number;
  /** Connections opened (one per class, more when a class outlasts API Gateway's 2 hours). */
  connects: number;
  inboundMessages: number;
  /** Every frame sent to a client: deliveries, acks, pongs, joined replies, presence. */
  outboundMessages: number;
  /** Messages sent to members: every member, or every member but the sender without echoes. */
  deliveries: number;
  /** AWS: PostToConnection calls carrying the deliveries (fewer than deliveries when messages are coalesced). */
  deliveryPosts: number;
  /** AWS: every PostToConnection (delivery posts, acks, pongs, joined replies, presence). */
  outboundPosts: number;
  /** Frames per second from clients, averaged over the live hours (what the stage throttle counts). */
  inboundPerSecond: number;
  /** 32 KB units API Gateway bills, both directions. */
  billedUnits: number;
  /** The billed units by what they carry (they add up to `billedUnits`). */
  unitsByKind: { deliveries: number; publishes: number; acks: number; pings: number; joins: number };
  connectionMinutes: number;
  outboundBytes: number;
  /** Frames per second sent to clients, averaged over the live hours. */
  outboundPerSecond: number;
}

export function traffic(w: Workload): Traffic {
  validate(w);
  const connections = w.rooms * w.members;
  const liveSeconds = w.liveHours * 3600;
  const publishes = w.rooms * w.messagesPerRoomPerMinute * 60 * w.liveHours;
  const pings = (connections * liveSeconds) / w.pingSeconds;
  const classes = (w.liveHours * 60) / w.sessionMinutes;
  const connects = connections * classes * Math.ceil(w.sessionMinutes / MAX_CONNECTION_MINUTES);
  // Classwire delivers a message to every member, the sender included (one order for all), and acks it;
  // without echoes the sender learns its message from the ack instead.
  const echo = w.echo ?? true;
  const deliveries = publishes * (echo ? w.members : w.members - 1);
  const acks = publishes;
  const presence = connects * 2 * (w.members - 1);
  const inboundMessages = publishes + pings + connects;
  const outboundMessages = deliveries + acks + pings + connects + presence;
  const units = (bytes: number) => Math.ceil(bytes / PRICES.apiGateway.meterBytes);
  const messageFrameBytes = w.messageBytes + MESSAGE_ENVELOPE_BYTES;
  const perPost = w.messagesPerPost ?? 1;
  const deliveryPosts = deliveries / perPost;
  // A batch post carries `perPost` frames and the batch envelope.
  const deliveryPostBytes = perPost === 1 ? messageFrameBytes : perPost * (messageFrameBytes + 1) + BATCH_ENVELOPE_BYTES;
  const unitsByKind = {
    deliveries: deliveryPosts * units(deliveryPostBytes),
    publishes: publishes * units(w.messageBytes + PUBLISH_ENVELOPE_BYTES),
    acks,
    // A ping in, a pong out.
    pings: 2 * pings,
    // A join in; a joined reply and the presence frames out.
    joins: 2 * connects + presence,
  };
  const billedUnits = unitsByKind.deliveries + unitsByKind.publishes + unitsByKind.acks + unitsByKind.pings + unitsByKind.joins;
  const outboundBytes =
    deliveries * messageFrameBytes + acks * (echo ? ACK_BYTES : ACK_BYTES + ACK_MESSAGE_BYTES) + pings * PONG_BYTES + connects * (JOINED_BYTES + JOINED_BYTES_PER_MEMBER * w.members) + presence * PRESENCE_BYTES;
  return {
    connections,
    publishes,
    pings,
    connects,
    inboundMessages,
    outboundMessages,
    deliveries,
    deliveryPosts,
    outboundPosts: outboundMessages - deliveries + deliveryPosts,
    inboundPerSecond: inboundMessages / liveSeconds,
    billedUnits,
    unitsByKind,
    connectionMinutes: connections * w.liveHours * 60,
    outboundBytes,
    outboundPerSecond: outboundMessages / liveSeconds,
  };
}

export interface CostLine {
  item: string;
  quantity: number;
  unit: string;
  usd: number;
}

export interface Estimate {
  name: string;
  lines: CostLine[];
  total: number;
  notes: string[];
}

function estimate(name: string, lines: CostLine[], notes: string[] = []): Estimate {
  return { name, lines, total: lines.reduce((sum, line) => sum + line.usd, 0), notes };
}

/** Classwire on API Gateway, Lambda, NAT and ElastiCache (the CDK stack). */
export function awsCost(w: Workload, o: AwsOptions = DEFAULT_AWS): Estimate {
  const t = traffic(w);
  const p = PRICES;
  const nodePrice = p.elastiCacheNodeHour[o.redisNodeType];
  if (nodePrice === undefined) throw new RangeError(`unknown ElastiCache node type ${o.redisNodeType}`);
  const firstBillion = Math.min(t.billedUnits, BILLION);
  const messagesUsd =
    (firstBillion / MILLION) * p.apiGateway.messagesPerMillion + (Math.max(0, t.billedUnits - BILLION) / MILLION) * p.apiGateway.messagesPerMillionOverBillion;
  // Every inbound frame runs $default; every connection runs the authorizer, $connect and $disconnect.
  const invocations = t.inboundMessages + 3 * t.connects;
  // One invocation per batch (the leader) waits out the coalescing window before it posts.
  const leaders = (o.coalesceMs ?? 0) > 0 ? t.publishes / (w.messagesPerPost ?? 1) : 0;
  const gbSeconds = (invocations * (o.lambdaMs / 1000) + leaders * ((o.coalesceMs ?? 0) / 1000)) * (o.lambdaMemoryMb / 1024);
  // Every frame to a client is a PostToConnection leaving the VPC through NAT.
  const natGb = (t.outboundBytes + t.outboundPosts * POST_OVERHEAD_BYTES) / GB;
  const logGb = (invocations * LOG_BYTES_PER_INVOCATION) / GB;
  const notes: string[] = [];
  const postsPerSecond = t.outboundPosts / (w.liveHours * 3600);
  if (postsPerSecond > 10_000) notes.push(`~${Math.round(postsPerSecond)} posts/s on average exceeds the account's 10,000 requests/s API Gateway throttle: ask AWS for more`);
  const connectsAtStart = t.connections / 60;
  if (connectsAtStart > 500) notes.push(`all classes starting within one minute means ~${Math.round(connectsAtStart)} new connections/s, over the 500/s quota`);
  notes.push(...throttleWarnings(t, o));
  return estimate(
    'AWS (API Gateway + Lambda + ElastiCache)',
    [
      { item: 'API Gateway messages (32 KB units)', quantity: t.billedUnits, unit: 'messages', usd: messagesUsd },
      { item: 'API Gateway connection minutes', quantity: t.connectionMinutes, unit: 'minutes', usd: (t.connectionMinutes / MILLION) * p.apiGateway.connectionMinutesPerMillion },
      { item: 'Lambda requests', quantity: invocations, unit: 'requests', usd: (invocations / MILLION) * p.lambda.requestsPerMillion },
      { item: `Lambda duration (arm64, ${o.lambdaMemoryMb} MB, ${o.lambdaMs} ms${leaders > 0 ? ` + ${o.coalesceMs} ms a batch` : ''})`, quantity: gbSeconds, unit: 'GB-s', usd: gbSeconds * p.lambda.gbSecond },
      { item: `NAT gateway hours (${o.natGateways})`, quantity: o.natGateways * HOURS_PER_MONTH, unit: 'hours', usd: o.natGateways * HOURS_PER_MONTH * p.natGateway.hour },
      { item: 'NAT data processed', quantity: natGb, unit: 'GB', usd: natGb * p.natGateway.gbProcessed },
      { item: `ElastiCache ${o.redisNodes} × ${o.redisNodeType}`, quantity: o.redisNodes * HOURS_PER_MONTH, unit: 'node-hours', usd: o.redisNodes * HOURS_PER_MONTH * nodePrice },
      { item: 'Data transfer out', quantity: t.outboundBytes / GB, unit: 'GB', usd: (t.outboundBytes / GB) * p.dataTransferOutGb },
      { item: 'CloudWatch Logs ingestion', quantity: logGb, unit: 'GB', usd: logGb * p.cloudWatchLogsIngestGb },
    ],
    notes,
  );
}

/**
 * Warnings when the workload exceeds the stage's throttle (API Gateway answers 429 beyond it, and the
 * SDK retries): the average inbound rate against the rate limit, and a class start (a connect and a join
 * per member within a minute) against rate and burst.
 */
export function throttleWarnings(t: Traffic, o: Pick<AwsOptions, 'stageRateLimit' | 'stageBurstLimit'>): string[] {
  const limits = `the stage throttle (${o.stageRateLimit.toLocaleString('en-US')}/s, burst ${o.stageBurstLimit.toLocaleString('en-US')})`;
  const warnings: string[] = [];
  if (t.inboundPerSecond > o.stageRateLimit) {
    warnings.push(`~${Math.round(t.inboundPerSecond).toLocaleString('en-US')} inbound messages/s on average exceeds ${limits}: raise it in the stack (throttle) and the account quota`);
  }
  const startPerSecond = (2 * t.connections) / 60;
  if (startPerSecond > o.stageRateLimit) {
    warnings.push(`every class starting within one minute sends ~${Math.round(startPerSecond).toLocaleString('en-US')} connects and joins/s, over ${limits}`);
  }
  return warnings;
}

/** Classwire's own gateway on EC2 behind a load balancer, sized from the benchmark's CPU per delivery. */
export function selfHostedCost(w: Workload, o: SelfHostedOptions = DEFAULT_SELF_HOSTED): Estimate {
  const t = traffic(w);
  const p = PRICES;
  const instance = p.ec2[o.instanceType];
  if (instance === undefined) throw new RangeError(`unknown instance type ${o.instanceType}`);
  const measured = BENCHMARK[o.engine];
  const cores = (t.outboundPerSecond * o.peakFactor * measured.cpuMicrosPerDelivery) / 1e6 / o.targetUtilization;
  // Twice the measured memory per connection: buffers and headroom.
  const memoryGiB = (2 * t.connections * measured.kibPerConnection) / (1024 * 1024);
  const instances = Math.max(o.minInstances, Math.ceil(cores / instance.vcpus), Math.ceil(memoryGiB / instance.memoryGiB));
  const lcus = Math.max(t.connections / LCU_CONNECTIONS, t.outboundBytes / GB / w.liveHours / LCU_GB_PER_HOUR);
  const lines: CostLine[] = [
    { item: `EC2 ${instances} × ${o.instanceType}`, quantity: instances * HOURS_PER_MONTH, unit: 'instance-hours', usd: instances * HOURS_PER_MONTH * instance.hour },
    { item: 'Load balancer hours', quantity: HOURS_PER_MONTH, unit: 'hours', usd: HOURS_PER_MONTH * p.loadBalancer.hour },
    { item: 'Load balancer capacity units (live hours)', quantity: lcus * w.liveHours, unit: 'LCU-hours', usd: lcus * w.liveHours * p.loadBalancer.lcuHour },
    { item: 'Data transfer out', quantity: t.outboundBytes / GB, unit: 'GB', usd: (t.outboundBytes / GB) * p.dataTransferOutGb },
  ];
  if (o.engine === 'redis') {
    const nodePrice = p.elastiCacheNodeHour[o.redisNodeType];
    if (nodePrice === undefined) throw new RangeError(`unknown ElastiCache node type ${o.redisNodeType}`);
    lines.push({ item: `ElastiCache ${o.redisNodes} × ${o.redisNodeType}`, quantity: o.redisNodes * HOURS_PER_MONTH, unit: 'node-hours', usd: o.redisNodes * HOURS_PER_MONTH * nodePrice });
  }
  const notes = [
    `${Math.round(t.outboundPerSecond * o.peakFactor)} frames/s at peak × ${measured.cpuMicrosPerDelivery} µs (${o.engine} engine, measured ${BENCHMARK.measured}) = ${cores.toFixed(2)} cores at ${Math.round(o.targetUtilization * 100)} % utilisation`,
  ];
  if (o.engine === 'memory') notes.push('memory engine: one node holds every room; a second instance is a cold standby, not a second active node');
  return estimate(`Self-hosted Classwire (${o.engine} engine)`, lines, notes);
}

/** A graduated price: each tier's rate applies to the messages between the previous bound and its own. */
export interface PriceTier {
  /** Upper bound of the tier, millions of messages a month (Infinity for the last). */
  upToMillions: number;
  perMillion: number;
}

/** The price of `messages` under graduated `tiers` (each rate applies only within its tier). */
export function tieredPrice(messages: number, tiers: readonly PriceTier[]): number {
  let usd = 0;
  let from = 0;
  for (const tier of tiers) {
    const upTo = tier.upToMillions * MILLION;
    if (messages <= from) break;
    usd += ((Math.min(messages, upTo) - from) / MILLION) * tier.perMillion;
    from = upTo;
  }
  if (messages > from) throw new RangeError('the last price tier must be unbounded (Infinity)');
  return usd;
}

/**
 * Ably's per-minute pricing (Standard package): the commercial service the case study moved away from.
 * Messages are priced by `tiers` (graduated, docs/cost.md): by default the published list rate alone.
 */
export function ablyCost(w: Workload, tiers: readonly PriceTier[] = PRICES.ably.messageTiers, label = 'list price'): Estimate {
  const t = traffic(w);
  const a = PRICES.ably;
  // Ably counts each publish once and each delivery once; presence enters and leaves are messages too.
  const messages = t.publishes + t.deliveries + t.connects * 2 * (1 + w.members);
  const channelMinutes = w.rooms * w.liveHours * 60;
  return estimate(`Ably (per-minute pricing, Standard, ${label})`, [
    { item: 'Package', quantity: 1, unit: 'month', usd: a.packagePerMonth },
    { item: 'Messages', quantity: messages, unit: 'messages', usd: tieredPrice(messages, tiers) },
    { item: 'Connection minutes', quantity: t.connectionMinutes, unit: 'minutes', usd: (t.connectionMinutes / MILLION) * a.connectionMinutesPerMillion },
    { item: 'Channel minutes', quantity: channelMinutes, unit: 'minutes', usd: (channelMinutes / MILLION) * a.channelMinutesPerMillion },
  ]);
}

function validate(w: Workload): void {
  for (const [name, value] of Object.entries(w)) {
    if (name !== 'echo' && (!Number.isFinite(value) || value <= 0)) throw new RangeError(`${name} must be a positive number`);
  }
  if (w.members < 1 || !Number.isInteger(w.members)) throw new RangeError('members must be a whole number');
  if (w.messagesPerPost !== undefined && w.messagesPerPost < 1) throw new RangeError('messagesPerPost must be at least 1');
}
