import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { EngineObserver } from '@classwire/core';
import { CLIENT_ACTIONS, type ErrorCode } from '@classwire/protocol';
import type { RecordingStats, WebhookDeliveryCounts, WebhookDue } from '@classwire/records';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway package's version, read from src/ and dist/ alike. */
const GATEWAY_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The memory this process may use: the cgroup limit when one is set (a container), else the machine's
 * memory. Node reports an unconstrained process as a huge number, hence the minimum.
 */
function memoryLimitBytes(): number {
  const constrained = process.constrainedMemory();
  return constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
}

export interface GatewayGauges {
  connections: () => number;
  /** Distinct users connected to this node; absent where the process holds no sockets (the emulator). */
  users?: (() => number) | undefined;
  rooms: () => number;
  /** Whether this node's Redis connections are ready; absent in memory mode (no Redis gauge then). */
  redisReady?: (() => boolean) | undefined;
}

/** What a node's class records tell its metrics (`RecordsService`), read at scrape time. */
export interface RecordsMetricsSource {
  recordingStats(): RecordingStats;
  webhookDeliveries(): readonly WebhookDeliveryCounts[];
  webhooksDue(): Promise<readonly WebhookDue[]>;
}

/** Prometheus metrics of one gateway node. Labels never carry room or user values (cardinality). */
export class GatewayMetrics implements EngineObserver {
  readonly registry = new Registry();
  readonly framesIn: Counter;
  readonly framesOut: Counter;
  readonly deliveries: Counter;
  readonly errors: Counter<'code'>;
  readonly closes: Counter<'code'>;
  readonly authRejects: Counter<'reason'>;
  readonly slowConsumers: Counter;
  readonly inboundThrottles: Counter;
  readonly publishes: Counter<'outcome'>;
  readonly publishAck: Histogram;
  readonly managementRequests: Counter<'operation' | 'status'>;
  readonly redisReconnects: Counter<'connection'>;
  readonly backfilled: Counter;
  readonly historyLost: Counter;
  readonly nodesReaped: Counter;
  readonly resumes: Counter<'recovered'>;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly pingRoundTrip: Histogram;
  readonly actionDuration: Histogram<'action'>;
  readonly nodesSeen: Gauge;
  readonly pubsubLag: Histogram;

