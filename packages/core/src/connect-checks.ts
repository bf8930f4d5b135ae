import { DEFAULT_LIMITS, ERROR_CODES, ProtocolError, ROOM_PATTERN, parseGroupRoom, type ErrorCode } from '@classwire/protocol';
import { AuthError, type Authorizer } from './authorizer.js';
import { mayJoinRoom, type Claims } from './claims.js';
import type { Classroom } from './classroom/classroom.js';
import type { ConnectionRegistry } from './ports.js';

/**
 * The checks a new connection passes before it exists, shared by the gateway's upgrade and the Lambda
 * `$connect` handler, so both runtimes refuse the same requests with the same status and error code.
 */

/** What the client presented: a bearer token, or claims a REQUEST authorizer already verified (AWS). */
export type ConnectIdentity = { token: string | undefined } | { claims: Claims };

export interface ConnectRequest {
  /** The id the connection will have: its slot of the per-user limit is reserved under it. */
  connectionId: string;
  identity: ConnectIdentity;
  /** The `Origin` header, when the client sent one (browsers do; other clients need not). */
  origin: string | undefined;
  /** The `room` query parameter: a room to join as part of connecting. */
  room: string | undefined;
}

export interface ConnectChecks {
  /** Origins allowed to connect; empty allows any. */
  allowedOrigins: readonly string[];
  maxConnectionsPerUser: number;
  /** Verifies a token identity; not needed when identities arrive as claims. */
  authorizer?: Authorizer | undefined;
  registry: Pick<ConnectionRegistry, 'reserveSlot'>;
  /** The classroom's join rule (removed users, students after the class ended); absent for generic rooms. */
  classroom?: Pick<Classroom, 'checkJoin'> | undefined;
}

/** Why a connection was refused; the gateway's `classwire_auth_rejects_total` label. */
export type ConnectRefusalReason = 'origin' | 'room' | 'connections' | AuthError['reason'];

export type ConnectDecision =
  | { allowed: true; claims: Claims; room: string | undefined }
  | { allowed: false; status: number; code: ErrorCode; reason: ConnectRefusalReason; message: string };

/** A refusal; its HTTP status is the error code's, from the catalogue. */
function refuse(code: ErrorCode, reason: ConnectRefusalReason, message: string): ConnectDecision {
  return { allowed: false, status: ERROR_CODES[code].httpStatus, code, reason, message };
}

/**
 * Runs the checks in order: origin, token, room name and claim, classroom join rule, per-user limit. The
 * last one reserves the connection's slot atomically: an allowed connection holds it, and the caller
 * either registers the connection (`Engine.connect`) or frees it (`ConnectionRegistry.releaseSlot`).
 */
export async function checkConnect(request: ConnectRequest, checks: ConnectChecks): Promise<ConnectDecision> {
  const { origin, room } = request;
  if (checks.allowedOrigins.length > 0 && origin !== undefined && !checks.allowedOrigins.includes(origin)) {
    return refuse('forbidden', 'origin', 'origin not allowed');
  }
  let claims: Claims;
  if ('claims' in request.identity) {
    claims = request.identity.claims;
  } else {
    const { token } = request.identity;
    if (token === undefined || token.length === 0) return refuse('unauthorized', 'missing', 'a token is required');
    if (checks.authorizer === undefined) throw new Error('checkConnect: a token identity needs an authorizer');
    try {
      claims = await checks.authorizer.authorize(token);
    } catch (error) {
      if (error instanceof AuthError) return refuse('unauthorized', error.reason, error.message);
      throw error;
    }
  }
  if (room !== undefined) {
    if (room.length > DEFAULT_LIMITS.maxRoomLength || !ROOM_PATTERN.test(room)) return refuse('bad_request', 'room', 'invalid room name');
    if (!mayJoinRoom(claims, room)) return refuse('forbidden', 'room', 'not allowed to join this room');
    // A group's room is only ever opened by the classroom's breakout.
    if (checks.classroom === undefined && parseGroupRoom(room) !== undefined) return refuse('forbidden', 'room', 'breakout rooms need the classroom');
    try {
      await checks.classroom?.checkJoin(claims, room);
    } catch (error) {
      if (error instanceof ProtocolError) return refuse('forbidden', 'room', error.message);
      throw error;
    }
  }
  if (!(await checks.registry.reserveSlot(claims.userId, request.connectionId, checks.maxConnectionsPerUser))) {
    return refuse('rate_limited', 'connections', 'too many connections for this user');
  }
  return { allowed: true, claims, room };
}
