import {
  CLOSE_CODES,
  DEFAULT_LIMITS,
  ProtocolError,
  composeEphemeralFrame,
  encodeAckFrame,
  encodeDirectFrame,
  encodeErrorFrame,
  encodeHistoryFrame,
  encodeJoinFrames,
  encodeLeftFrame,
  encodeMembersFrames,
  encodeMessageBody,
  encodePongFrame,
  encodePresenceFrame,
  HISTORY_FRAME_OVERHEAD,
  inClassroomNamespace,
  isServerOnlyEvent,
  parseClientFrame,
  parseGroupRoom,
  PRESENCE_EVENTS,
  utf8Length,
  type DirectFrame,
  type ErrorCode,
  type HistoryRequestFrame,
  type JoinFrame,
  type LeaveFrame,
  type MembersRequestFrame,
  type PresenceLeaveReason,
  type PublishFrame,
  type RefreshFrame,
  type Sender,
} from '@classwire/protocol';
import { AuthError, type Authorizer } from './authorizer.js';
import type { Classroom } from './classroom/classroom.js';
import { mayJoinRoom } from './claims.js';
import { checkMessageSize, memberOf, senderOf, serverDedupKey, userDedupKey } from './frames.js';
import { silentLogger, type Logger } from './logger.js';
import { readHistoryPage } from './history.js';
import { KeyedRate } from './keyed-rate.js';
import { PublishPolicy } from './policy.js';
import {
  StoreUnavailableError,
  type Broker,
  type ConnectionRecord,
  type ConnectionRegistry,
  type ConnectionState,
  type FanOut,
  type HistoryArchive,
  type PresenceStore,
  type RateDecision,
  type RateLimiter,
} from './ports.js';
import { DEFAULTS } from './config/defaults.js';

/** Counters the engine reports; the gateway maps them to Prometheus metrics. */
export interface EngineObserver {
  errorSent(code: ErrorCode): void;
  published(ackLatencySeconds: number, outcome: 'acked' | 'duplicate'): void;
  /** A join with `since` (a resume), and whether every missed message was replayed. */
  resumed(recovered: boolean): void;
  /** A connect or one inbound frame handled: `connect` or the frame's action (`invalid` when it did not parse), and how long it took. */
  handled?(action: string, seconds: number): void;
}

export interface EngineOptions {
  registry: ConnectionRegistry;
  broker: Broker;
  presence: PresenceStore;
  fanout: FanOut;
  rateLimiter?: RateLimiter | undefined;
  policy?: PublishPolicy | undefined;
  /** Largest frame the engine will send, bytes. @default 32 KiB */
  maxFrameBytes?: number | undefined;
  /** Rooms one connection may be in at once. @default 50 */
  maxRoomsPerConnection?: number | undefined;
  /** Joins per user on this node: sustained per second, and burst. @default DEFAULTS.joinsPerSecond, DEFAULTS.joinBurst */
  joinRate?: { perSecond: number; burst: number } | undefined;
  /** Joins of one room per user on this node. @default DEFAULTS.roomJoinsPerSecond, DEFAULTS.roomJoinBurst */
  roomJoinRate?: { perSecond: number; burst: number } | undefined;
  /** History pages per user on this node. @default DEFAULTS.historyReadsPerSecond, DEFAULTS.historyReadBurst */
  historyRate?: { perSecond: number; burst: number } | undefined;
  now?: () => number;
  logger?: Logger;
  observer?: EngineObserver | undefined;
  /**
   * The classroom policy: events in its namespaces (`chat.`, `wb.`, …) are validated, authorized and
   * applied to the room state by it, and joins receive its snapshot. Without it rooms are generic.
   */
  classroom?: Classroom | undefined;
  /** Verifies the tokens of in-band `refresh` frames. Without it every refresh is refused (`unauthorized`). */
  tokens?: Authorizer | undefined;
  /**
   * Told of every refreshed expiry, after the registry holds it: the runtime that enforces expiry next to
   * the socket (the gateway) moves its deadline.
   */
  expiryChanged?: ((connectionId: string, expiresAt: number) => void) | undefined;
  /** Where `history` requests find what the live log no longer holds (the class records); without it they page the live log only. */
  archive?: HistoryArchive | undefined;
  /**
   * Appends each first join and last leave of a room (`presence.join`/`presence.leave`) to its log, so
   * the class records get attendance with the log's exactness (docs/records.md). On when records are.
   */
  presenceInLog?: boolean | undefined;
  /**
   * The ping interval clients should use, ms, sent in every `joined` and `pong` (on AWS: sized to API
   * Gateway's 10-minute idle timeout). Undefined: nothing is advertised and clients keep their own.
   */
  keepAliveMs?: number | undefined;
}

