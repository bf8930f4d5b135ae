/**
 * The prices the cost model uses: us-east-1, on-demand, USD, as published on the date below. Prices
 * change; check them (the sources are in docs/cost.md) before relying on a figure. Free tiers are not
 * counted: they matter only for small deployments.
 */
export const PRICES = {
  asOf: '2026-11-28',
  region: 'us-east-1',
  apiGateway: {
    /** WebSocket messages, sent and received, per million, metered in 32 KB units: first billion... */
    messagesPerMillion: 1.0,
    /** ...and beyond the first billion in a month. */
    messagesPerMillionOverBillion: 0.8,
    connectionMinutesPerMillion: 0.25,
    meterBytes: 32 * 1024,
  },
  lambda: {
    requestsPerMillion: 0.2,
    /** arm64 (Graviton) duration price. */
    gbSecond: 0.0000133334,
  },
  natGateway: { hour: 0.045, gbProcessed: 0.045 },
  /** Internet egress, first 10 TB a month (API Gateway's data out is charged at this rate too). */
  dataTransferOutGb: 0.09,
  cloudWatchLogsIngestGb: 0.5,
  elastiCacheNodeHour: {
    'cache.t4g.micro': 0.016,
    'cache.t4g.small': 0.032,
    'cache.t4g.medium': 0.065,
    'cache.r7g.large': 0.219,
  } as Record<string, number>,
  ec2: {
    't4g.small': { hour: 0.0168, vcpus: 2, memoryGiB: 2 },
    'c7g.large': { hour: 0.0725, vcpus: 2, memoryGiB: 4 },
    'c7g.xlarge': { hour: 0.145, vcpus: 4, memoryGiB: 8 },
  } as Record<string, { hour: number; vcpus: number; memoryGiB: number }>,
  loadBalancer: { hour: 0.0225, lcuHour: 0.008 },
  /** Ably, per-minute pricing on the Standard package (the commercial comparison). */
  ably: {
    packagePerMonth: 29,
    /** Graduated message prices: the published list (and overage) rate; a quote's tiers go in `--ably-tiers`. */
    messageTiers: [{ upToMillions: Infinity, perMillion: 2.5 }],
    /** The effective rate of messages bought in advance in a prepaid package (Ably's pricing calculator). */
    prepaidMessageTiers: [{ upToMillions: Infinity, perMillion: 1.25 }],
    connectionMinutesPerMillion: 1.0,
    channelMinutesPerMillion: 1.0,
  },
} as const;

/**
 * What the load benchmark measured on the self-hosted gateway (bench/results/summary.md, 2026-11-28,
 * steady profile: 1,000 clients in rooms of 25 at 20 msg/s per room): server CPU per delivered frame,
 * and memory per idle connection.
 */
export const BENCHMARK = {
  measured: '2026-11-28',
  memory: { cpuMicrosPerDelivery: 16.3, kibPerConnection: 12.8 },
  redis: { cpuMicrosPerDelivery: 35.1, kibPerConnection: 20.7 },
} as const;

/** Hours in an average month: always-on resources are billed for all of them. */
export const HOURS_PER_MONTH = 730;

/**
 * The optional records database of the AWS stack (cdk/records.ts), us-east-1, on demand, Aurora
 * Standard; sources in docs/cost.md.
 */
export const RECORDS_PRICES = {
  asOf: '2026-12-05',
  /** Aurora Serverless v2 capacity (PostgreSQL-compatible, Aurora Standard). */
  acuHour: 0.12,
  storageGbMonth: 0.1,
  ioRequestsPerMillion: 0.2,
  /** RDS Proxy in front of Aurora Serverless v2: per ACU-hour, billed for at least 8 ACUs. */
  proxyAcuHour: 0.015,
  proxyMinimumAcus: 8,
  secretMonth: 0.4,
} as const;
