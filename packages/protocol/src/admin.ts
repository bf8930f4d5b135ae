/**
 * The ops console's HTTP API (`/admin/api/*`, packages/gateway/src/admin.ts), as the gateway answers it
 * and the console (apps/classroom/src/admin) reads it.
 */
import type { Role } from './types.js';

/** A room as one node, or the cluster, sees it. */
export interface AdminRoomReport {
  room: string;
  /** Members on the reporting node(s). */
  members: number;
  /** Room messages per second delivered on a node, the busiest node's for the cluster. */
  messagesPerSecond: number;
}

/** One node as the ops console shows it. */
export interface AdminNodeReport {
  node: string;
  connections: number;
  users: number;
  rooms: number;
  /** p99 event-loop delay over the last report interval, ms. */
  eventLoopLagMs: number;
  redis: 'ready' | 'unavailable' | 'memory';
  /** Closes by code, and errors sent by code, since the node started. */
  closes: Record<string, number>;
  errors: Record<string, number>;
  reportedAt: number;
}

/** `GET /admin/api/overview`. */
export interface AdminOverview {
  nodes: AdminNodeReport[];
  /** The busiest rooms across the nodes. */
  rooms: AdminRoomReport[];
  closes: Record<string, number>;
  errors: Record<string, number>;
}

/** One connection of `GET /admin/api/users/{userId}/connections`. */
export interface AdminUserConnection {
  connectionId: string;
  node: string;
  name: string;
  role: Role;
  joined: string[];
  connectedAt: number;
}