/** Messages a `history` request gets when it names no limit. */
const DEFAULT_HISTORY_PAGE = 50;

export interface ServerPublish {
  event: string;
  data?: unknown;
  id?: string | undefined;
  from?: Sender | undefined;
}

export interface ServerPublishResult {
  seq: number;
  duplicate: boolean;
}

const SERVER_SENDER: Sender = { userId: 'server', role: 'server', name: 'Server' };

/**
 * The protocol's handlers: connect, one inbound frame, disconnect, and server-side publish. Runtime
 * neutral: the self-hosted gateway and the AWS Lambda entry points both drive it through the ports.
 */
export class Engine {
  private readonly registry: ConnectionRegistry;
  private readonly broker: Broker;
  private readonly presence: PresenceStore;
  private readonly fanout: FanOut;
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly policy: PublishPolicy;
  private readonly maxFrameBytes: number;
  private readonly maxRoomsPerConnection: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly observer: EngineObserver | undefined;
  private readonly classroom: Classroom | undefined;
  private readonly joins: KeyedRate;
  /** Keyed by user and room: each join announces presence to the whole room, so a rejoin loop costs everyone. */
  private readonly roomJoins: KeyedRate;
  private readonly historyReads: KeyedRate;
  private readonly tokens: Authorizer | undefined;
  private readonly expiryChanged: ((connectionId: string, expiresAt: number) => void) | undefined;
  private readonly archive: HistoryArchive | undefined;
  private readonly presenceInLog: boolean;
  private readonly keepAliveMs: number | undefined;

  constructor(options: EngineOptions) {
    this.registry = options.registry;
    this.broker = options.broker;
    this.presence = options.presence;
    this.fanout = options.fanout;
    this.rateLimiter = options.rateLimiter;
    this.policy = options.policy ?? new PublishPolicy();
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
    this.maxRoomsPerConnection = options.maxRoomsPerConnection ?? DEFAULTS.maxRoomsPerConnection;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.observer = options.observer;
    this.classroom = options.classroom;
    const joinRate = options.joinRate ?? { perSecond: DEFAULTS.joinsPerSecond, burst: DEFAULTS.joinBurst };
    this.joins = new KeyedRate(joinRate.perSecond, joinRate.burst, this.now);
    const roomJoinRate = options.roomJoinRate ?? { perSecond: DEFAULTS.roomJoinsPerSecond, burst: DEFAULTS.roomJoinBurst };
    this.roomJoins = new KeyedRate(roomJoinRate.perSecond, roomJoinRate.burst, this.now);
    const historyRate = options.historyRate ?? { perSecond: DEFAULTS.historyReadsPerSecond, burst: DEFAULTS.historyReadBurst };
    this.historyReads = new KeyedRate(historyRate.perSecond, historyRate.burst, this.now);
    this.tokens = options.tokens;
    this.expiryChanged = options.expiryChanged;
    this.archive = options.archive;
    this.presenceInLog = options.presenceInLog ?? false;
    this.keepAliveMs = options.keepAliveMs;
  }

  /**
   * Registers an authenticated connection. With `room` (already checked against the claims) the
   * connection becomes a member at once, as API Gateway's `$connect` does; it cannot be sent anything yet.
   */
  async connect(record: ConnectionRecord, room?: string): Promise<void> {
    const started = performance.now();
    try {
      await this.register(record, room);
    } finally {
      this.observer?.handled?.('connect', (performance.now() - started) / 1000);
    }
  }

  private async register(record: ConnectionRecord, room: string | undefined): Promise<void> {
    if (room !== undefined) await this.classroom?.checkJoin(record, room);
    await this.registry.add(record);
    if (room === undefined) return;
    await this.registry.joinRoom(record.connectionId, room);
    await this.subscribe(record.connectionId, room, false);
    await this.announceJoin(record, room);
  }

