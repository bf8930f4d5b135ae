import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ConnectionRegistry } from '@classwire/core';
import { CLOSE_CODES, DEFAULT_LIMITS, ROOM_PATTERN, type AdminNodeReport, type AdminOverview, type AdminRoomReport, type AdminUserConnection } from '@classwire/protocol';
import { constantTimeEquals } from './api-auth.js';
import type { Cluster } from './cluster.js';
import { sendError, sendJson, sendMethodNotAllowed } from './http-util.js';
import type { LocalFanOut } from './local-fanout.js';
import type { GatewayMetrics } from './metrics.js';

/** How often a node measures itself and (with Redis) publishes its status record. */
const REPORT_INTERVAL_MS = 2000;
/** Rooms each node reports, and the console shows. */
const BUSIEST_ROOMS = 20;
/** Connections a user lookup lists (the per-user limit keeps real numbers far below). */
const MAX_LISTED_CONNECTIONS = 100;

/** A node's report as it is kept in Redis: the console's node report and the node's busiest rooms. */
interface NodeReport extends AdminNodeReport {
  busiestRooms: AdminRoomReport[];
}

export interface AdminDeps {
  key: string;
  nodeId: string;
  fanout: LocalFanOut;
  registry: ConnectionRegistry;
  cluster: Cluster | undefined;
  metrics: GatewayMetrics;
}

/**
 * The ops console's API under `/admin/api/`, for holders of CLASSWIRE_ADMIN_KEY. Each node measures
 * itself every two seconds; with Redis it stores that report with a short TTL, and whichever node
 * answers the console reads every live node's report.
 */
export class AdminApi {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private readonly timer: NodeJS.Timeout;
  private previousCounts = new Map<string, number>();
  private measuredAt = Date.now();
  private report: NodeReport | undefined;

