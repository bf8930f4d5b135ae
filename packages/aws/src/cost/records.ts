import { type CostLine, type Estimate, type Workload, traffic } from './model.js';
import { HOURS_PER_MONTH, PRICES, RECORDS_PRICES } from './prices.js';

/** The records' part of the AWS stack (`records` prop of the stack; docs/aws.md). */
export interface RecordsCostOptions {
  /** Aurora Serverless v2 minimum capacity: the cluster never bills less. */
  minAcu: number;
  /** Average billed duration of one scheduled run (recorder or dispatcher), ms. */
  runMs: number;
  runMemoryMb: number;
}

export const DEFAULT_RECORDS: RecordsCostOptions = { minAcu: 0.5, runMs: 500, runMemoryMb: 512 };

/** Stored bytes per recorded message besides its payload: the row, its author, and its index entries. */
const ROW_OVERHEAD_BYTES = 250;
/** Aurora counts write I/O in 4 KiB units; the table and its indexes are each written. */
const IO_BYTES = 4096;
const WRITES_PER_BYTE_RECORDED = 2;
/** Each of the two schedules fires once a minute, all month. */
const RUNS_PER_MONTH = 2 * 60 * HOURS_PER_MONTH;
const LOG_BYTES_PER_RUN = 700;
const MILLION = 1_000_000;
const GB = 1024 ** 3;

/**
 * What the optional records add to the AWS estimate for a month: Aurora Serverless v2 at its minimum
 * capacity (load can raise it), RDS Proxy (billed for at least 8 ACUs), the first month's storage and
 * write I/O of the recorded messages, the credentials secret, and the two scheduled functions.
 */
export function recordsCost(w: Workload, o: RecordsCostOptions = DEFAULT_RECORDS): Estimate {
  if (!(o.minAcu >= 0.5) || o.minAcu * 2 !== Math.round(o.minAcu * 2)) throw new RangeError('--records-min-acu must be 0.5 or more, in steps of 0.5');
  const t = traffic(w);
  const p = RECORDS_PRICES;
  const recordedGb = (t.publishes * (w.messageBytes + ROW_OVERHEAD_BYTES)) / GB;
  const writeIos = (recordedGb * GB * WRITES_PER_BYTE_RECORDED) / IO_BYTES;
  const gbSeconds = RUNS_PER_MONTH * (o.runMs / 1000) * (o.runMemoryMb / 1024);
  const proxyAcus = Math.max(p.proxyMinimumAcus, o.minAcu);
  const lines: CostLine[] = [
    { item: `Aurora Serverless v2 at ${o.minAcu} ACU`, quantity: o.minAcu * HOURS_PER_MONTH, unit: 'ACU-hours', usd: o.minAcu * HOURS_PER_MONTH * p.acuHour },
    { item: `RDS Proxy (billed as ${proxyAcus} ACUs)`, quantity: proxyAcus * HOURS_PER_MONTH, unit: 'ACU-hours', usd: proxyAcus * HOURS_PER_MONTH * p.proxyAcuHour },
    { item: 'Aurora storage (one month of records)', quantity: recordedGb, unit: 'GB-months', usd: recordedGb * p.storageGbMonth },
    { item: 'Aurora write I/O', quantity: writeIos, unit: 'requests', usd: (writeIos / MILLION) * p.ioRequestsPerMillion },
    { item: 'Secrets Manager (database credentials)', quantity: 1, unit: 'secrets', usd: p.secretMonth },
    { item: 'Lambda requests (recorder and dispatcher)', quantity: RUNS_PER_MONTH, unit: 'requests', usd: (RUNS_PER_MONTH / MILLION) * PRICES.lambda.requestsPerMillion },
    { item: 'Lambda duration (recorder and dispatcher)', quantity: gbSeconds, unit: 'GB-seconds', usd: gbSeconds * PRICES.lambda.gbSecond },
    { item: 'CloudWatch Logs (scheduled runs)', quantity: (RUNS_PER_MONTH * LOG_BYTES_PER_RUN) / GB, unit: 'GB', usd: ((RUNS_PER_MONTH * LOG_BYTES_PER_RUN) / GB) * PRICES.cloudWatchLogsIngestGb },
  ];
  return {
    name: 'AWS records (optional: Aurora Serverless v2, RDS Proxy, two schedules)',
    lines,
    total: lines.reduce((sum, line) => sum + line.usd, 0),
    notes: [
      'capacity at the minimum: a busy recorder raises it (each further ACU adds $87.60 a month)',
      'storage grows by the recorded volume each month until retention (CLASSWIRE_RECORDS_RETENTION_DAYS) deletes it',
      'EventBridge scheduled rules carry no charge; webhook deliveries go out through the NAT gateway already counted',
    ],
  };
}