  /**
   * Unregisters a connection and announces presence changes. Safe to call twice. `reaped`: a live node
   * cleans up after a dead one, so the recorded leave is at the time of reaping. `localRooms`: the rooms
   * the transport holding the socket subscribed it to; they are let go of even when the registry cannot
   * say (its record is gone, reaped by a peer, or the store is unreachable and this throws).
   */
  async disconnect(connectionId: string, reason: Exclude<PresenceLeaveReason, 'left'> = 'disconnected', localRooms: Iterable<string> = []): Promise<void> {
    this.rateLimiter?.forget(connectionId);
    this.classroom?.forget(connectionId);
    const local = new Set(localRooms);
    let state: ConnectionState | undefined;
    try {
      state = await this.registry.remove(connectionId);
    } finally {
      // On failure too: else the closed connection stays a member on this node, and the room subscribed.
      if (state === undefined) for (const room of local) await this.unsubscribe(connectionId, room);
    }
    if (state === undefined) return;
    for (const room of state.joined) {
      await this.unsubscribe(connectionId, room);
      await this.announceLeave(state, room, reason);
    }
    for (const room of local) if (!state.joined.has(room)) await this.unsubscribe(connectionId, room);
  }

  /**
   * Handles one inbound text frame of `bytes` UTF-8 bytes (a transport that read the frame passes its size; it
   * is counted otherwise). Never throws: failures become error frames. Resolves to `limited` when the rate
   * limiter refused the frame, so that a transport able to stop reading the socket can do so
   * (see `admissionDelayMs`) instead of reading and refusing the rest of a flood.
   */
  async handleFrame(connectionId: string, raw: string, bytes = utf8Length(raw)): Promise<'handled' | 'limited'> {
    const decision = this.rateLimiter?.take(connectionId, bytes) ?? 'ok';
    await this.handleAdmitted(connectionId, raw, decision);
    return decision === 'ok' ? 'handled' : 'limited';
  }

  /** Milliseconds until the rate limiter would admit a frame of `bytes` from this connection (0: now). */
  admissionDelayMs(connectionId: string, bytes: number): number {
    return this.rateLimiter?.delayMs(connectionId, bytes) ?? 0;
  }

  /**
   * Forgets rate state that no longer limits anyone (refilled buckets of the frame, join and history
   * rates, and the classroom's event rate). The runtime calls it periodically; idle connections then
   * keep none.
   */
  sweep(): void {
    this.rateLimiter?.sweep();
    this.joins.sweep();
    this.roomJoins.sweep();
    this.historyReads.sweep();
    this.classroom?.sweep();
  }

  private async handleAdmitted(connectionId: string, raw: string, decision: RateDecision): Promise<void> {
    let id: string | undefined;
    let action: string | undefined;
    let room: string | undefined;
    let knownAction: string | undefined;
    const started = performance.now();
    try {
      if (decision === 'abusive') {
        await this.fanout.close(connectionId, CLOSE_CODES.rateLimited, 'rate limit exceeded');
        return;
      }
      // Parsed even when limited, so the refusal carries the frame's id and the sender knows what to retry.
      const parsed = parseClientFrame(raw);
      id = parsed.ok ? parsed.frame.id : parsed.id;
      action = parsed.ok ? parsed.frame.action : parsed.action;
      // Only a parsed frame's action is one of a fixed set; anything else would let clients invent labels.
      knownAction = parsed.ok ? parsed.frame.action : undefined;
      if (decision === 'limited') throw new ProtocolError('rate_limited', 'too many frames or bytes; slow down and retry');
      if (!parsed.ok) throw new ProtocolError(parsed.code, parsed.message);
      const frame = parsed.frame;
      room = 'room' in frame ? frame.room : undefined;
      if (frame.action === 'ping') {
        await this.reply(connectionId, encodePongFrame(this.now(), frame.id, this.keepAliveMs));
        return;
      }
      const connection = await this.registry.get(connectionId);
      // The transport holds a live socket, so a missing record means the store lost it: retryable.
      if (connection === undefined) throw new StoreUnavailableError('connection is not registered');
      // Checked per frame, so a runtime without a timer per connection (Lambda) accepts nothing after exp.
      if (connection.expiresAt <= this.now()) {
        await this.fanout.close(connectionId, CLOSE_CODES.tokenExpired, 'token expired');
        return;
      }
      switch (frame.action) {
        case 'join':
          return await this.join(connection, frame);
        case 'leave':
          return await this.leave(connection, frame);
        case 'publish':
          return await this.publish(connection, frame);
        case 'direct':
          return await this.direct(connection, frame);
        case 'refresh':
          return await this.refresh(connection, frame);
        case 'history':
          return await this.history(connection, frame);
        case 'members':
          return await this.members(connection, frame);
      }
    } catch (error) {
      await this.replyError(connectionId, error, { id, action, room });
    } finally {
      this.observer?.handled?.(knownAction ?? 'invalid', (performance.now() - started) / 1000);
    }
  }

