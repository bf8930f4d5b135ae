import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { connect, type ClasswireClient, type Room } from '@classwire/client/node';
import { FaultProxy } from '../fault-proxy.js';
import { waitFor } from '../redis-server.js';
import { tally, type AckedPublish, type MemberLog, type Tally } from './analysis.js';
import { ChaosCluster } from './cluster.js';
import { bag, pick, randomBetween, seededRandom } from './random.js';

export const FAULT_KINDS = ['node-kill', 'node-restart', 'redis-failover', 'network-cut', 'client-pause'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosOptions {
  durationMs: number;
  seed: number;
  clients?: number;
  rooms?: number;
  nodes?: number;
  /** `CLASSWIRE_REDIS_WAIT_REPLICAS`: 1 makes an ack wait for a replica. */
  waitReplicas?: number;
  log?: (line: string) => void;
}

export interface ChaosReport extends Tally {
  seed: number;
  durationMs: number;
  waitReplicas: number;
  /** Faults injected and recovered from, by kind. */
  faults: Record<FaultKind, number>;
  /** Faults that could not be injected or recovered from (a node that did not come back, a failover that did not finish). */
  faultErrors: string[];
  /** Publishes the SDK rejected (a final error), by code. */
  refusedPublishes: Record<string, number>;
  /** Publishes still pending when the quiesce deadline passed. */
  unsettledPublishes: number;
  /** Members that had not caught up with the final fence message when the quiesce deadline passed. */
  notQuiesced: number;
  reconnects: number;
  /** Median and worst time from a publish call to its ack, ms. */
  ackLatencyMs: { p50: number; p99: number; max: number };
  nodeLogs: string;
}

const EVENT = 'lesson.note' as const;
const QUIESCE_MS = 60_000;

interface NoteData {
  p: number;
  n: number;
}

/** The one event the chaos clients exchange (generic rooms: the classroom's events are not involved). */
interface ChaosEvents {
  'lesson.note': NoteData;
}

/** One SDK client behind its own fault proxy (so its network can be cut or paused alone). */
interface ChaosClient {
  index: number;
  proxy: FaultProxy;
  client: ClasswireClient<ChaosEvents>;
  rooms: Room<ChaosEvents>[];
  logs: MemberLog[];
  /** Publishes awaiting their ack. */
  pending: number;
  nextN: number;
  reconnects: number;
}

async function signToken(secret: string, userId: string): Promise<string> {
  return new SignJWT({ role: 'student', rooms: ['*'], name: userId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs gateway nodes on Redis with Sentinel, SDK clients publishing acknowledged messages into a few
 * rooms, and a seeded schedule of faults; then quiesces and counts what every member received against
 * what was acknowledged. Every process and socket it opened is closed before it returns or throws.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const clientCount = options.clients ?? 6;
  const roomIds = Array.from({ length: options.rooms ?? 3 }, (_, i) => `chaos-room-${i}`);
  const waitReplicas = options.waitReplicas ?? 1;
  const secret = randomBytes(32).toString('hex');
  const nodeLogs = mkdtempSync(join(tmpdir(), 'cw-chaos-'));
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
  const note = (line: string) => log(`[${elapsed()}] ${line}`);

  const clients: ChaosClient[] = [];
  const acked: AckedPublish[] = [];
  const ackLatencies: number[] = [];
  const refusedPublishes: Record<string, number> = {};
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  let cluster: ChaosCluster | undefined;
  const faultErrors: string[] = [];
  let stopping = false;
  let tornDown: Promise<void> | undefined;
  const teardown = () =>
    (tornDown ??= (async () => {
      stopping = true;
      for (const c of clients) {
        c.client.close();
        await c.proxy.stop();
      }
      await cluster?.stop();
    })());
  // Interrupted (Ctrl-C, a test runner's timeout): the Redis and node processes must not outlive the run.
  const interrupted = (signal: NodeJS.Signals) => {
    note(`${signal}: stopping every process of the run`);
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);

  try {
    note(`seed ${options.seed}; ${options.nodes ?? 3} nodes, ${clientCount} clients, ${roomIds.length} rooms, WAIT replicas ${waitReplicas}; node logs in ${nodeLogs}`);
    // Free ports are picked, released and bound again by each server: on a busy machine another process
    // can take one in between. A start that failed has stopped what it started; try again on new ports.
    for (let attempt = 1; cluster === undefined; attempt++) {
      try {
        cluster = await ChaosCluster.start({ secret, nodeCount: options.nodes ?? 3, waitReplicas, logDir: nodeLogs, log: note });
      } catch (error) {
        if (attempt === 3) throw error;
        note(`start failed (${(error as Error).message}); starting again`);
      }
    }
    const nodes = cluster;
    for (let index = 0; index < clientCount; index++) {
      const proxy = new FaultProxy(nodes.nodePorts);
      await proxy.start();
      const client = connect<ChaosEvents>({
        url: proxy.wsUrl,
        token: await signToken(secret, `student-${index}`),
        reconnect: { baseDelayMs: 100, maxDelayMs: 1000 },
        ackTimeoutMs: 2000,
        gapTimeoutMs: 300,
        pingIntervalMs: 1000,
        pongTimeoutMs: 2000,
        random: seededRandom(options.seed + index + 1),
      });
      const chaosClient: ChaosClient = { index, proxy, client, rooms: [], logs: [], pending: 0, nextN: 0, reconnects: 0 };
      client.on('state', ({ state, previous }) => {
        if (state === 'open' && previous === 'reconnecting') chaosClient.reconnects += 1;
        if (state === 'closed' && !stopping) note(`client ${index} closed for good`);
      });
      client.on('error', (error) => note(`client ${index} error: ${String(error)}`));
      for (const roomId of roomIds) {
        const room = client.join(roomId);
        const memberLog: MemberLog = { member: index, room: roomId, stayedJoined: true, timeline: [] };
        let epochBefore: string | undefined;
        room.onJoined((info) => {
          epochBefore = info.epoch;
        });
        room.on(EVENT, (message) => {
          memberLog.timeline.push({
            kind: 'message',
            id: `${message.data.p}:${message.data.n}`,
            publisher: message.data.p,
            n: message.data.n,
            seq: message.seq!,
            epoch: room.epoch!,
            at: Date.now(),
          });
        });
        // The reset is emitted before `joined`, so `epochBefore` still holds the previous join's epoch.
        room.onReset((reset) => memberLog.timeline.push({ kind: 'reset', seq: reset.seq, epoch: reset.epoch, previousEpoch: epochBefore, at: Date.now() }));
        chaosClient.rooms.push(room);
        chaosClient.logs.push(memberLog);
      }
      clients.push(chaosClient);
    }
    await Promise.all(clients.flatMap((c) => c.rooms.map((r) => r.ready)));
    note('every client joined every room; traffic and faults start');

    const publish = async (c: ChaosClient, room: Room<ChaosEvents>): Promise<void> => {
      const n = c.nextN++;
      const sentAt = Date.now();
      c.pending += 1;
      try {
        const seq = await room.publish(EVENT, { p: c.index, n });
        acked.push({ id: `${c.index}:${n}`, publisher: c.index, room: room.id, seq: seq!, epoch: room.epoch!, sentAt });
        ackLatencies.push(Date.now() - sentAt);
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'unknown';
        refusedPublishes[code] = (refusedPublishes[code] ?? 0) + 1;
      } finally {
        c.pending -= 1;
      }
    };
    const publishers = clients.map(async (c) => {
      const pacing = seededRandom(options.seed * 31 + c.index);
      while (!stopping) {
        await publish(c, pick(pacing, c.rooms));
        await pause(randomBetween(pacing, 100, 400));
      }
    });

    const deadline = Date.now() + options.durationMs;
    // One generator per lane: the two lanes interleave by timing, and must not draw from each other's sequence.
    const infraRandom = seededRandom(options.seed);
    const clientRandom = seededRandom(options.seed ^ 0x5bd1e995);
    const infraKinds = bag(infraRandom, ['node-kill', 'node-restart', 'redis-failover'] as const);
    const clientKinds = bag(clientRandom, ['network-cut', 'client-pause'] as const);
    const failoverHow = bag(infraRandom, ['sentinel', 'kill-primary'] as const);
    /** A fault counts once the system is back; a fault that could not be injected is reported, not fatal. */
    const attempt = async (kind: FaultKind, inject: () => Promise<void>) => {
      try {
        await inject();
        faults[kind] += 1;
      } catch (error) {
        faultErrors.push(`${kind}: ${(error as Error).message}`);
        note(`${kind} failed: ${(error as Error).message}`);
      }
    };
    const infraLane = async () => {
      while (Date.now() < deadline) {
        await pause(randomBetween(infraRandom, 2000, 5000));
        const kind = infraKinds();
        await attempt(kind, async () => {
          const running = nodes.nodePorts.map((_, i) => i).filter((i) => nodes.isRunning(i));
          const index = pick(infraRandom, running);
          if (kind === 'node-kill') {
            const downMs = randomBetween(infraRandom, 1000, 4000);
            note(`kill -9 node ${index}, back in ${downMs} ms`);
            await nodes.killNode(index);
            await pause(downMs);
            await nodes.startNode(index);
          } else if (kind === 'node-restart') {
            note(`restart node ${index} (SIGTERM, drain, start)`);
            await nodes.restartNode(index);
          } else {
            const how = failoverHow();
            note(`fail Redis over (${how})`);
            const { from, to } = await nodes.failover(how);
            note(`Redis primary moved from port ${from} to ${to}; both replicas back in sync`);
          }
        });
      }
    };
    const clientLane = async () => {
      while (Date.now() < deadline) {
        await pause(randomBetween(clientRandom, 1500, 4000));
        const kind = clientKinds();
        await attempt(kind, async () => {
          const target = pick(clientRandom, clients);
          const downMs = randomBetween(clientRandom, 1000, 5000);
          if (kind === 'network-cut') {
            note(`cut client ${target.index}'s network for ${downMs} ms`);
            target.proxy.refuse(true);
            target.proxy.cutAll();
            await pause(downMs);
            target.proxy.refuse(false);
          } else {
            note(`pause client ${target.index} (stop reading) for ${downMs} ms`);
            target.proxy.pauseDownstream(true);
            await pause(downMs);
            target.proxy.pauseDownstream(false);
          }
        });
      }
    };
    await Promise.all([infraLane(), clientLane()]);

    for (let index = 0; index < nodes.nodePorts.length; index++) if (!nodes.isRunning(index)) await nodes.startNode(index);
    note('faults over; quiescing: publishers stop, pending publishes settle, every member catches up');
    stopping = true;
    const quiesceDeadline = Date.now() + QUIESCE_MS;
    await waitFor('pending publishes to settle', async () => clients.every((c) => c.pending === 0), QUIESCE_MS).catch(() => undefined);
    const unsettledPublishes = clients.reduce((sum, c) => sum + c.pending, 0);
    if (unsettledPublishes === 0) await Promise.all(publishers);
    // A last message per room: a member that silently missed the tail sees a gap behind it and resumes.
    const fencer = clients[0]!;
    const fences = fencer.rooms.map((room) => {
      const id = `${fencer.index}:${fencer.nextN}`;
      void publish(fencer, room);
      return { id, room: room.id };
    });
    for (const c of clients) {
      for (const memberLog of c.logs) {
        const room = c.rooms.find((r) => r.id === memberLog.room)!;
        memberLog.stayedJoined = c.client.state !== 'closed' && room.state !== 'failed';
      }
    }
    const delivered = (memberLog: MemberLog, id: string) => memberLog.timeline.some((e) => e.kind === 'message' && e.id === id);
    const caughtUp = (memberLog: MemberLog) =>
      !memberLog.stayedJoined || fences.every((fence) => fence.room !== memberLog.room || !acked.some((a) => a.id === fence.id) || delivered(memberLog, fence.id));
    const allLogs = clients.flatMap((c) => c.logs);
    await waitFor(
      'the fence messages to be acked and received by every member',
      async () => fencer.pending === 0 && allLogs.every(caughtUp),
      Math.max(1000, quiesceDeadline - Date.now()),
    ).catch(() => undefined);
    const notQuiesced = allLogs.filter((l) => !caughtUp(l)).length;

    const sortedLatencies = [...ackLatencies].sort((a, b) => a - b);
    const report: ChaosReport = {
      seed: options.seed,
      durationMs: options.durationMs,
      waitReplicas,
      ...tally(acked, allLogs),
      faults,
      faultErrors,
      refusedPublishes,
      unsettledPublishes,
      notQuiesced,
      reconnects: clients.reduce((sum, c) => sum + c.reconnects, 0),
      ackLatencyMs: { p50: percentile(sortedLatencies, 0.5), p99: percentile(sortedLatencies, 0.99), max: sortedLatencies.at(-1) ?? 0 },
      nodeLogs,
    };
    note('done');
    return report;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await teardown();
  }
}

export function formatReport(report: ChaosReport): string {
  const reasons = Object.entries(report.resetReasons).map(([reason, count]) => `${count} × ${reason}`);
  const refused = Object.entries(report.refusedPublishes).map(([code, count]) => `${count} × ${code}`);
  const faults = FAULT_KINDS.map((kind) => `${kind} ${report.faults[kind]}`);
  return [
    `Chaos report (seed ${report.seed}, ${Math.round(report.durationMs / 60_000)} min of faults, WAIT replicas ${report.waitReplicas})`,
    `  faults survived           ${faults.join(', ')}`,
    `  faults that failed        ${report.faultErrors.length === 0 ? 0 : report.faultErrors.join('; ')}`,
    `  acked publishes           ${report.ackedPublishes}`,
    `  deliveries                ${report.deliveries}`,
    `  lost acked                ${report.lostAcked}${report.lostExamples.length > 0 ? ` (${report.lostExamples.join('; ')})` : ''}`,
    `  duplicates after dedup    ${report.duplicates}${report.duplicateExamples.length > 0 ? ` (${report.duplicateExamples.join('; ')})` : ''}`,
    `  order violations          ${report.orderViolations}`,
    `  silent gaps               ${report.silentGaps}${report.silentGapExamples.length > 0 ? ` (${report.silentGapExamples.join('; ')})` : ''}`,
    `  second copies the SDK dropped  ${report.copiesDroppedBySdk} (a publish retried after a failover, stored twice)`,
    `  recovered:false resets    ${report.resets}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
    `  acked, skipped by a member's reset  ${report.excusedByReset} (received by no member at all: ${report.deliveredToNoMember})`,
    `  publishes refused         ${refused.length > 0 ? refused.join(', ') : 0}`,
    `  publishes unsettled       ${report.unsettledPublishes}`,
    `  members not caught up     ${report.notQuiesced}; members no longer joined ${report.membersNotJoined}`,
    `  client reconnects         ${report.reconnects}`,
    `  ack latency               p50 ${report.ackLatencyMs.p50} ms, p99 ${report.ackLatencyMs.p99} ms, max ${report.ackLatencyMs.max} ms`,
    `  node logs                 ${report.nodeLogs}`,
  ].join('\n');
}

/** The run passed: nothing acked was lost, nothing delivered twice or out of order. */
export function passed(report: ChaosReport): boolean {
  return report.lostAcked === 0 && report.duplicates === 0 && report.orderViolations === 0;
}