  constructor(private readonly deps: AdminDeps) {
    this.loopDelay.enable();
    this.timer = setInterval(() => {
      void this.measure()
        .then((report) => deps.cluster?.statusRecords.write(JSON.stringify(report), REPORT_INTERVAL_MS * 3))
        // Redis being away shows as this node's redis status, and its record expiring.
        .catch(() => undefined);
    }, REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.loopDelay.disable();
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return sendError(res, 'unauthorized', 'send the admin key as a bearer token');
    if (!constantTimeEquals(header.slice(7), this.deps.key)) return sendError(res, 'forbidden', 'invalid admin key');
    const method = req.method ?? 'GET';
    if (path === '/admin/api/overview') {
      if (method !== 'GET') return sendMethodNotAllowed(req, res, ['GET']);
      return sendJson(res, 200, await this.overview());
    }
    const userMatch = /^\/admin\/api\/users\/([^/]+)\/connections$/.exec(path);
    if (userMatch !== null) {
      if (method !== 'GET') return sendMethodNotAllowed(req, res, ['GET']);
      const userId = decodeSegment(userMatch[1]!);
      if (userId === undefined || userId.length === 0 || userId.length > DEFAULT_LIMITS.maxUserIdLength) return sendError(res, 'bad_request', 'invalid user id');
      return sendJson(res, 200, { userId, connections: await this.connectionsOf(userId) });
    }
    const closeMatch = /^\/admin\/api\/(connections|rooms)\/([^/]+)\/close$/.exec(path);
    if (closeMatch !== null) {
      if (method !== 'POST') return sendMethodNotAllowed(req, res, ['POST']);
      const target = decodeSegment(closeMatch[2]!);
      if (closeMatch[1] === 'connections') {
        if (target === undefined || !/^[A-Za-z0-9_-]{15}=$/.test(target)) return sendError(res, 'bad_request', 'invalid connection id');
        if (!(await this.close(target))) return sendError(res, 'not_found', 'no such connection');
        return sendJson(res, 200, { closed: 1 });
      }
      if (target === undefined || target.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(target)) return sendError(res, 'bad_request', 'invalid room name');
      const members = await this.deps.registry.members(target);
      let closed = 0;
      for (const connectionId of members) if (await this.close(connectionId)) closed += 1;
      return sendJson(res, 200, { closed });
    }
    sendError(res, 'not_found', 'not found');
  }

  private async measure(): Promise<NodeReport> {
    const { fanout, metrics, cluster } = this.deps;
    const now = Date.now();
    const elapsedMs = now - this.measuredAt;
    this.measuredAt = now;
    const counts = fanout.roomMessageCounts();
    const rooms: AdminRoomReport[] = [];
    for (const [room, members] of fanout.roomSizes()) {
      const messages = (counts.get(room) ?? 0) - (this.previousCounts.get(room) ?? 0);
      rooms.push({ room, members, messagesPerSecond: Math.max(0, messages) / Math.max(elapsedMs / 1000, 0.001) });
    }
    this.previousCounts = new Map(counts);
    const lag = this.loopDelay.percentile(99) / 1e6;
    this.loopDelay.reset();
    this.report = {
      node: this.deps.nodeId,
      connections: fanout.connections.size,
      users: fanout.userCount(),
      rooms: fanout.roomCount,
      eventLoopLagMs: Number.isFinite(lag) ? Math.round(lag * 10) / 10 : 0,
      redis: cluster === undefined ? 'memory' : cluster.isReady() ? 'ready' : 'unavailable',
      closes: await countsByCode(metrics.closes),
      errors: await countsByCode(metrics.errors),
      busiestRooms: busiest(rooms),
      reportedAt: now,
    };
    return this.report;
  }

  private async overview(): Promise<AdminOverview> {
    const records = this.deps.cluster === undefined ? [] : await this.deps.cluster.statusRecords.readAll().catch(() => []);
    const reports = new Map<string, NodeReport>();
    for (const record of records) {
      const report = JSON.parse(record) as NodeReport;
      reports.set(report.node, report);
    }
    // This node's own report is always the freshest, and the only one without Redis.
    reports.set(this.deps.nodeId, this.report ?? (await this.measure()));
    const rooms = new Map<string, AdminRoomReport>();
    const closes: Record<string, number> = {};
    const errors: Record<string, number> = {};
    for (const report of reports.values()) {
      for (const room of report.busiestRooms) {
        const merged = rooms.get(room.room);
        rooms.set(room.room, merged === undefined ? { ...room } : { room: room.room, members: merged.members + room.members, messagesPerSecond: Math.max(merged.messagesPerSecond, room.messagesPerSecond) });
      }
      addCounts(closes, report.closes);
      addCounts(errors, report.errors);
    }
    const nodes = [...reports.values()].sort((a, b) => a.node.localeCompare(b.node)).map((report) => withoutRooms(report));
    return { nodes, rooms: busiest([...rooms.values()]), closes, errors };
  }

  private async connectionsOf(userId: string): Promise<AdminUserConnection[]> {
    const connections = await this.deps.registry.connectionsOfUser(userId);
    return connections.slice(0, MAX_LISTED_CONNECTIONS).map((c) => ({
      connectionId: c.connectionId,
      node: c.node,
      name: c.name,
      role: c.role,
      joined: [...c.joined],
      connectedAt: c.connectedAt,
    }));
  }

  /** Closes a connection on whichever node holds it; false when none does. */
  private async close(connectionId: string): Promise<boolean> {
    const { fanout, cluster } = this.deps;
    const local = fanout.connections.get(connectionId);
    if (local !== undefined) {
      local.close(CLOSE_CODES.removed, 'closed by an administrator');
      return true;
    }
    if (cluster === undefined || (await cluster.fanout.describe(connectionId)) === undefined) return false;
    await cluster.fanout.close(connectionId, CLOSE_CODES.removed, 'closed by an administrator');
    return true;
  }
}

function withoutRooms(report: NodeReport): AdminNodeReport {
  const { node, connections, users, rooms, eventLoopLagMs, redis, closes, errors, reportedAt } = report;
  return { node, connections, users, rooms, eventLoopLagMs, redis, closes, errors, reportedAt };
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function busiest(rooms: AdminRoomReport[]): AdminRoomReport[] {
  return rooms.sort((a, b) => b.messagesPerSecond - a.messagesPerSecond || b.members - a.members).slice(0, BUSIEST_ROOMS);
}

function addCounts(total: Record<string, number>, counts: Record<string, number>): void {
  for (const [key, value] of Object.entries(counts)) total[key] = (total[key] ?? 0) + value;
}

/** A counter's values by code since this node started, without zero series. */
async function countsByCode(counter: GatewayMetrics['closes']): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { labels, value } of (await counter.get()).values) if (value > 0) counts[String(labels.code)] = value;
  return counts;
}