  /** A publish from an application backend (HTTP API): sequenced and stored like any other. */
  async publishAsServer(room: string, message: ServerPublish): Promise<ServerPublishResult> {
    if (isServerOnlyEvent(message.event)) throw new ProtocolError('forbidden', `"${message.event}" is appended by the server only`);
    const body = encodeMessageBody(message.event, message.data, message.from ?? SERVER_SENDER, message.id);
    checkMessageSize(room, body, this.maxFrameBytes);
    const dedupKey = message.id === undefined ? undefined : serverDedupKey(message.id);
    const result = await this.broker.publish(room, body, { dedupKey });
    if (result.conflict) throw new ProtocolError('conflict', 'this id was already used for a different message', message.id);
    return { seq: result.seq, duplicate: result.duplicate };
  }

  private async join(connection: ConnectionState, frame: JoinFrame): Promise<void> {
    const { room } = frame;
    if (!mayJoinRoom(connection, room)) throw new ProtocolError('forbidden', `not allowed to join room "${room}"`);
    if (this.classroom === undefined && parseGroupRoom(room) !== undefined) throw new ProtocolError('forbidden', 'breakout rooms need the classroom');
    if (!this.joins.admit(connection.userId)) throw new ProtocolError('rate_limited', 'joining too often; retry later');
    if (!this.roomJoins.admit(JSON.stringify([connection.userId, room]))) throw new ProtocolError('rate_limited', `joining room "${room}" too often; retry later`);
    const rejoin = connection.joined.has(room);
    if (!rejoin && connection.joined.size >= this.maxRoomsPerConnection) {
      throw new ProtocolError('forbidden', `a connection may join at most ${this.maxRoomsPerConnection} rooms`);
    }
    await this.classroom?.checkJoin(connection, room);
    const { connectionId } = connection;
    let released = false;
    let announced = false;
    try {
      await this.registry.joinRoom(connectionId, room);
      await this.subscribe(connectionId, room, true);
      // The position the joiner continues from: after the replay, or after the snapshot when nothing
      // was replayed (the snapshot is read later, so it may be ahead of the log read; live frames up to
      // it are held and then dropped by `release`). A classroom join without `since` has nothing to
      // replay: the snapshot alone gives its position, and the log is not read.
      let position: { seq: number; epoch: string } | undefined;
      let recovered = false;
      if (frame.since !== undefined || this.classroom === undefined) {
        const history = await this.broker.read(room, frame.since, frame.epoch);
        if (history.messages.length > 0) {
          await this.fanout.sendMany(
            connectionId,
            history.messages.map((m) => m.frame),
          );
        }
        recovered = history.recovered;
        if (frame.since !== undefined) this.observer?.resumed(recovered);
        position = { seq: history.seq, epoch: history.epoch };
      }
      if (this.classroom !== undefined) {
        const snapshot = await this.classroom.snapshot(connection, room, !recovered);
        if (!recovered) position = { seq: snapshot.seq, epoch: snapshot.epoch };
        await this.fanout.sendMany(connectionId, snapshot.frames);
      }
      // Set by the log read, by the snapshot, or by both.
      const { seq, epoch } = position!;
      if (!rejoin) {
        announced = true;
        await this.announceJoin(connection, room);
      }
      const presence = await this.presence.list(room);
      const joinFrames = encodeJoinFrames({ room, connectionId, seq, epoch, recovered, presence, id: frame.id, keepAliveMs: this.keepAliveMs }, this.maxFrameBytes);
      await this.fanout.sendMany(connectionId, joinFrames);
      await this.fanout.release(connectionId, room, seq);
      released = true;
    } finally {
      // A join that failed part-way leaves no trace: no membership, no presence. A failed rejoin keeps
      // the membership it had, and live delivery resumes (nothing stays held).
      if (!released && !rejoin) {
        await this.unsubscribe(connectionId, room);
        await this.registry.leaveRoom(connectionId, room);
        if (announced) await this.announceLeave(connection, room, 'disconnected');
      } else if (!released) {
        await this.fanout.release(connectionId, room, 0);
      }
    }
  }