  constructor(gauges: GatewayGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    new Gauge({
      name: 'classwire_connections',
      help: 'Open WebSocket connections on this node.',
      registers,
      collect() {
        this.set(gauges.connections());
      },
    });
    const users = gauges.users;
    if (users !== undefined) {
      new Gauge({
        name: 'classwire_users',
        help: 'Distinct users with a connection on this node (a user on two nodes counts on both).',
        registers,
        collect() {
          this.set(users());
        },
      });
    }
    new Gauge({
      name: 'classwire_rooms',
      help: 'Rooms with at least one member on this node.',
      registers,
      collect() {
        this.set(gauges.rooms());
      },
    });
    this.framesIn = new Counter({ name: 'classwire_frames_in_total', help: 'Text frames received from clients.', registers });
    this.framesOut = new Counter({ name: 'classwire_frames_out_total', help: 'Frames written to clients.', registers });
    this.bytesIn = new Counter({ name: 'classwire_bytes_in_total', help: 'Payload bytes of the frames received from clients.', registers });
    this.bytesOut = new Counter({ name: 'classwire_bytes_out_total', help: 'Payload bytes of the frames written to clients.', registers });
    this.pingRoundTrip = new Histogram({
      name: 'classwire_ping_rtt_seconds',
      help: 'Time from a heartbeat ping to its pong: network round trip plus the client\'s busy time.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.actionDuration = new Histogram({
      name: 'classwire_action_duration_seconds',
      help: 'Time to handle one inbound frame, by action (invalid: it did not parse).',
      labelNames: ['action'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    // Every action's series exists from the start, so a rate over the first handlings is not lost.
    for (const action of ['connect', ...CLIENT_ACTIONS, 'invalid']) this.actionDuration.zero({ action });
    this.nodesSeen = new Gauge({
      name: 'classwire_nodes_seen',
      help: 'Live gateway nodes this node sees in Redis, itself included (1 in memory mode).',
      registers,
    });
    this.pubsubLag = new Histogram({
      name: 'classwire_pubsub_lag_seconds',
      help: 'Time from a room message\'s append (by the appending node\'s clock) to its arrival here over Redis pub/sub.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    // Until the first liveness scan this node knows only itself.
    this.nodesSeen.set(1);
    this.deliveries = new Counter({
      name: 'classwire_deliveries_total',
      help: 'Room broadcast frames written to members.',
      registers,
    });
    this.errors = new Counter({
      name: 'classwire_errors_total',
      help: 'Error frames sent, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.closes = new Counter({
      name: 'classwire_closes_total',
      help: 'Closed connections, by close code.',
      labelNames: ['code'],
      registers,
    });
    this.authRejects = new Counter({
      name: 'classwire_auth_rejects_total',
      help: 'Upgrade requests refused before a socket was created, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.inboundThrottles = new Counter({
      name: 'classwire_inbound_throttles_total',
      help: 'Times the gateway stopped reading a connection until its sender was back within its frame or byte rate.',
      registers,
    });
    this.slowConsumers = new Counter({
      name: 'classwire_slow_consumer_closes_total',
      help: 'Connections closed because their send buffer overflowed.',
      registers,
    });
    this.publishes = new Counter({
      name: 'classwire_publishes_total',
      help: 'Durable publishes answered with an ack, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    // Both outcomes exist from the start: a ratio of failures to publishes then has a denominator
    // even on a node that never acked anything.
    for (const outcome of ['acked', 'duplicate']) this.publishes.inc({ outcome }, 0);
    this.publishAck = new Histogram({
      name: 'classwire_publish_ack_seconds',
      help: 'Time from receiving a durable publish to sending its ack.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.managementRequests = new Counter({
      name: 'classwire_management_requests_total',
      help: 'HTTP management and publish API requests, by operation and status.',
      labelNames: ['operation', 'status'],
      registers,
    });
    this.redisReconnects = new Counter({
      name: 'classwire_redis_reconnects_total',
      help: 'Reconnections to Redis, by connection (commands, subscriber).',
      labelNames: ['connection'],
      registers,
    });
    this.backfilled = new Counter({
      name: 'classwire_backfilled_messages_total',
      help: 'Messages this node read from the room log because pub/sub lost them.',
      registers,
    });
    this.historyLost = new Counter({
      name: 'classwire_history_lost_total',
      help: 'Times a room history was found lost (Redis data loss); its local members were asked to resume.',
      registers,
    });
    this.nodesReaped = new Counter({
      name: 'classwire_nodes_reaped_total',
      help: 'Dead gateway nodes whose connections this node removed.',
      registers,
    });
    this.resumes = new Counter({
      name: 'classwire_resumes_total',
      help: 'Joins that resumed from a seq (`since`), by whether every missed message was replayed.',
      labelNames: ['recovered'],
      registers,
    });
    // Likewise for resumes: rates and ratios have a series before the first one.
    for (const recovered of ['true', 'false']) this.resumes.inc({ recovered }, 0);
    new Gauge({
      name: 'classwire_build_info',
      help: 'Always 1; the labels say which build and Node.js version this node runs.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: GATEWAY_VERSION, node_version: process.version }, 1);
    new Gauge({
      name: 'classwire_memory_limit_bytes',
      help: 'Memory this process may use: the container (cgroup) limit, else the machine memory.',
      registers,
      collect() {
        this.set(memoryLimitBytes());
      },
    });
    new Gauge({
      name: 'classwire_heap_limit_bytes',
      help: 'Largest V8 heap this process may grow to (--max-old-space-size or its default).',
      registers,
    }).set(getHeapStatistics().heap_size_limit);
    const redisReady = gauges.redisReady;
    if (redisReady !== undefined) {
      new Gauge({
        name: 'classwire_redis_up',
        help: '1 while this node\'s Redis connections (commands and subscriber) are ready, else 0.',
        registers,
        collect() {
          this.set(redisReady() ? 1 : 0);
        },
      });
      // Each connection's reconnect series exists before its first reconnect, as the dashboard expects.
      for (const connection of ['commands', 'subscriber']) this.redisReconnects.inc({ connection }, 0);
    }
  }

  /**
   * The class records' metrics (docs/operations.md), on a node with records on only. Read from the
   * records at scrape time: the recorder and the dispatcher keep plain totals, nothing is counted here
   * on the live path. Labels: `outcome`, and a webhook endpoint's number in the configuration (1–4).
   */
  watchRecords(records: RecordsMetricsSource): void {
    const registers = [this.registry];
    new Counter({
      name: 'classwire_records_rooms_total',
      help: 'Room recordings by outcome: recorded (committed), failed (the write failed; the room is retried a second later).',
      labelNames: ['outcome'],
      registers,
      collect() {
        const stats = records.recordingStats();
        this.reset();
        this.inc({ outcome: 'recorded' }, stats.roomsRecorded);
        this.inc({ outcome: 'failed' }, stats.roomsFailed);
      },
    });
    new Counter({
      name: 'classwire_records_events_written_total',
      help: 'Room log messages written to the class records.',
      registers,
      collect() {
        this.reset();
        this.inc(records.recordingStats().eventsWritten);
      },
    });
    new Counter({
      name: 'classwire_records_gaps_total',
      help: 'Gaps written to the class records: parts of a room log that were gone before they could be recorded.',
      registers,
      collect() {
        this.reset();
        this.inc(records.recordingStats().gapsRecorded);
      },
    });
    new Gauge({
      name: 'classwire_records_backlog_rooms',
      help: 'Rooms with messages noted and not recorded yet (waiting for a drain, in one, or failed and waiting for a retry).',
      registers,
      collect() {
        this.set(records.recordingStats().rooms);
      },
    });
    new Gauge({
      name: 'classwire_records_backlog_age_seconds',
      help: 'Age of the oldest note not recorded yet (0 when the recorder is caught up): how far behind the records are.',
      registers,
      collect() {
        const oldest = records.recordingStats().oldestNotedAt;
        this.set(oldest === undefined ? 0 : Math.max(0, Date.now() - oldest) / 1000);
      },
    });
    new Counter({
      name: 'classwire_webhook_deliveries_total',
      help: 'Webhook delivery attempts by endpoint number and outcome: delivered (2xx), failed (retried later), dead_lettered (failed after the retry window).',
      labelNames: ['endpoint', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const { endpoint, delivered, failed, deadLettered } of records.webhookDeliveries()) {
          this.inc({ endpoint, outcome: 'delivered' }, delivered);
          this.inc({ endpoint, outcome: 'failed' }, failed);
          this.inc({ endpoint, outcome: 'dead_lettered' }, deadLettered);
        }
      },
    });
    new Gauge({
      name: 'classwire_webhook_outbox_due',
      help: 'Webhooks waiting in the outbox for an attempt now, by endpoint number (counted up to 10000).',
      labelNames: ['endpoint'],
      registers,
      async collect() {
        for (const { endpoint, due } of await records.webhooksDue()) this.set({ endpoint }, due);
      },
    });
  }

  errorSent(code: ErrorCode): void {
    this.errors.inc({ code });
  }

  published(ackLatencySeconds: number, outcome: 'acked' | 'duplicate'): void {
    this.publishes.inc({ outcome });
    this.publishAck.observe(ackLatencySeconds);
  }

  handled(action: string, seconds: number): void {
    this.actionDuration.observe({ action }, seconds);
  }

  /** A join with `since` answered; `recovered` as in its `joined` frame. */
  resumed(recovered: boolean): void {
    this.resumes.inc({ recovered: String(recovered) });
  }
}