  /** A page of the room's history, for a member (the live log holds no private message, nor does the archive). */
  private async history(connection: ConnectionState, frame: HistoryRequestFrame): Promise<void> {
    const { room, id } = frame;
    if (!connection.joined.has(room)) throw new ProtocolError('not_joined', `join room "${room}" before reading its history`);
    if (!this.historyReads.admit(connection.userId)) throw new ProtocolError('rate_limited', 'reading history too often; retry later');
    const budget = this.maxFrameBytes - HISTORY_FRAME_OVERHEAD - utf8Length(room) - utf8Length(id);
    const page = await readHistoryPage(this.broker, this.archive, room, { before: frame.before, limit: frame.limit ?? DEFAULT_HISTORY_PAGE }, budget);
    const answer = { room, id, epoch: page.epoch, next: page.next, archive: page.archive };
    await this.reply(
      connection.connectionId,
      encodeHistoryFrame(
        answer,
        page.messages.map((m) => m.frame),
      ),
    );
  }

  /** The room's member list as the presence store holds it now, for a member. */
  private async members(connection: ConnectionState, frame: MembersRequestFrame): Promise<void> {
    const { room } = frame;
    if (!connection.joined.has(room)) throw new ProtocolError('not_joined', `join room "${room}" before asking who is in it`);
    await this.fanout.sendMany(connection.connectionId, encodeMembersFrames(room, await this.presence.list(room), this.maxFrameBytes, frame.id));
  }

  private async leave(connection: ConnectionState, frame: LeaveFrame): Promise<void> {
    const { room } = frame;
    if (!connection.joined.has(room)) throw new ProtocolError('not_joined', `not a member of room "${room}"`);
    await this.registry.leaveRoom(connection.connectionId, room);
    await this.unsubscribe(connection.connectionId, room);
    await this.announceLeave(connection, room, 'left');
    await this.reply(connection.connectionId, encodeLeftFrame(room, frame.id));
  }

  private async publish(connection: ConnectionState, frame: PublishFrame): Promise<void> {
    const started = performance.now();
    const { room, event, id } = frame;
    if (!connection.joined.has(room)) throw new ProtocolError('not_joined', `join room "${room}" before publishing`);
    if (isServerOnlyEvent(event)) throw new ProtocolError('forbidden', `"${event}" is appended by the server only`);
    // In a breakout group's room, whatever the event: only the group's members (and staff) take part.
    await this.classroom?.checkGroupSend(connection, room, event);
    if (this.classroom !== undefined && inClassroomNamespace(event)) {
      const outcome = await this.classroom.publish(connection, frame);
      if (outcome !== 'relayed') this.observer?.published((performance.now() - started) / 1000, outcome);
      return;
    }
    if (!this.policy.mayPublish(connection.role, event)) {
      throw new ProtocolError('forbidden', `role "${connection.role}" may not publish "${event}"`);
    }
    const body = encodeMessageBody(event, frame.data, senderOf(connection), id);
    checkMessageSize(room, body, this.maxFrameBytes);
    if (frame.ephemeral === true) {
      await this.broker.broadcast(room, composeEphemeralFrame(room, this.now(), body));
      if (id !== undefined) await this.reply(connection.connectionId, encodeAckFrame(id, room));
      return;
    }
    // A durable publish always has an id (the parser enforces it).
    const publishId = id as string;
    // The broker delivers the message to the room; a duplicate or a conflict delivers nothing. Without an
    // echo the sender is left out, and its ack carries what the echo would have told it.
    const echo = frame.echo !== false;
    const dedupKey = userDedupKey(connection.userId, publishId);
    const result = await this.broker.publish(room, body, echo ? { dedupKey } : { dedupKey, except: connection.connectionId });
    if (result.conflict) throw new ProtocolError('conflict', 'this id was already used for a different message');
    const message = echo ? undefined : { ts: result.ts, epoch: result.epoch, from: senderOf(connection) };
    await this.reply(connection.connectionId, encodeAckFrame(publishId, room, result.seq, message));
    this.observer?.published((performance.now() - started) / 1000, result.duplicate ? 'duplicate' : 'acked');
  }

  private async direct(connection: ConnectionState, frame: DirectFrame): Promise<void> {
    const { to, event, id } = frame;
    if (connection.role === 'observer') throw new ProtocolError('forbidden', 'observers may not send direct messages');
    const allowed = (await this.registry.connectionsOfUser(to)).filter(
      (r) => this.policy.mayDirect(connection.role, r.role) && sharesRoom(connection.joined, r.joined),
    );
    // One answer whether the user is offline or out of reach: a refusal must not reveal who is online.
    if (allowed.length === 0) throw new ProtocolError('not_found', 'no recipient you may message is connected under this user id');
    const encoded = encodeDirectFrame(this.now(), event, frame.data, senderOf(connection), id);
    if (utf8Length(encoded) > this.maxFrameBytes) throw new ProtocolError('payload_too_large', 'direct message too large');
    await Promise.all(allowed.map((r) => this.fanout.send(r.connectionId, encoded)));
    if (id !== undefined) await this.reply(connection.connectionId, encodeAckFrame(id));
  }

  /**
   * An in-band token refresh: a valid token of the same user moves the connection's expiry to its `exp`.
   * Only the expiry changes; role, name and room claims stay those the connection was opened with.
   * A refused refresh leaves the old expiry in force.
   */
  private async refresh(connection: ConnectionState, frame: RefreshFrame): Promise<void> {
    if (this.tokens === undefined) throw new ProtocolError('unauthorized', 'token refresh is not enabled on this server');
    const claims = await this.tokens.authorize(frame.token).catch((error: unknown) => {
      throw error instanceof AuthError ? new ProtocolError('unauthorized', `refresh refused: ${error.message}`) : error;
    });
    if (claims.userId !== connection.userId) throw new ProtocolError('forbidden', 'a refresh token must be for the same user (sub)');
    if (!(await this.registry.setExpiry(connection.connectionId, claims.expiresAt))) {
      throw new StoreUnavailableError('connection is not registered');
    }
    this.expiryChanged?.(connection.connectionId, claims.expiresAt);
    await this.reply(connection.connectionId, encodeAckFrame(frame.id));
  }

  private async announceJoin(connection: ConnectionRecord, room: string): Promise<void> {
    const member = memberOf(connection);
    if (await this.presence.add(room, member, connection.connectionId)) {
      await this.broker.broadcast(room, encodePresenceFrame(room, 'join', member), { except: connection.connectionId });
      if (this.presenceInLog) await this.broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.join, member, member));
    }
  }

  private async announceLeave(connection: ConnectionRecord, room: string, reason: PresenceLeaveReason): Promise<void> {
    if (await this.presence.remove(room, connection.userId, connection.connectionId)) {
      const member = memberOf(connection);
      await this.broker.broadcast(room, encodePresenceFrame(room, 'leave', member));
      if (this.presenceInLog) await this.broker.publish(room, encodeMessageBody(PRESENCE_EVENTS.leave, { ...member, reason }, member));
    }
  }

  /** The connection's side first, then the node's: a broker drops a room only when no member is left. */
  private async subscribe(connectionId: string, room: string, held: boolean): Promise<void> {
    await this.fanout.subscribe(connectionId, room, held);
    await this.broker.subscribe(room);
  }

  private async unsubscribe(connectionId: string, room: string): Promise<void> {
    await this.fanout.unsubscribe(connectionId, room);
    await this.broker.unsubscribe(room);
  }

  private async reply(connectionId: string, frame: string): Promise<void> {
    await this.fanout.send(connectionId, frame);
  }

  private async replyError(
    connectionId: string,
    error: unknown,
    context: { id?: string | undefined; action?: string | undefined; room?: string | undefined },
  ): Promise<void> {
    let code: ErrorCode;
    let message: string;
    if (error instanceof ProtocolError) {
      code = error.code;
      message = error.message;
    } else if (error instanceof StoreUnavailableError) {
      code = 'unavailable';
      message = 'the store is unavailable; the request may not have taken effect: retry with the same id';
      this.logger.warn({ err: error, connectionId }, 'store unavailable');
    } else {
      code = 'internal';
      message = 'internal error; nothing was acknowledged';
      this.logger.error({ err: error, connectionId, action: context.action }, 'frame handler failed');
    }
    this.observer?.errorSent(code);
    try {
      await this.fanout.send(connectionId, encodeErrorFrame(code, message, context));
    } catch (sendError) {
      this.logger.warn({ err: sendError, connectionId }, 'could not send error frame');
    }
  }
}

function sharesRoom(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const room of a) if (b.has(room)) return true;
  return false;
}
